"""Gaussian blur kernels: isotropic and anisotropic, single or as a random batch.

Kernels live on the grid ``-(size//2) .. size//2`` with x along columns and y along rows, as in the
original DCLS/DAN code, and are normalised to sum to 1. Randomness comes only from an explicit
``numpy.random.Generator`` so that training data synthesis is reproducible and resumable.
"""

from __future__ import annotations

import numpy as np
import torch


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Column (x) and row (y) coordinates of a ``size`` x ``size`` kernel centred on its middle."""
    ax = np.arange(-size // 2 + 1.0, size // 2 + 1.0)
    return np.meshgrid(ax, ax)


def isotropic_gaussian_kernel(size: int, sigma: float) -> np.ndarray:
    """``exp(-(x^2 + y^2) / (2 sigma^2))`` normalised to sum 1, float64 (size, size)."""
    xx, yy = _grid(size)
    kernel = np.exp(-(xx**2 + yy**2) / (2.0 * sigma**2))
    return kernel / kernel.sum()


def _anisotropic_batch(
    size: int, sigma_x: np.ndarray, sigma_y: np.ndarray, theta: np.ndarray, disturb_noise: np.ndarray | None
) -> np.ndarray:
    """Vectorised anisotropic Gaussians, one per entry of the (B,) parameter arrays -> (B, size, size)."""
    cos, sin = np.cos(theta), np.sin(theta)
    rot = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)
    diag = np.zeros((len(theta), 2, 2))
    diag[:, 0, 0], diag[:, 1, 1] = sigma_x**2, sigma_y**2
    inv_cov = np.linalg.inv(rot @ diag @ rot.transpose(0, 2, 1))
    xx, yy = _grid(size)
    xy = np.stack([xx, yy], -1)
    quad = np.einsum("hwi,bij,hwj->bhw", xy, inv_cov, xy)
    kernel = np.exp(-0.5 * quad)
    if disturb_noise is not None:
        kernel = kernel + disturb_noise * kernel
    return kernel / kernel.sum(axis=(1, 2), keepdims=True)


def anisotropic_gaussian_kernel(
    size: int, sigma_x: float, sigma_y: float, theta: float, disturb_noise: np.ndarray | None = None
) -> np.ndarray:
    """Gaussian with covariance ``R(theta) diag(sx^2, sy^2) R(theta)^T``; ``disturb_noise`` (size, size)
    multiplies the kernel by ``1 + noise`` before normalisation (the original's ``random_disturb``)."""
    noise = None if disturb_noise is None else np.asarray(disturb_noise, dtype=np.float64)[None]
    return _anisotropic_batch(
        size, np.array([sigma_x], float), np.array([sigma_y], float), np.array([theta], float), noise
    )[0]


def random_kernels(
    batch: int,
    size: int,
    sig_min: float,
    sig_max: float,
    rate_iso: float = 1.0,
    random_disturb: bool = False,
    *,
    rng: np.random.Generator,
) -> torch.Tensor:
    """Sample ``batch`` random Gaussian kernels -> float32 tensor (batch, size, size).

    ``rate_iso == 1`` draws isotropic kernels with sigma ~ U(sig_min, sig_max). Otherwise sigma_x,
    sigma_y ~ U(sig_min, sig_max), theta ~ U(-pi, pi), and each sample is forced isotropic
    (sigma_y = sigma_x, theta = 0) with probability ``rate_iso``; ``random_disturb`` adds U(0, 0.25)
    multiplicative noise per element.
    """
    if rate_iso >= 1:
        sigma = rng.uniform(sig_min, sig_max, (batch, 1, 1))
        xx, yy = _grid(size)
        kernel = np.exp(-(xx**2 + yy**2)[None] / (2.0 * sigma**2))
        kernel = kernel / kernel.sum(axis=(1, 2), keepdims=True)
        return torch.from_numpy(kernel).float()
    sigma_x = rng.uniform(sig_min, sig_max, batch)
    sigma_y = rng.uniform(sig_min, sig_max, batch)
    theta = rng.uniform(-np.pi, np.pi, batch)
    iso = rng.uniform(0, 1, batch) < rate_iso
    theta[iso] = 0.0
    sigma_y[iso] = sigma_x[iso]
    noise = rng.uniform(0, 0.25, (batch, size, size)) if random_disturb else None
    return torch.from_numpy(_anisotropic_batch(size, sigma_x, sigma_y, theta, noise)).float()
