"""The pieces of one DCLS optimisation step, independent of data loading and logging: the forward with its
loss terms (:func:`compute_losses`), then the update (:func:`apply_update`). The trainer asks its collapse
guard in between."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn

from .degradation.synthesis import DegradedBatch
from .losses import LossTerm
from .ops.precision import autocast, upcast

PARAMETER_GROUPS = ("Restorer", "Estimator")


@dataclass
class Forward:
    """One forward pass: the outputs (float32) and each weighted loss term by name, with its graph."""

    sr: torch.Tensor
    kernel: torch.Tensor
    losses: dict[str, torch.Tensor]

    @property
    def total(self) -> torch.Tensor:
        return sum(self.losses.values())  # type: ignore[return-value]


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
    model: nn.Module, hr: torch.Tensor, batch: DegradedBatch, terms: Sequence[LossTerm], amp: str = "off"
) -> Forward:
    """Forward the quantised LR input (under autocast for ``amp`` bf16/fp16); then, in float32, every loss term
    (:class:`~dcls.losses.LossTerm`) on what it asks for: ``sr``, ``hr``, ``kernel``, ``batch``."""
    with autocast(hr.device, amp):
        sr, kernel = model(batch.lr_img)
    sr, kernel = upcast(sr), upcast(kernel)
    available = {"sr": sr, "hr": hr, "kernel": kernel, "batch": batch}
    return Forward(sr, kernel, {term.name: term(available) for term in terms})


def capped_step(optimizer: torch.optim.Optimizer, max_update_ratio: float, step: Callable[[], object]) -> None:
    """``step()`` (``optimizer.step()``, or a gradient scaler's step under fp16), then every weight matrix or
    filter bank (2+ dimensions) whose update exceeds ``max_update_ratio`` times its norm is moved only as far
    as that, in the same direction (docs/stability.md).

    Adam moves every parameter by up to about the learning rate per step whatever the weights' scale, so a
    learning rate that suits large weights changes small ones by a large fraction per step. Biases (often
    zero) are not capped; the optimizer's moments are left as they are.
    """
    weights = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None and p.ndim > 1]
    before = [p.detach().clone() for p in weights]
    step()
    with torch.no_grad():  # branch-free (no device sync): an uncapped tensor keeps the optimizer's own value
        for p, old in zip(weights, before):
            update = p - old
            limit, size = max_update_ratio * old.norm(), update.norm()
            p.copy_(torch.where(size > limit, old + update * (limit / size), p))


def apply_update(
    optimizer: torch.optim.Optimizer, total: torch.Tensor, scaler: torch.amp.GradScaler | None = None,
    max_update_ratio: float | None = None,
) -> bool:
    """Zero the gradients, backpropagate ``total`` and step (a :func:`capped_step` with ``max_update_ratio``).

    With an enabled ``scaler`` (fp16) the loss is scaled before backward and the step is skipped when the
    gradients overflow, as ``GradScaler`` does; the scale then shrinks. Returns whether it overflowed.
    """
    optimizer.zero_grad(set_to_none=True)
    scaled = scaler is not None and scaler.is_enabled()
    scale = scaler.get_scale() if scaled else None
    (scaler.scale(total) if scaled else total).backward()
    step = (lambda: scaler.step(optimizer)) if scaled else optimizer.step
    if max_update_ratio is None:
        step()
    else:
        capped_step(optimizer, max_update_ratio, step)
    if not scaled:
        return False
    scaler.update()
    return scaler.get_scale() < scale
