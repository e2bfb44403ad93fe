"""The Gaussian8 benchmark (setting 1), laid out as the original ``generate_mod_blur_LR_bic.py`` writes it.

For every HR image (modcropped to the scale) and each of the 8 kernel widths of ``gaussian8_sigmas``:
``HR/xS/sig{σ}_{name}.png`` (the modcropped HR, once per σ so that HR and LR pair by name),
``LRblur/xS/sig{σ}_{name}.png`` (blur + MATLAB bicubic downsampling, 8-bit: the network input),
``kernel/xS/sig{σ}_{name}.png`` (min-max scaled picture) and ``.npy`` (exact kernel);
once per image: ``LR/xS/{name}.png`` (bicubic downsampling, no blur) and ``Bic/xS/{name}.png`` (that LR
upsampled again). σ is written as Python prints it (``sig1.8_``, ``sig0.9142857142857144_``) as the original.
Optionally the LMDBs the test options point at: ``xSHRblur.lmdb`` and ``xSLRblur.lmdb``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..degradation.kernels import isotropic_gaussian_kernel
from ..degradation.synthesis import gaussian8_lr, gaussian8_sigmas
from ..ops.imresize import imresize
from ..utils.image import modcrop
from ..utils.image_io import image_keys, list_images, read_image, write_npy, write_png
from .benchmark_io import claim_outputs, folders_to_lmdbs, kernel_picture

KERNEL_SIZE = 21
FOLDERS = ("HR", "LRblur", "LR", "Bic", "kernel")


def sigma_filename(sigma: float, name: str) -> str:
    """``sig{σ}_{name}``, σ printed as the original script's ``'sig{}_{}'.format(sigma, filename)``."""
    return f"sig{sigma}_{name}"


def _to_u8(img: np.ndarray) -> np.ndarray:
    """Round and saturate a float image to uint8, as ``cv2.imwrite`` does with the original's float arrays."""
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def degrade_gaussian8(hr_bgr_u8: np.ndarray, scale: int) -> tuple[np.ndarray, dict[float, np.ndarray]]:
    """Modcropped HR and its eight Gaussian8 LR images ``{σ: uint8 BGR}`` (the benchmark's LRblur)."""
    hr = modcrop(hr_bgr_u8, scale)
    return hr, {sigma: gaussian8_lr(hr, sigma, scale, KERNEL_SIZE) for sigma in gaussian8_sigmas(scale)}


def bicubic_pair(hr_bgr_u8: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Blur-free bicubic LR and its bicubic re-upsampling (from the unrounded LR, as the original)."""
    lr = imresize(hr_bgr_u8, 1 / scale)
    return _to_u8(lr), _to_u8(imresize(lr, scale))


def output_dirs(output_dir: str | os.PathLike, scale: int) -> dict[str, Path]:
    return {name: Path(output_dir) / name / f"x{scale}" for name in FOLDERS}


def generate_gaussian8(
    input_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    scale: int,
    *,
    make_lmdb: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> int:
    """Write the Gaussian8 benchmark of every image in ``input_path`` (folder or glob); returns the image count."""
    sigmas = gaussian8_sigmas(scale)
    dirs = output_dirs(output_dir, scale)
    lmdbs = {name: Path(output_dir) / f"x{scale}{name}.lmdb" for name in ("HRblur", "LRblur")}
    files = image_keys(list_images(input_path))
    claim_outputs(dirs.values(), lmdbs.values() if make_lmdb else (), files.values(), overwrite)
    kernels = {sigma: isotropic_gaussian_kernel(KERNEL_SIZE, sigma) for sigma in sigmas}
    for stem, path in tqdm(files.items(), desc=f"Gaussian8 x{scale}", unit="img", disable=not progress):
        name = f"{stem}.png"
        hr, lrs = degrade_gaussian8(read_image(path, color=True), scale)
        for sigma, lr in lrs.items():
            tagged = sigma_filename(sigma, name)
            write_png(dirs["HR"] / tagged, hr)
            write_png(dirs["LRblur"] / tagged, lr)
            write_png(dirs["kernel"] / tagged, kernel_picture(kernels[sigma]))
            write_npy((dirs["kernel"] / tagged).with_suffix(".npy"), kernels[sigma])
        lr, bic = bicubic_pair(hr, scale)
        write_png(dirs["LR"] / name, lr)
        write_png(dirs["Bic"] / name, bic)
    if make_lmdb:
        folders_to_lmdbs({lmdbs["HRblur"]: dirs["HR"], lmdbs["LRblur"]: dirs["LRblur"]}, progress)
    return len(files)
