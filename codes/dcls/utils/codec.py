"""Image arrays <-> the RGB float tensors the model takes: the one codec of files (OpenCV's BGR order), the Python
API (RGB order), the datasets, the benchmarks and the metrics.

:func:`decode` and :func:`encode` keep what the network does not see: grey images are processed as RGB and
turned back into grey; an alpha channel is upscaled on its own (bicubic, OpenCV: linear-time and memory-light even
for very large images) and reattached; the output keeps the input's bit depth. :func:`image_to_tensor` and
:func:`tensor_to_image` are the plain conversions of training and evaluation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt
import torch

from .image_io import read_image

ChannelOrder = Literal["bgr", "rgb"]
"""Colour order of an image array: ``"bgr"`` as OpenCV reads and writes files, ``"rgb"`` as the Python API takes."""

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


def _rgb_order(planes: np.ndarray, order: ChannelOrder) -> np.ndarray:
    """(H, W, C) planes with the channels of a 3-channel image swapped between ``order`` and RGB (a view; the swap
    is its own inverse)."""
    if order not in ("bgr", "rgb"):
        raise ValueError(f"channel order must be 'bgr' or 'rgb', not {order!r}")
    return planes[:, :, ::-1] if order == "bgr" and planes.shape[2] == 3 else planes


def _chw_tensor(planes: np.ndarray, order: ChannelOrder) -> torch.Tensor:
    """(H, W, C) float32 planes, colour in ``order``, as a contiguous RGB (C, H, W) tensor."""
    return torch.from_numpy(np.ascontiguousarray(_rgb_order(planes, order).transpose(2, 0, 1)))


def _quantise(planes: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Planes of [0, 1] values (clamped) as pixels of ``dtype``: scaled to its full white and rounded half to even;
    kept as they are for a float type."""
    pixels = np.clip(planes, 0.0, 1.0)  # a new array: scaled in place
    if np.issubdtype(dtype, np.floating):
        return pixels.astype(dtype, copy=False)
    pixels *= _peak(dtype)
    return np.rint(pixels, out=pixels).astype(dtype)


def image_to_tensor(array: np.ndarray, order: ChannelOrder = "bgr") -> torch.Tensor:
    """An 8- or 16-bit image (H, W) or (H, W, C), colour in ``order``, as a float32 RGB (C, H, W) tensor in [0, 1]
    (grey stays one channel): how the datasets and the benchmarks read images."""
    planes = array.astype(np.float32) / 255.0
    tensor = _chw_tensor(planes[:, :, None] if planes.ndim == 2 else planes, order)
    if array.dtype == np.uint16:
        tensor.mul_(255.0 / 65535.0)  # after the 8-bit scaling, as the original: bit-identical training batches
    return tensor


def tensor_to_image(tensor: torch.Tensor, order: ChannelOrder = "bgr", dtype: npt.DTypeLike = np.uint8,
                    min_max: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """One RGB image tensor (1, C, H, W), (C, H, W) or (H, W) of values in ``min_max`` as an (H, W, C) or (H, W)
    array of ``dtype``, colour in ``order``: clamped, scaled to the type's full white, rounded half to even."""
    lo, hi = min_max
    t = tensor.detach().squeeze().float().cpu().clamp(lo, hi)
    t = (t - lo) / (hi - lo)
    if t.dim() not in (2, 3):
        raise ValueError(f"tensor_to_image expects one image of 2 or 3 dims, got shape {tuple(tensor.shape)}")
    planes = t.numpy() if t.dim() == 2 else _rgb_order(t.numpy().transpose(1, 2, 0), order)
    return np.ascontiguousarray(_quantise(planes, np.dtype(dtype)))


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


def decode(array: np.ndarray, order: ChannelOrder = "bgr") -> DecodedImage:
    """Split an array (H, W), (H, W, 1|2|3|4) of uint8/uint16 (or float in [0, 1]), colour in ``order`` (``"bgr"``
    from files, ``"rgb"`` from the Python API), into a DecodedImage."""
    peak = _peak(array.dtype)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"unsupported image layout {array.shape}")
    channels = array.shape[2]
    pixels = np.asarray(array, dtype=np.float32) / peak
    alpha = np.ascontiguousarray(pixels[:, :, -1]) if channels in (2, 4) else None
    colour = _chw_tensor(pixels[:, :, : 3 if channels >= 3 else 1], order)[None]
    grey = colour.shape[1] == 1
    return DecodedImage(colour.expand(-1, 3, -1, -1).contiguous() if grey else colour, alpha, grey, array.dtype)


def upscale_alpha(alpha: np.ndarray, scale: int) -> np.ndarray:
    """Bicubic upscaling of an alpha plane (H, W) by an integer ``scale``, clamped to [0, 1]."""
    h, w = alpha.shape
    return np.clip(cv2.resize(alpha, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)


def encode(sr: torch.Tensor, alpha: np.ndarray | None, grey: bool, dtype: np.dtype,
           order: ChannelOrder = "bgr") -> np.ndarray:
    """Inverse of :func:`decode` for an SR image (1, 3, H, W) and an alpha plane of the same size, colour in
    ``order``."""
    if grey:
        weights = torch.tensor(_LUMA, dtype=sr.dtype, device=sr.device).view(1, 3, 1, 1)
        sr = (sr * weights).sum(1, keepdim=True)
    planes = _rgb_order(sr[0].permute(1, 2, 0).cpu().numpy(), order)
    if alpha is not None:
        planes = np.concatenate([planes, alpha[:, :, None]], axis=2)
    out = _quantise(planes, np.dtype(dtype))
    # grey + alpha has no 2-channel file format in OpenCV: write it as grey-looking BGRA (or RGBA).
    if grey and alpha is not None:
        out = out[:, :, [0, 0, 0, 1]]
    return out[:, :, 0] if out.shape[2] == 1 else out
