"""Training losses, registered by name (``train.losses``): pixel losses and the kernel correction loss of DCLS,
and :class:`LossTerm`, which hands each loss the inputs it names.

A loss is a module returning a scalar. An image loss is called as ``loss(sr, hr)``. A loss whose ``forward``
names ``kernel`` (the estimated kernels, (B, 1, k, k)) or ``batch`` (the :class:`~dcls.degradation.DegradedBatch`)
gets, by name, exactly the inputs it names out of ``sr``, ``hr``, ``kernel`` and ``batch``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from .degradation.synthesis import DegradedBatch, batch_blur
from .ops.fft import blur_kernel_from_images
from .ops.imresize import imresize
from .registry import LOSS_REGISTRY

LOSS_INPUTS = ("sr", "hr", "kernel", "batch")
"""What a loss can ask for by naming it in its forward."""

LOSS_REGISTRY.register("l1")(nn.L1Loss)
LOSS_REGISTRY.register("l2")(nn.MSELoss)


@LOSS_REGISTRY.register("cb")
class CharbonnierLoss(nn.Module):
    """Charbonnier (smooth L1) loss ``sum(sqrt(diff^2 + eps))``, summed as in the original."""

    def __init__(self, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        diff = x - y
        return torch.sum(torch.sqrt(diff * diff + self.eps))


def zeroize_negligible(kernel: torch.Tensor, n: int = 40) -> torch.Tensor:
    """Keep kernel values above 0.75x the (n+1)-th largest, shifted down by it; renormalise to sum 1.

    Like the original, 1e-20 is added at index ``(k//2 + 1, k//2 + 1)`` (one off the centre) so an
    all-zero kernel still normalises.
    """
    flat = kernel.flatten(start_dim=1)
    threshold = 0.75 * torch.topk(flat, n + 1, dim=1).values[:, -1]
    filtered = torch.clamp(kernel - threshold.view(-1, 1, 1, 1), min=0.0, max=1.0)
    pc = kernel.shape[-1] // 2 + 1
    bump = torch.zeros_like(filtered)
    bump[..., pc, pc] = 1e-20
    filtered = filtered + bump
    return filtered / filtered.sum(dim=(2, 3), keepdim=True)


def correct_kernel(lr_blured: torch.Tensor, lr: torch.Tensor, kernel_size: int, eps: float = 1e-20) -> torch.Tensor:
    """The LR-space kernel ``k_correct`` (B, 1, k, k) that maps clean ``lr`` to ``lr_blured``.

    Solved per channel in Fourier space; the channel mean is kept where all channel solutions agree
    in sign (their product > 0), then negligible values are zeroed and it is renormalised.
    """
    per_channel = blur_kernel_from_images(lr_blured, lr, kernel_size, eps)
    agree = torch.prod(per_channel, dim=1, keepdim=True) > 0
    return zeroize_negligible(per_channel.mean(dim=1, keepdim=True) * agree, n=40)


def lr_space_kernel(
    hr_kernel: torch.Tensor, scale: int, kernel_size: int, size: int = 256, seed: int = 0
) -> torch.Tensor:
    """The LR-space kernel (k, k) that the estimator learns for the HR blur ``hr_kernel`` (l, l).

    The same reformulation as training (:func:`correct_kernel` of the blurred and the clean bicubic LR
    images), measured on white noise, whose flat spectrum keeps the Fourier division well conditioned.
    The HR kernel itself is not comparable: downsampling by ``scale`` shrinks the blur by about as much.
    """
    generator = torch.Generator().manual_seed(seed)
    hr = torch.rand(1, 3, size, size, generator=generator, dtype=torch.float64)
    lr_blured = imresize(batch_blur(hr, hr_kernel.to(torch.float64)), 1 / scale)
    return correct_kernel(lr_blured, imresize(hr, 1 / scale), kernel_size)[0, 0].to(hr_kernel.dtype)


@LOSS_REGISTRY.register("kernel_correction")
class KernelCorrectionLoss(nn.Module):
    """L1 between the estimated kernel and the LR-space kernel reformulated from the training pair (DCLS's
    kernel loss: its target is solved from the blurred and the clean LR images, before noise)."""

    def __init__(self, eps: float = 1e-20) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, kernel: torch.Tensor, batch: DegradedBatch) -> torch.Tensor:
        target = correct_kernel(batch.lr_blured, batch.lr, kernel.shape[-1], self.eps)
        return nn.functional.l1_loss(kernel, target)


@dataclass(frozen=True)
class LossTerm:
    """One weighted term of the training loss: logged as ``name``; ``inputs`` are what its loss is given."""

    name: str
    weight: float
    loss: nn.Module
    inputs: tuple[str, ...] | None  # None: an image loss, called as loss(sr, hr)

    def __call__(self, available: Mapping[str, Any]) -> torch.Tensor:
        if self.inputs is None:
            return self.weight * self.loss(available["sr"], available["hr"])
        return self.weight * self.loss(**{name: available[name] for name in self.inputs})


def named_inputs(loss: nn.Module) -> tuple[str, ...] | None:
    """The inputs out of :data:`LOSS_INPUTS` that ``loss.forward`` names, when it names ``kernel`` or ``batch``;
    None for an image loss (called as ``loss(sr, hr)``, whatever its parameters are called)."""
    names = tuple(n for n in inspect.signature(loss.forward).parameters if n in LOSS_INPUTS)
    return names if {"kernel", "batch"} & set(names) else None


def build_loss_terms(losses: Sequence[Mapping[str, Any]] | None, pixel_criterion: str = "l1",
                     pixel_weight: float = 1.0) -> list[LossTerm]:
    """The terms of ``train.losses`` (``{type, weight, name, <keyword arguments>}``; a term is logged under its
    ``name``, default its type, numbered when a type repeats). Without it, the original's two terms:
    ``l_pix`` (``pixel_criterion`` times ``pixel_weight``) and ``l_ker`` (the kernel correction loss)."""
    if losses is None:
        losses = [{"type": pixel_criterion, "weight": pixel_weight, "name": "l_pix"},
                  {"type": "kernel_correction", "weight": 1.0, "name": "l_ker"}]
    terms: list[LossTerm] = []
    for spec in losses:
        kwargs = {k: v for k, v in spec.items() if k not in ("type", "weight", "name")}
        loss = LOSS_REGISTRY.build(spec["type"], **kwargs)
        name = spec.get("name") or spec["type"]
        taken = {t.name for t in terms}
        if name in taken:
            name = next(f"{name}_{i}" for i in range(2, len(terms) + 2) if f"{name}_{i}" not in taken)
        terms.append(LossTerm(name, float(spec.get("weight", 1.0)), loss, named_inputs(loss)))
    return terms
