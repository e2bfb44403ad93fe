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
    eps: float = 1e-8, fused: bool | None = None,
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
        eps=eps,
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


class UpdateCap:
    """The stable recipe's update rule (docs/stability.md): after the optimizer's step, every weight matrix or
    filter bank (2+ dimensions) that moved by more than ``max_update_ratio`` times its norm is pulled back to
    that distance, in the same direction.

    Adam moves every parameter by up to about the learning rate per step whatever the weights' scale, so a
    learning rate that suits large weights changes small ones by a large fraction per step. Biases (often
    zero) are not capped; the optimizer's moments are left as they are. The weights before the step live in
    one flat buffer allocated once, and every operation acts on all tensors at once (``torch._foreach_*`` and
    flat ops, no per-tensor Python loop and no device sync), so a step costs the same number of operations
    whatever the number of weight tensors.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, max_update_ratio: float) -> None:
        self.max_update_ratio = max_update_ratio
        self.weights = [p for group in optimizer.param_groups for p in group["params"] if p.ndim > 1]
        if not self.weights:
            raise ValueError("the optimizer holds no weight tensor of 2 or more dimensions to cap")
        sizes = [p.numel() for p in self.weights]
        first = self.weights[0]
        self._flat = torch.empty(sum(sizes), dtype=first.dtype, device=first.device)
        self._before = [part.view_as(p) for part, p in zip(self._flat.split(sizes), self.weights)]
        self._sizes = torch.tensor(sizes, device=first.device)
        # How the per-tensor share reaches the elements: on an accelerator one flat multiply by the shares spread
        # over the elements (a few kernels, no sync); on the CPU, where spreading is slow and foreach ops run
        # tensor by tensor anyway, a foreach multiply by one scalar tensor each. Both compute the same values.
        self.spread_shares = first.device.type != "cpu"

    def step(self, step: Callable[[], object]) -> None:
        """``step()`` (``optimizer.step()``, or a gradient scaler's step under fp16), then the cap."""
        with torch.no_grad():
            torch._foreach_copy_(self._before, self.weights)
            limit = self.max_update_ratio * torch.stack(torch._foreach_norm(self._before))
        step()
        with torch.no_grad():
            torch._foreach_sub_(self._before, self.weights)  # now old - new, minus the update
            size = torch.stack(torch._foreach_norm(self._before))
            # new + (1 - limit / size) (old - new) = old + update * limit / size for a tensor over the cap;
            # one under it keeps the optimizer's value exactly (its share is 0).
            share = torch.where(size > limit, 1 - limit / size, torch.zeros_like(size))
            if self.spread_shares:
                self._flat.mul_(share.repeat_interleave(self._sizes, output_size=self._flat.numel()))
            else:
                torch._foreach_mul_(self._before, list(share.unbind()))
            torch._foreach_add_(self.weights, self._before)


def clip_gradients(optimizer: torch.optim.Optimizer, max_norm: float) -> torch.Tensor:
    """Scale the gradients of ``optimizer``'s parameters so that their joint L2 norm is at most ``max_norm``;
    returns the norm before clipping. The arithmetic of ``torch.nn.utils.clip_grad_norm_``, with one foreach
    operation per stage for all tensors at once (that function also moves each tensor's norm to one device)."""
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    torch._foreach_mul_(grads, (max_norm / (total + 1e-6)).clamp(max=1.0))
    return total


def apply_update(
    optimizer: torch.optim.Optimizer, total: torch.Tensor, scaler: torch.amp.GradScaler | None = None,
    cap: UpdateCap | None = None, grad_clip_norm: float | None = None,
) -> bool:
    """Zero the gradients, backpropagate ``total`` and step: with ``grad_clip_norm``, after clipping the
    gradients' joint norm to it (``clip_grad_norm_``); with ``cap``, through :meth:`UpdateCap.step`.

    With an enabled ``scaler`` (fp16) the loss is scaled before backward (and the gradients unscaled before
    clipping), and the step is skipped when the gradients overflow, as ``GradScaler`` does; the scale then
    shrinks. Returns whether it overflowed.
    """
    optimizer.zero_grad(set_to_none=True)
    scaled = scaler is not None and scaler.is_enabled()
    scale = scaler.get_scale() if scaled else None
    (scaler.scale(total) if scaled else total).backward()
    if grad_clip_norm is not None:
        if scaled:
            scaler.unscale_(optimizer)
        clip_gradients(optimizer, grad_clip_norm)
    step = (lambda: scaler.step(optimizer)) if scaled else optimizer.step
    if cap is None:
        step()
    else:
        cap.step(step)
    if not scaled:
        return False
    scaler.update()
    return scaler.get_scale() < scale
