"""Per-sample array operations of the datasets: channel normalisation, random crops, dihedral augmentation."""

from __future__ import annotations

import numpy as np

Flags = tuple[bool, bool, bool]


def to_bgr3(img: np.ndarray) -> np.ndarray:
    """HW / HW1 gray -> 3 equal channels; BGRA -> BGR; BGR unchanged (views where possible)."""
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] == 1:
        return np.repeat(img, 3, axis=2)
    if img.shape[2] == 4:
        return img[:, :, :3]
    if img.shape[2] != 3:
        raise ValueError(f"images must have 1, 3 or 4 channels, got {img.shape[2]}")
    return img


def check_min_size(shape: tuple[int, ...], size: int, label: str) -> None:
    """A clear error naming the image when it cannot hold a ``size`` x ``size`` crop."""
    h, w = shape[:2]
    if h < size or w < size:
        raise ValueError(f"image {label} is {h}x{w} pixels, smaller than the {size}x{size} training crop")


def crop_window(shape: tuple[int, ...], size: int, rng: np.random.Generator, label: str) -> tuple[int, int]:
    """Top-left corner of a uniformly random ``size`` square inside an image of ``shape``."""
    check_min_size(shape, size, label)
    return int(rng.integers(0, shape[0] - size + 1)), int(rng.integers(0, shape[1] - size + 1))


def draw_augment(rng: np.random.Generator, use_flip: bool, use_rot: bool) -> Flags:
    """Horizontal flip, vertical flip, transpose: together the 8 symmetries of the square (as the original)."""
    draws = rng.random(3) < 0.5
    return bool(use_flip and draws[0]), bool(use_rot and draws[1]), bool(use_rot and draws[2])


def apply_augment(img: np.ndarray, flags: Flags) -> np.ndarray:
    hflip, vflip, transpose = flags
    if hflip:
        img = img[:, ::-1]
    if vflip:
        img = img[::-1]
    if transpose:
        img = img.transpose(1, 0, 2)
    return img
