"""Cropping images to a multiple of the scale factor."""

from __future__ import annotations

import numpy as np


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop an HWC or HW image at the bottom/right so both sides are multiples of ``scale``."""
    if img.ndim not in (2, 3):
        raise ValueError(f"modcrop expects an HW or HWC image, got {img.ndim} dims")
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale].copy()
