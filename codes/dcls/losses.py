"""Training losses: pixel losses (selectable by name) and the kernel correction loss of DCLS."""

from __future__ import annotations

import torch
import torch.nn as nn

from .degradation.synthesis import batch_blur
from .ops.fft import blur_kernel_from_images
from .ops.imresize import imresize
from .registry import Registry

LOSS_REGISTRY = Registry("loss")
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


def build_pixel_loss(name: str) -> nn.Module:
    """Pixel criterion from its option name: ``l1``, ``l2`` or ``cb``."""
    return LOSS_REGISTRY.build(name)


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


class CorrectionLoss(nn.Module):
    """L1 between the estimated kernel and the LR-space kernel reformulated from the training pair."""

    def __init__(self, eps: float = 1e-20) -> None:
        super().__init__()
        self.eps = eps
        self.l1 = nn.L1Loss()

    def forward(
        self, k_pred: torch.Tensor, lr_blured: torch.Tensor, lr: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        k_correct = correct_kernel(lr_blured, lr, k_pred.shape[-1], self.eps)
        return self.l1(k_pred, k_correct), k_correct
