"""PSNR and SSIM as the paper evaluates them (MATLAB-compatible Y channel, float64, cropped borders).

Inputs are images as OpenCV reads them: HWC uint8 in BGR order (or HW). Nothing here modifies its
inputs (the original's ``bgr2ycbcr`` scaled float inputs in place).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

_Y_FROM_RGB = np.array([65.481, 128.553, 24.966])
_YCBCR_FROM_RGB = np.array([[65.481, -37.797, 112.0], [128.553, -74.203, -93.786], [24.966, 112.0, -18.214]])
_YCBCR_OFFSET = np.array([16.0, 128.0, 128.0])


def rgb2ycbcr(img: np.ndarray, only_y: bool = True) -> np.ndarray:
    """MATLAB ``rgb2ycbcr`` (BT.601). uint8 in [0, 255] -> rounded uint8; float in [0, 1] -> float in [0, 1]."""
    is_uint8 = img.dtype == np.uint8
    x = img.astype(np.float64) * (1.0 if is_uint8 else 255.0)
    out = x @ _Y_FROM_RGB / 255.0 + 16.0 if only_y else x @ _YCBCR_FROM_RGB / 255.0 + _YCBCR_OFFSET
    return out.round().astype(np.uint8) if is_uint8 else (out / 255.0).astype(img.dtype)


def bgr2ycbcr(img: np.ndarray, only_y: bool = True) -> np.ndarray:
    """:func:`rgb2ycbcr` for BGR-ordered images (OpenCV's order)."""
    return rgb2ycbcr(img[..., ::-1], only_y=only_y)


def _prepare(
    img1: np.ndarray, img2: np.ndarray, crop_border: int, test_y_channel: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Float64 images in [0, 255]: optional Y channel (unrounded, as the original), borders cropped."""
    if img1.shape != img2.shape:
        raise ValueError(f"images differ in shape: {img1.shape} vs {img2.shape}")
    pair = []
    for img in (img1, img2):
        x = img.astype(np.float64) / (255.0 if img.dtype == np.uint8 else 1.0)
        if test_y_channel and x.ndim == 3 and x.shape[2] == 3:
            x = bgr2ycbcr(x, only_y=True)
        x = x * 255.0
        if crop_border:
            x = x[crop_border:-crop_border, crop_border:-crop_border]
        pair.append(x)
    return pair[0], pair[1]


def calculate_psnr(img1: np.ndarray, img2: np.ndarray, crop_border: int = 0, test_y_channel: bool = False) -> float:
    """PSNR in dB of two images: uint8 in [0, 255], or floats in [0, 1]."""
    a, b = _prepare(img1, img2, crop_border, test_y_channel)
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else 20.0 * math.log10(255.0 / math.sqrt(mse))


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM with an 11x11 Gaussian window (sigma 1.5) over the valid region, averaged over channels."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = cv2.getGaussianKernel(11, 1.5)
    window = g @ g.T

    def filt(x: np.ndarray) -> np.ndarray:
        return cv2.filter2D(x, -1, window)[5:-5, 5:-5]

    mu1, mu2 = filt(a), filt(b)
    mu1_sq, mu2_sq, mu12 = mu1**2, mu2**2, mu1 * mu2
    s1, s2, s12 = filt(a * a) - mu1_sq, filt(b * b) - mu2_sq, filt(a * b) - mu12
    ssim_map = ((2 * mu12 + c1) * (2 * s12 + c2)) / ((mu1_sq + mu2_sq + c1) * (s1 + s2 + c2))
    return float(ssim_map.mean())


def calculate_ssim(img1: np.ndarray, img2: np.ndarray, crop_border: int = 0, test_y_channel: bool = False) -> float:
    """SSIM of two images as the MATLAB reference computes it (float64, valid window region)."""
    a, b = _prepare(img1, img2, crop_border, test_y_channel)
    if min(a.shape[:2]) < 11:
        raise ValueError(f"SSIM needs images of at least 11x11 after cropping, got {a.shape[:2]}")
    return _ssim(a, b)


def evaluate_pair(sr: np.ndarray, gt: np.ndarray, crop_border: int) -> dict[str, float]:
    """All four numbers the paper reports for one image: PSNR/SSIM on RGB and on Y."""
    return {
        "psnr": calculate_psnr(sr, gt, crop_border),
        "ssim": calculate_ssim(sr, gt, crop_border),
        "psnr_y": calculate_psnr(sr, gt, crop_border, test_y_channel=True),
        "ssim_y": calculate_ssim(sr, gt, crop_border, test_y_channel=True),
    }
