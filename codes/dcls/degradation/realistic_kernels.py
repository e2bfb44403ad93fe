"""Blur kernels of the realistic degradation, batched: Gaussian, generalized Gaussian, plateau and motion.

All live on the grid of :mod:`.kernels` (x along columns, y along rows, the centre tap at the origin), are
normalised to sum 1 and are computed for a whole batch of (B,) parameter arrays at once (float64 numpy).
The generalized Gaussian ``exp(-0.5 q^beta)`` and the plateau ``1 / (1 + q^beta)`` are Real-ESRGAN's, with
``q = x^T S^-1 x`` for the covariance ``S = R(theta) diag(sigma_x^2, sigma_y^2) R(theta)^T``.
"""

from __future__ import annotations

import numpy as np

from .kernels import _grid

KERNEL_TYPES = ("iso", "aniso", "generalized", "plateau", "motion")
"""The kernel families ``blur.kernels`` weighs; a sample without blur gets the type ``"none"`` (a delta)."""

_LINE_SAMPLES_PER_TAP = 4
"""Points per kernel tap along a motion line before they are splatted onto the grid (anti-aliasing)."""


def quadratic_form(size: int, sigma_x: np.ndarray, sigma_y: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """``x^T S^-1 x`` on the grid for each sample's covariance ``R(theta) diag(sx^2, sy^2) R(theta)^T``
    -> (B, size, size)."""
    xx, yy = _grid(size)
    cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    along, across = xx * cos + yy * sin, yy * cos - xx * sin  # coordinates on the rotated axes
    return (along / sigma_x[:, None, None]) ** 2 + (across / sigma_y[:, None, None]) ** 2


def motion_kernels(size: int, length: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Anti-aliased straight lines through the centre -> (B, size, size): ``length`` taps long (its end taps
    ``(length - 1) / 2`` from the centre), at ``angle`` radians from the x axis towards y; evenly spaced
    points on the line are splatted bilinearly onto the grid. ``length`` must not exceed ``size``."""
    axis = _grid(size)[0][0]
    steps = np.linspace(-0.5, 0.5, _LINE_SAMPLES_PER_TAP * size + 1)
    offsets = steps[None, :] * (length[:, None] - 1.0)  # (B, points): positions along the line
    x, y = offsets * np.cos(angle)[:, None], offsets * np.sin(angle)[:, None]
    wx = np.clip(1.0 - np.abs(x[..., None] - axis), 0.0, None)  # (B, points, size): bilinear weights per column
    wy = np.clip(1.0 - np.abs(y[..., None] - axis), 0.0, None)
    kernel = np.einsum("bpr,bpc->brc", wy, wx)
    return kernel / kernel.sum(axis=(1, 2), keepdims=True)


def realistic_kernels(size: int, kinds: np.ndarray, sigma_x: np.ndarray, sigma_y: np.ndarray, theta: np.ndarray,
                      beta: np.ndarray, length: np.ndarray) -> np.ndarray:
    """One kernel per sample of the family named in ``kinds`` (one of :data:`KERNEL_TYPES` or ``"none"``)
    -> (B, size, size) float64, each summing to 1. ``iso`` uses ``sigma_x`` on both axes; ``beta`` is the
    shape of ``generalized`` and ``plateau``; ``motion`` is a line of ``length`` taps at the angle ``theta``."""
    kind = np.asarray(kinds)[:, None, None]
    quad = quadratic_form(size, sigma_x, np.where(kinds == "iso", sigma_x, sigma_y), theta)
    shaped = quad ** beta[:, None, None]
    xx, yy = _grid(size)
    kernel = np.select(
        [kind == "generalized", kind == "plateau", kind == "motion", kind == "none"],
        [np.exp(-0.5 * shaped), 1.0 / (1.0 + shaped), motion_kernels(size, length, theta),
         np.broadcast_to((xx == 0) & (yy == 0), quad.shape).astype(np.float64)],
        default=np.exp(-0.5 * quad),
    )
    return kernel / kernel.sum(axis=(1, 2), keepdims=True)
