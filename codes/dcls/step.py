"""One DCLS optimisation step, independent of data loading and logging (the engine drives it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn

from .accel.precision import autocast, upcast
from .degradation.synthesis import DegradedBatch
from .losses import CorrectionLoss

PARAMETER_GROUPS = ("Restorer", "Estimator")


@dataclass
class StepOutput:
    """Losses (with graph) and outputs of one forward pass; ``applied`` is False when the step was refused,
    ``overflowed`` when the fp16 gradient scaler found non-finite gradients and skipped the update."""

    l_pix: torch.Tensor
    l_ker: torch.Tensor
    sr: torch.Tensor
    kernel: torch.Tensor
    k_correct: torch.Tensor
    applied: bool = True
    overflowed: bool = False

    @property
    def total(self) -> torch.Tensor:
        return self.l_pix + self.l_ker


def build_optimizer(
    model: nn.Module, lr_G: float, lr_E: float, betas: tuple[float, float] = (0.9, 0.99), weight_decay: float = 0.0,
    fused: bool | None = None,
) -> torch.optim.Adam:
    """Adam with two parameter groups: Restorer at ``lr_G`` (group 0), Estimator at ``lr_E`` (group 1).

    ``fused``: one fused kernel per step (default: on CUDA; the CPU keeps the original's arithmetic).
    A trainable parameter outside both submodules is a ValueError (it would silently never be optimised).
    """
    groups: dict[str, list[nn.Parameter]] = {name: [] for name in PARAMETER_GROUPS}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        owner = [g for g in PARAMETER_GROUPS if g in name.split(".")]
        if len(owner) != 1:
            raise ValueError(f"parameter {name} is not in exactly one of {', '.join(PARAMETER_GROUPS)}")
        groups[owner[0]].append(param)
    return torch.optim.Adam(
        [{"params": groups["Restorer"], "lr": lr_G}, {"params": groups["Estimator"], "lr": lr_E}],
        betas=betas,
        weight_decay=weight_decay,
        fused=(fused if fused is not None else next(model.parameters()).device.type == "cuda") or None,
    )


def compute_losses(
    model: nn.Module,
    hr: torch.Tensor,
    batch: DegradedBatch,
    pixel_loss: nn.Module,
    kernel_loss: CorrectionLoss,
    pixel_weight: float = 1.0,
    amp: str = "off",
) -> StepOutput:
    """Forward the quantised LR input (under autocast for ``amp`` bf16/fp16); then, in float32, the weighted
    pixel loss against HR and the kernel loss against the reformulated kernel."""
    with autocast(hr.device, amp):
        sr, kernel = model(batch.lr_img)
    sr, kernel = upcast(sr), upcast(kernel)
    l_ker, k_correct = kernel_loss(kernel, batch.lr_blured, batch.lr)
    return StepOutput(l_pix=pixel_weight * pixel_loss(sr, hr), l_ker=l_ker, sr=sr, kernel=kernel, k_correct=k_correct)


def update_cap(weight: torch.Tensor, max_update_ratio: float, update_cap_min_rms: float = 0.0) -> torch.Tensor:
    """The largest norm :func:`capped_step` lets one step move ``weight`` by: ``max_update_ratio`` times its norm,
    but never less than ``update_cap_min_rms`` per element (root mean square)."""
    return (max_update_ratio * weight.norm()).clamp_min(update_cap_min_rms * weight.numel() ** 0.5)


def capped_step(
    optimizer: torch.optim.Optimizer, max_update_ratio: float, step: Callable[[], object] | None = None,
    update_cap_min_rms: float = 0.0,
) -> None:
    """``step()`` (default ``optimizer.step()``; a gradient scaler's step under fp16), then every weight matrix
    or filter bank (2+ dimensions) whose update exceeds its :func:`update_cap` is moved only as far as the cap,
    in the same direction (docs/stability.md). A floor ``update_cap_min_rms`` frees steps up to that size per
    weight on small tensors (the stable recipe has none: docs/stability.md shows what one costs under stress).

    Adam moves every parameter by up to about the learning rate per step whatever the weights' scale, so a
    learning rate that suits large weights changes small ones by a large fraction per step. Biases (often
    zero) are not capped; the optimizer's moments are left as they are.
    """
    weights = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None and p.ndim > 1]
    before = [p.detach().clone() for p in weights]
    (step or optimizer.step)()
    with torch.no_grad():  # branch-free (no device sync): an uncapped tensor keeps the optimizer's own value
        for p, old in zip(weights, before):
            update = p - old
            limit, size = update_cap(old, max_update_ratio, update_cap_min_rms), update.norm()
            p.copy_(torch.where(size > limit, old + update * (limit / size), p))


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    hr: torch.Tensor,
    batch: DegradedBatch,
    pixel_loss: nn.Module,
    kernel_loss: CorrectionLoss,
    pixel_weight: float = 1.0,
    accept: Callable[[StepOutput], bool] | None = None,
    amp: str = "off",
    scaler: torch.amp.GradScaler | None = None,
    max_update_ratio: float | None = None,
    update_cap_min_rms: float = 0.0,
) -> StepOutput:
    """Forward, then (unless ``accept`` refuses the losses) zero grads, backpropagate the total and step.

    With an enabled ``scaler`` (fp16) the loss is scaled before backward and the step is skipped when the
    gradients overflow (``overflowed``), as ``GradScaler`` does; the scale then shrinks. With
    ``max_update_ratio`` the step is a :func:`capped_step` (with ``update_cap_min_rms``).
    """
    out = compute_losses(model, hr, batch, pixel_loss, kernel_loss, pixel_weight, amp)
    if accept is not None and not accept(out):
        out.applied = False
        return out
    optimizer.zero_grad(set_to_none=True)
    scaled = scaler is not None and scaler.is_enabled()
    scale = scaler.get_scale() if scaled else None
    (scaler.scale(out.total) if scaled else out.total).backward()
    step = (lambda: scaler.step(optimizer)) if scaled else optimizer.step
    if max_update_ratio is None:
        step()
    else:
        capped_step(optimizer, max_update_ratio, step, update_cap_min_rms)
    if scaled:
        scaler.update()
        out.overflowed = scaler.get_scale() < scale
    return out
