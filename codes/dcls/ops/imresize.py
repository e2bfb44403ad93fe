"""MATLAB-compatible ``imresize(..., 'bicubic')`` with antialiasing, as one pair of matrix products.

The original resizes row by row in Python; here each axis becomes a precomputed (out, in) weight
matrix that already folds in MATLAB's symmetric border extension, so any batch resizes in two matmuls.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch


def _cubic(x: torch.Tensor) -> torch.Tensor:
    """Keys cubic convolution kernel with a = -0.5 (MATLAB's 'bicubic')."""
    ax = x.abs()
    ax2, ax3 = ax**2, ax**3
    near = (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1).to(x.dtype)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)).to(x.dtype)
    return near + far


@lru_cache(maxsize=128)
def resize_matrix(in_len: int, out_len: int, scale: float, antialiasing: bool = True) -> torch.Tensor:
    """(out_len, in_len) float32 matrix M with ``out = M @ in`` along one axis, MATLAB semantics."""
    kernel_width = 4.0
    shrink = scale < 1 and antialiasing
    if shrink:
        kernel_width = kernel_width / scale
    x = torch.linspace(1, out_len, out_len)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(u - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    indices = left[:, None] + torch.arange(taps, dtype=torch.float32)[None, :]
    distance = u[:, None] - indices
    weights = scale * _cubic(distance * scale) if shrink else _cubic(distance)
    weights = weights / weights.sum(1, keepdim=True)
    # MATLAB drops the first/last tap column when it holds any zero weight.
    zeros_per_column = (weights == 0).sum(0)
    if zeros_per_column[0] != 0:
        indices, weights = indices[:, 1:], weights[:, 1:]
    if zeros_per_column[-1] != 0:
        indices, weights = indices[:, :-1], weights[:, :-1]
    # 1-based input coordinates -> 0-based, mirrored symmetrically at both borders (edge sample repeated).
    pos = indices.long() - 1
    period = 2 * in_len
    pos = torch.remainder(pos, period)
    pos = torch.where(pos >= in_len, period - 1 - pos, pos)
    matrix = torch.zeros(out_len, in_len, dtype=torch.float32)
    matrix.scatter_add_(1, pos, weights.float())
    return matrix


def _resize_tensor(img: torch.Tensor, scale: float, antialiasing: bool) -> torch.Tensor:
    in_h, in_w = img.shape[-2:]
    out_h, out_w = math.ceil(in_h * scale), math.ceil(in_w * scale)
    dtype = img.dtype if img.is_floating_point() else torch.float32
    m_h = resize_matrix(in_h, out_h, scale, antialiasing).to(img.device, dtype)
    m_w = resize_matrix(in_w, out_w, scale, antialiasing).to(img.device, dtype)
    return torch.matmul(torch.matmul(m_h, img.to(dtype)), m_w.t())


def imresize(img: torch.Tensor | np.ndarray, scale: float, antialiasing: bool = True) -> torch.Tensor | np.ndarray:
    """Resize by ``scale`` like MATLAB's bicubic ``imresize``; output size is ``ceil(size * scale)``.

    A tensor is resized over its last two dims (any leading batch shape) on its own device; a numpy
    array is taken as HWC (or HW) and comes back as a float32 array of the same layout, not rounded.
    """
    if scale <= 0:
        raise ValueError(f"imresize scale must be positive, got {scale}")
    if isinstance(img, np.ndarray):
        arr = img.astype(np.float32)
        chw = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1) if arr.ndim == 3 else arr))
        out = _resize_tensor(chw, scale, antialiasing).numpy()
        return out.transpose(1, 2, 0) if arr.ndim == 3 else out
    if img.dim() < 2:
        raise ValueError(f"imresize needs at least 2 dims (H, W), got shape {tuple(img.shape)}")
    return _resize_tensor(img, scale, antialiasing)
