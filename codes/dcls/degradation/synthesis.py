"""Batched training-pair synthesis (docs/method.md §1) and the Gaussian8 benchmark degradation.

Cheap random parameters (kernels, noise levels) are drawn on the CPU from an explicit numpy
``Generator``; blur, bicubic downsampling and noise run batched on the HR tensor's own device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..ops.imresize import imresize
from ..registry import DEGRADATION_REGISTRY
from ..utils.codec import image_to_tensor, tensor_to_image
from .kernels import isotropic_gaussian_kernel, random_kernels

GAUSSIAN8_SIGMA_RANGE = {2: (0.8, 1.6), 3: (1.35, 2.4), 4: (1.8, 3.2)}


def batch_blur(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Reflect-pad by k//2 and cross-correlate every channel of sample b with ``kernels[b]``.

    ``x`` is (B, C, H, W); ``kernels`` is (B, k, k) (one per sample) or (k, k) (shared).
    """
    b, c, h, w = x.shape
    k = kernels.shape[-1]
    pad = (k // 2, k // 2, k // 2, k // 2) if k % 2 else (k // 2, k // 2 - 1, k // 2, k // 2 - 1)
    padded = F.pad(x, pad, mode="reflect")
    kernels = kernels.to(device=x.device, dtype=x.dtype)
    if kernels.dim() == 2:
        out = F.conv2d(padded.reshape(b * c, 1, *padded.shape[-2:]), kernels[None, None])
        return out.reshape(b, c, h, w)
    weight = kernels[:, None].expand(b, c, k, k).reshape(b * c, 1, k, k)
    out = F.conv2d(padded.reshape(1, b * c, *padded.shape[-2:]), weight, groups=b * c)
    return out.reshape(b, c, h, w)


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Round to the 8-bit grid, as the network sees a saved LR image: ``round(x * 255) / 255``."""
    return torch.round(x * 255.0) / 255.0


@dataclass
class DegradedBatch:
    """One synthesised batch: network input, blurred LR, clean LR (for the kernel loss), HR kernels.

    ``lr_blured`` and ``lr`` are the blurred-and-downsampled and the downsampled HR before any noise or
    compression: the kernel loss's target, the LR-space kernel, is solved from them.
    """

    lr_img: torch.Tensor
    lr_blured: torch.Tensor
    lr: torch.Tensor
    kernels: torch.Tensor


DEFAULT_DEGRADATION = "gaussian"
"""The ``degradation.type`` of option files that name none (the original's)."""


@DEGRADATION_REGISTRY.register(DEFAULT_DEGRADATION)
class GaussianDegradation:
    """Blur with random Gaussian kernels, bicubic-downsample, optionally add noise, quantise (the paper's).

    The keyword arguments are the ``degradation`` options (the original's names: ``ksize`` is the kernel size).
    """

    def __init__(
        self,
        scale: int,
        ksize: int = 21,
        sig_min: float = 0.2,
        sig_max: float = 4.0,
        rate_iso: float = 1.0,
        random_disturb: bool = False,
        noise: bool = False,
        noise_high: float = 0.0,
    ) -> None:
        if ksize < 1 or sig_min <= 0 or sig_max < sig_min:
            raise ValueError(f"invalid degradation: ksize {ksize}, sigma range [{sig_min}, {sig_max}]")
        self.scale = scale
        self.ksize = ksize
        self.sig_min, self.sig_max = sig_min, sig_max
        self.rate_iso = rate_iso
        self.random_disturb = random_disturb
        self.noise = noise
        self.noise_high = noise_high

    def __call__(self, hr: torch.Tensor, rng: np.random.Generator) -> DegradedBatch:
        kernels = random_kernels(
            hr.shape[0], self.ksize, self.sig_min, self.sig_max, self.rate_iso, self.random_disturb, rng=rng
        ).to(hr.device)
        blurred = batch_blur(hr, kernels)
        if self.scale != 1:
            lr_blured, lr = imresize(blurred, 1 / self.scale), imresize(hr, 1 / self.scale)
        else:
            lr_blured, lr = blurred, hr
        degraded = lr_blured
        if self.noise:
            noise = torch.from_numpy(rng.normal(0.0, self.noise_high, tuple(lr_blured.shape))).to(lr_blured)
            degraded = torch.clamp(lr_blured + noise, 0.0, 1.0)
        return DegradedBatch(lr_img=quantize(degraded), lr_blured=lr_blured, lr=lr, kernels=kernels)


def gaussian8_sigmas(scale: int) -> list[float]:
    """The eight kernel widths of the Gaussian8 benchmark for ``scale`` (docs/method.md §7)."""
    if scale not in GAUSSIAN8_SIGMA_RANGE:
        raise ValueError(f"Gaussian8 is defined for scales 2, 3, 4, not {scale}")
    return [float(s) for s in np.linspace(*GAUSSIAN8_SIGMA_RANGE[scale], 8)]


def blur_downsample(hr: torch.Tensor, kernel: torch.Tensor, scale: int) -> torch.Tensor:
    """One image (1, C, H, W) blurred by one (k, k) kernel (reflect border) and MATLAB-bicubic downsampled by
    ``scale``: the benchmarks' degradation, without rounding."""
    blurred = batch_blur(hr, kernel[None])
    return imresize(blurred, 1 / scale) if scale != 1 else blurred


def gaussian8_lr(hr_bgr_u8: np.ndarray, sigma: float, scale: int, kernel_size: int = 21) -> np.ndarray:
    """Gaussian8 LR image of a (modcropped) uint8 BGR HR image, exactly as the original benchmark script."""
    kernel = torch.from_numpy(isotropic_gaussian_kernel(kernel_size, sigma)).float()
    return tensor_to_image(blur_downsample(image_to_tensor(hr_bgr_u8)[None], kernel, scale))
