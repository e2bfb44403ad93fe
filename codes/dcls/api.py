"""The Python API: :class:`BlindSR` super-resolves numpy images or image files exactly as ``dcls-sr`` does, and
:func:`degrade` makes LR test images from HR ones with a chosen blur (how the benchmarks are built).

Images are numpy arrays in RGB order, (H, W, 3) (also grey (H, W), RGBA (H, W, 4) and grey + alpha
(H, W, 2)), of uint8, uint16 or floats in [0, 1]; every result has the input's pixel type and channels.
"""

from __future__ import annotations

import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import NamedTuple, Union

import numpy as np
import torch

from dcls.degradation.kernels import anisotropic_gaussian_kernel, isotropic_gaussian_kernel
from dcls.degradation.synthesis import blur_downsample
from dcls.errors import InputError
from dcls.evaluation import InferenceSettings, SuperResolver
from dcls.inference.model_loading import SIZE_OPTIONS, ModelSpec, spec_from_args, spec_from_options
from dcls.inference.pipeline import super_resolve_array
from dcls.utils.codec import read_upright
from dcls.utils.device import choose_device
from dcls.utils.image import modcrop
from dcls.utils.image_io import write_png
from dcls.utils.kernel_vis import kernel_to_image

ImageInput = Union[np.ndarray, str, os.PathLike]
"""A numpy image (see the module docstring) or the path of an image file."""

Setting = Union[int, bool, str]
"""The value of a keyword setting of :class:`BlindSR` (``tile=256``, ``ensemble=True``, ...)."""

_INTEGER_TYPES = (np.uint8, np.uint16)


class SRResult(NamedTuple):
    """What :meth:`BlindSR.upscale` returns (unpacks as ``image, kernel = sr.upscale(x)``)."""

    image: np.ndarray
    """The SR image: ``scale`` times the input's height and width, the input's pixel type and channels."""
    kernel: np.ndarray
    """The blur kernel the model estimated, (k, k) float32 in LR pixels, summing to 1."""

    def save(self, path: str | os.PathLike) -> None:
        """Write the SR image as the PNG ``dcls-sr`` writes (8 or 16 bit, grey, RGB or RGBA; floats as 16 bit),
        atomically."""
        image = self.image
        if np.issubdtype(image.dtype, np.floating):
            image = np.rint(image * 65535.0).astype(np.uint16)
        if image.ndim == 3 and image.shape[2] == 2:  # no grey + alpha PNG in OpenCV: grey-looking RGBA
            image = image[:, :, [0, 0, 0, 1]]
        write_png(Path(path), _swap_red_blue(image))

    def kernel_picture(self, cell: int = 8) -> np.ndarray:
        """The kernel as an RGB uint8 picture (the one ``dcls-sr --save_kernel`` writes): each tap a ``cell``-pixel
        square, colour-mapped from 0 (black) to the kernel's maximum (white)."""
        return kernel_to_image(self.kernel, cell)[:, :, ::-1].copy()


def _swap_red_blue(image: np.ndarray) -> np.ndarray:
    """RGB(A) <-> BGR(A), the order OpenCV reads and writes files in; grey (+ alpha) images are returned as they are."""
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return image[:, :, [2, 1, 0, 3][: image.shape[2]]]
    return image


def _checked(image: object) -> np.ndarray:
    """``image`` as a numpy array the API takes, or InputError naming what is wrong with it."""
    array = np.asarray(image)
    if array.dtype not in _INTEGER_TYPES and not np.issubdtype(array.dtype, np.floating):
        raise InputError(f"unsupported pixel type {array.dtype}: give uint8, uint16 or floats in [0, 1]")
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 2, 3, 4)) or 0 in array.shape:
        raise InputError(f"unsupported image shape {array.shape}: give (H, W), or (H, W, C) with C = 1, 2, 3 or 4")
    if np.issubdtype(array.dtype, np.floating):
        lo, hi = float(array.min()), float(array.max())
        if not (lo >= 0.0 and hi <= 1.0):  # also false for NaN
            raise InputError(f"float pixel values must lie in [0, 1], found [{lo:g}, {hi:g}]")
    return array


def _device(device: str | torch.device | None) -> torch.device:
    """``device`` as a torch.device; default CUDA when available, else the CPU (``dcls-sr --device``'s rule)."""
    return choose_device(None if device is None else str(device))


def load_image(image: ImageInput) -> np.ndarray:
    """An image file (read as ``dcls-sr`` reads it: as stored, EXIF orientation applied) or an array, checked,
    as an RGB-ordered numpy array."""
    if isinstance(image, (str, os.PathLike)):
        return _swap_red_blue(read_upright(Path(image)))
    return _checked(image)


class BlindSR:
    """A DCLS model ready to super-resolve images; build it with :meth:`from_checkpoint` or :meth:`from_options`.

    ``tile``, ``tile_overlap``, ``tile_batch``, ``kernel_crop``, ``ensemble`` and ``amp`` are ``dcls-sr``'s options
    of the same names (sizes in input pixels; ``tile=0`` restores the whole image at once; ``amp`` "off", "bf16"
    or "fp16").
    """

    def __init__(self, model: torch.nn.Module, scale: int, *, device: str | torch.device | None = None,
                 tile: int = 0, tile_overlap: int = 16, tile_batch: int = 4, ensemble: bool = False,
                 kernel_crop: int = 512, amp: str = "off") -> None:
        settings = InferenceSettings(tile, tile_overlap, tile_batch, ensemble, kernel_crop, amp)
        self.device = _device(device)
        self.resolver = SuperResolver(model, scale, settings, self.device)

    @classmethod
    def _from_spec(cls, spec: ModelSpec, device: str | torch.device | None, accelerate: bool,
                   settings: dict[str, Setting]) -> BlindSR:
        """Build the network ``spec`` describes, load its weights and (with ``accelerate``) speed it up."""
        chosen = _device(device)
        spec = replace(spec, accelerate=spec.accelerate and accelerate)
        return cls(spec.build(chosen), spec.scale, device=chosen, **settings)

    @classmethod
    def from_checkpoint(cls, checkpoint: str | os.PathLike, scale: int, setting: int = 1, *,
                        nf: int | None = None, nb: int | None = None, ng: int | None = None,
                        input_para: int | None = None, device: str | torch.device | None = None,
                        accelerate: bool = True, **settings: Setting) -> BlindSR:
        """The model of ``setting`` (1: isotropic, 2: anisotropic Gaussian blur; 3: realistic degradations) at
        ``scale`` with the weights of ``checkpoint``; ``nf``, ``nb``, ``ng``, ``input_para`` give other network sizes
        (``dcls-sr``'s flags). ``accelerate=False`` runs the reference network as written (``dcls-sr --no-accel``)."""
        sizes = dict(zip(SIZE_OPTIONS, (nf, nb, ng, input_para)))
        return cls._from_spec(spec_from_args(str(checkpoint), scale, setting, sizes), device, accelerate, settings)

    @classmethod
    def from_options(cls, options: str | os.PathLike, checkpoint: str | os.PathLike | None = None, *,
                     device: str | torch.device | None = None, accelerate: bool = True,
                     **settings: Setting) -> BlindSR:
        """The model of a train/test options file (network sizes, scale, ``path.pretrain_model_G``, its
        ``custom_imports``); ``checkpoint`` replaces the file's weights; ``accelerate=False`` (or the file's
        ``accel: false``) runs the reference network as written."""
        spec = spec_from_options(str(options), None if checkpoint is None else str(checkpoint))
        return cls._from_spec(spec, device, accelerate, settings)

    def with_settings(self, **settings: Setting) -> BlindSR:
        """The same model (shared, not copied) with other ``tile``/``ensemble``/... settings."""
        return BlindSR(self.resolver.model, self.scale, device=self.device,
                       **{**asdict(self.resolver.settings), **settings})

    @property
    def scale(self) -> int:
        """The upscaling factor."""
        return self.resolver.scale

    def upscale(self, image: ImageInput) -> SRResult:
        """Super-resolve one image (array or file path); the same pixels ``dcls-sr`` writes for the same file."""
        rgb = load_image(image)
        squeeze_channel = rgb.ndim == 3 and rgb.shape[2] == 1
        sr, kernel = super_resolve_array(self.resolver, rgb, order="rgb")
        if rgb.ndim == 3 and rgb.shape[2] == 2:  # the codec gives grey + alpha back as grey-looking RGBA
            sr = sr[:, :, [0, 3]]
        return SRResult(np.ascontiguousarray(sr[:, :, None] if squeeze_channel else sr),
                        kernel.float().cpu().numpy())


def gaussian_kernel(sigma: float, size: int = 21, sigma_y: float | None = None, theta: float = 0.0) -> np.ndarray:
    """A (size, size) Gaussian blur kernel summing to 1 (float64), on the grid the training kernels use:
    isotropic with standard deviation ``sigma``, or anisotropic with ``sigma`` along x and ``sigma_y`` along y,
    rotated by ``theta`` radians."""
    if size < 1 or sigma <= 0 or (sigma_y is not None and sigma_y <= 0):
        raise InputError(f"a Gaussian kernel needs size >= 1 and sigma > 0, got size {size}, sigma {sigma}")
    if sigma_y is None:
        return isotropic_gaussian_kernel(size, sigma)
    return anisotropic_gaussian_kernel(size, sigma, sigma_y, theta)


def degrade(image: ImageInput, scale: int, *, kernel: np.ndarray | None = None, sigma: float | None = None,
            kernel_size: int = 21, noise: float = 0.0, seed: int | None = None) -> np.ndarray:
    """A low-resolution test image made from an HR one, as the Gaussian8 benchmark is made.

    The HR image is cropped at the bottom/right to a multiple of ``scale`` (compare SR results with
    ``hr[:lr.shape[0] * scale, :lr.shape[1] * scale]``), blurred with ``kernel`` (any (k, k) array, used as
    given) or with an isotropic Gaussian of width ``sigma`` and size ``kernel_size``, MATLAB-bicubic downsampled
    by ``scale``, given Gaussian noise of standard deviation ``noise`` (in [0, 1] units, drawn with ``seed``),
    and returned in the input's pixel type and channels (integers rounded).
    """
    if (kernel is None) == (sigma is None):
        raise InputError("give the blur as kernel= (a (k, k) array) or as sigma= (an isotropic Gaussian), not both")
    if scale < 1 or int(scale) != scale:
        raise InputError(f"scale must be a positive integer, got {scale}")
    if noise < 0:
        raise InputError(f"noise must be >= 0, got {noise}")
    blur = gaussian_kernel(sigma, kernel_size) if sigma is not None else np.asarray(kernel, dtype=np.float64)
    if blur.ndim != 2 or blur.shape[0] != blur.shape[1] or not np.all(np.isfinite(blur)):
        raise InputError(f"kernel must be a finite square (k, k) array, got shape {blur.shape}")
    hr = modcrop(load_image(image), scale)
    if min(hr.shape[:2]) < 2 * scale:
        raise InputError(f"image of {hr.shape[1]}x{hr.shape[0]} pixels is too small to downsample x{scale}")
    peak = 1.0 if np.issubdtype(hr.dtype, np.floating) else float(np.iinfo(hr.dtype).max)
    planes = hr.reshape(*hr.shape[:2], -1).astype(np.float32) / np.float32(peak)
    lr = blur_downsample(torch.from_numpy(planes).permute(2, 0, 1)[None], torch.from_numpy(blur).float(), scale)
    if noise:
        draws = np.random.default_rng(seed).standard_normal(lr.shape)
        lr = lr + noise * torch.from_numpy(draws).float()
    out = lr.clamp_(0.0, 1.0)[0].permute(1, 2, 0).numpy()
    if hr.dtype in _INTEGER_TYPES:
        out = np.rint(out * np.float32(peak))
    return out.astype(hr.dtype).reshape(out.shape[:2] + hr.shape[2:])
