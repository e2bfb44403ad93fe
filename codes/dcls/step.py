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
) -> StepOutput:
    """Forward, then (unless ``accept`` refuses the losses) zero grads, backpropagate the total and step.

    With an enabled ``scaler`` (fp16) the loss is scaled before backward and the step is skipped when the
    gradients overflow (``overflowed``), as ``GradScaler`` does; the scale then shrinks.
    """
    out = compute_losses(model, hr, batch, pixel_loss, kernel_loss, pixel_weight, amp)
    if accept is not None and not accept(out):
        out.applied = False
        return out
    optimizer.zero_grad(set_to_none=True)
    if scaler is None or not scaler.is_enabled():
        out.total.backward()
        optimizer.step()
        return out
    scale = scaler.get_scale()
    scaler.scale(out.total).backward()
    scaler.step(optimizer)
    scaler.update()
    out.overflowed = scaler.get_scale() < scale
    return out
