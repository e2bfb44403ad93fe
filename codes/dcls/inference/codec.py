"""Image arrays as files hold them (8/16-bit, grey/BGR/BGRA; float in [0, 1] from the Python API) <-> the RGB
float tensors the model takes.

Grey images are processed as RGB and turned back into grey; an alpha channel is upscaled on its own
(bicubic, OpenCV: linear-time and memory-light even for very large images) and reattached; the output
keeps the input's bit depth.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from dcls.utils.image_io import read_image

# File types whose EXIF orientation tag OpenCV applies and cameras write.
EXIF_FORMATS = frozenset({".jpg", ".jpeg", ".jpe", ".tif", ".tiff", ".webp"})

# ITU-R BT.601 luma weights for R, G, B (what OpenCV uses for RGB -> grey).
_LUMA = (0.299, 0.587, 0.114)


@dataclass
class DecodedImage:
    """An image split into what the network sees and what is carried alongside it."""

    rgb: torch.Tensor  # (1, 3, H, W) float32 in [0, 1]
    alpha: np.ndarray | None  # (H, W) float32 in [0, 1]
    grey: bool
    dtype: np.dtype  # uint8, uint16 or a float type: the pixel type to give back


def _peak(dtype: np.dtype) -> float:
    """Value of full white for a pixel type (1 for floats in [0, 1])."""
    if dtype == np.uint8:
        return 255.0
    if dtype == np.uint16:
        return 65535.0
    if np.issubdtype(dtype, np.floating):
        return 1.0
    raise ValueError(f"unsupported pixel type {dtype} (expected 8- or 16-bit, or float in [0, 1])")


def read_upright(path: str | os.PathLike) -> np.ndarray:
    """An input image as stored (8/16-bit, grey/colour/alpha), turned the way its EXIF orientation says.

    Cameras save many photographs sideways with an orientation tag that viewers apply; the PNG written back
    carries no tag, so the pixels themselves are turned. OpenCV applies the tag only when it may convert
    the image, so the file is decoded a second time that way, and that result is used when it kept the
    depth and channels (an alpha channel would be lost: such images are left as stored). Only the formats
    in which cameras store that tag are decoded twice; others (PNG, BMP) are read once, as stored.
    """
    img = read_image(path)
    if Path(path).suffix.lower() not in EXIF_FORMATS or (img.ndim == 3 and img.shape[2] in (2, 4)):
        return img
    upright = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    same_layout = upright is not None and upright.dtype == img.dtype and upright.shape[2:] == img.shape[2:]
    return upright if same_layout and upright.shape[:2] in (img.shape[:2], img.shape[1::-1]) else img


def decode(array: np.ndarray) -> DecodedImage:
    """Split an OpenCV-ordered array (H, W), (H, W, 1|2|3|4) of uint8/uint16 (or float in [0, 1]) into a
    DecodedImage."""
    peak = _peak(array.dtype)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"unsupported image layout {array.shape}")
    channels = array.shape[2]
    pixels = np.asarray(array, dtype=np.float32) / peak
    alpha = np.ascontiguousarray(pixels[:, :, -1]) if channels in (2, 4) else None
    colour = torch.from_numpy(np.ascontiguousarray(pixels[:, :, : 3 if channels >= 3 else 1]))
    colour = colour.permute(2, 0, 1)[None]
    grey = colour.shape[1] == 1
    rgb = colour.expand(-1, 3, -1, -1) if grey else colour.flip(1)
    return DecodedImage(rgb.contiguous(), alpha, grey, array.dtype)


def upscale_alpha(alpha: np.ndarray, scale: int) -> np.ndarray:
    """Bicubic upscaling of an alpha plane (H, W) by an integer ``scale``, clamped to [0, 1]."""
    h, w = alpha.shape
    return np.clip(cv2.resize(alpha, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)


def encode(sr: torch.Tensor, alpha: np.ndarray | None, grey: bool, dtype: np.dtype) -> np.ndarray:
    """Inverse of :func:`decode` for an SR image (1, 3, H, W) and an alpha plane of the same size."""
    peak = _peak(np.dtype(dtype))
    if grey:
        weights = torch.tensor(_LUMA, dtype=sr.dtype, device=sr.device).view(1, 3, 1, 1)
        colour = (sr * weights).sum(1, keepdim=True)
    else:
        colour = sr.flip(1)
    planes = colour[0].permute(1, 2, 0).cpu().numpy()  # a new array (colour was computed here): edit in place
    if alpha is not None:
        planes = np.concatenate([planes, alpha[:, :, None]], axis=2)
    np.clip(planes, 0.0, 1.0, out=planes)
    if np.issubdtype(dtype, np.floating):
        out = planes.astype(dtype, copy=False)
    else:
        planes *= peak
        out = np.rint(planes, out=planes).astype(dtype)
    # grey + alpha has no 2-channel file format in OpenCV: write it as grey-looking BGRA.
    if grey and alpha is not None:
        out = out[:, :, [0, 0, 0, 1]]
    return out[:, :, 0] if out.shape[2] == 1 else out
