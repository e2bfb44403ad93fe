"""Conversions between OpenCV-style uint8 BGR arrays and RGB float tensors, and modcrop."""

from __future__ import annotations

import numpy as np
import torch


def img2tensor(img: np.ndarray) -> torch.Tensor:
    """uint8 BGR HWC (or HW) image -> float32 RGB CHW tensor in [0, 1]."""
    arr = img.astype(np.float32) / 255.0
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.shape[2] == 3:
        arr = arr[:, :, ::-1]
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def tensor2img(tensor: torch.Tensor, min_max: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """RGB tensor (1,C,H,W), (C,H,W) or (H,W) in ``min_max`` -> rounded uint8 BGR HWC (or HW) array."""
    lo, hi = min_max
    t = tensor.detach().squeeze().float().cpu().clamp(lo, hi)
    t = (t - lo) / (hi - lo)
    if t.dim() == 3:
        arr = t.numpy().transpose(1, 2, 0)
        if arr.shape[2] == 3:
            arr = arr[:, :, ::-1]
    elif t.dim() == 2:
        arr = t.numpy()
    else:
        raise ValueError(f"tensor2img expects one image of 2 or 3 dims, got shape {tuple(tensor.shape)}")
    return np.ascontiguousarray((arr * 255.0).round().astype(np.uint8))


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop an HWC or HW image at the bottom/right so both sides are multiples of ``scale``."""
    if img.ndim not in (2, 3):
        raise ValueError(f"modcrop expects an HW or HWC image, got {img.ndim} dims")
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale].copy()
