"""A DIV2KRK-style benchmark (setting 2): every HR image degraded by its own random anisotropic kernel.

Protocol: KernelGAN, Bell-Kligler, Shocher & Irani, "Blind Super-Resolution Kernel Estimation using an
Internal-GAN", NeurIPS 2019, section 5 (DIV2KRK), with details from the authors' generator
(github.com/assafshocher/BlindSR_dataset_generator: ``gen_kernel``, ``kernel_shift``, ``downscale``) and
KernelGAN's ``util.analytic_kernel`` (github.com/sefibk/KernelGAN). The choices, one by one:

1. x2 kernel: 11x11 anisotropic Gaussian with covariance ``Q(θ) diag(λ1, λ2) Q(θ)ᵀ``, ``λ1, λ2 ~ U(0.6, 5)``
   and ``θ ~ U(-π, π)`` (paper). The λ are covariance eigenvalues (variances), as ``LAMBDA`` in ``gen_kernel``:
   a standard deviation of 5 would not fit an 11x11 support.
2. Its mean sits at ``k//2 + 0.5·(s - k%2)`` = 5.5 (``gen_kernel``'s ``MU``), so that after correlating and
   keeping pixels 0, s, 2s, ... every LR pixel is centred on its s x s block of HR pixels.
3. Multiplicative noise ``K ← K·(1 + U(-0.25, 0.25))`` per element: the paper's "uniform multiplicative noise
   (up to 25% of each pixel value of the kernel)" (the generator's default of 0.4 is ``noise_level`` here).
4. The kernel's centre of mass must be exactly at 5.5 (``kernel_shift``'s condition): the noise and the
   11x11 truncation move it. KernelGAN resamples the kernel with ``scipy.ndimage.shift`` (cubic spline, mass
   beyond the border lost); here instead the Gaussian's mean is moved (fixed-point iterations) until the
   noisy, truncated, normalised kernel has its centre of mass at 5.5 to 1e-10: the same condition, met
   exactly, without interpolation blur and without scipy (no dependency of this project).
5. x4 kernel: the x2 kernel composed with itself, ``k4 = Σ_rc k[r,c]·k`` placed at ``(2r, 2c)``: degrading by x2
   twice. It is KernelGAN's ``analytic_kernel`` without its final crop: 31x31 (= 3·11-2, the kernel size DCLS
   uses for setting-2 x4), centre of mass at 16.5 = 31//2 + 0.5·(4-1).
6. Degradation (``downscale``): correlate every channel with the kernel (``scipy.ndimage.correlate``'s
   'reflect' border, i.e. OpenCV ``BORDER_REFLECT``), keep rows and columns 0, s, 2s, ...; the x4 LR uses
   the 31x31 kernel in one pass, so it is exactly what the saved ground-truth kernel describes. HR images are
   first modcropped to 4 (valid for both scales); LR images are rounded to 8 bit.
7. One numpy Generator seeded by ``seed`` draws, per image in sorted name order, λ1, λ2, θ and the 11x11
   noise: the same seed and inputs give the same benchmark.

Layout (as the released DIV2KRK, ``.npy`` instead of ``.mat``): ``gt/``, ``lr_x2/``, ``lr_x4/``,
``gt_k_x2/`` and ``gt_k_x4/`` (``{name}.npy`` kernel and ``{name}.png`` enlarged picture); optionally the
LMDBs the setting-2 test options point at: ``HRblur.lmdb``, ``x2LRblur.lmdb``, ``x4LRblur.lmdb``.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..utils.image import modcrop
from ..utils.image_io import image_keys, list_images, read_image, write_npy, write_png
from .benchmark_io import claim_outputs, folders_to_lmdbs, kernel_picture

KERNEL_SIZE_X2 = 11
LAMBDA_RANGE = (0.6, 5.0)
NOISE_LEVEL = 0.25
_PICTURE_SIZE = 128
_CENTRING_STEPS = 100


def kernelgan_kernel(
    rng: np.random.Generator,
    size: int = KERNEL_SIZE_X2,
    lambda_range: tuple[float, float] = LAMBDA_RANGE,
    noise_level: float = NOISE_LEVEL,
    scale: int = 2,
) -> np.ndarray:
    """One random DIV2KRK x2 kernel (choices 1-4 of the module docstring), float64 (size, size), sum 1."""
    lam1, lam2 = rng.uniform(*lambda_range, size=2)
    theta = rng.uniform(-np.pi, np.pi)
    noise = rng.uniform(-noise_level, noise_level, size=(size, size))
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    inv_cov = np.linalg.inv(rot @ np.diag([lam1, lam2]) @ rot.T)
    centre = size // 2 + 0.5 * (scale - size % 2)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    mean = np.array([centre, centre])  # (y, x)
    for _ in range(_CENTRING_STEPS):  # move the mean until the noisy kernel's centre of mass is at `centre`
        dy, dx = yy - mean[0], xx - mean[1]
        quad = inv_cov[0, 0] * dx**2 + (inv_cov[0, 1] + inv_cov[1, 0]) * dx * dy + inv_cov[1, 1] * dy**2
        kernel = np.exp(-0.5 * quad) * (1.0 + noise)
        kernel /= kernel.sum()
        error = centre - np.array([(yy * kernel).sum(), (xx * kernel).sum()])
        if np.abs(error).max() < 1e-10:
            break
        mean += error
    return kernel


def compose_x4(k2: np.ndarray) -> np.ndarray:
    """The x4 kernel equivalent to degrading twice by x2 with ``k2`` (KernelGAN's analytic kernel, uncropped)."""
    k = k2.shape[0]
    big = np.zeros((3 * k - 2, 3 * k - 2))
    for r in range(k):  # 11x11 loop on an 11x11 kernel: tiny, once per image
        for c in range(k):
            big[2 * r : 2 * r + k, 2 * c : 2 * c + k] += k2[r, c] * k2
    return big / big.sum()


def degrade(hr_bgr_u8: np.ndarray, kernel: np.ndarray, scale: int) -> np.ndarray:
    """Correlate with ``kernel`` (reflected border), keep every ``scale``-th pixel from 0, round to uint8."""
    blurred = cv2.filter2D(hr_bgr_u8.astype(np.float64), -1, kernel, borderType=cv2.BORDER_REFLECT)
    return np.clip(np.rint(blurred[::scale, ::scale]), 0, 255).astype(np.uint8)


def _save_kernel(folder: Path, stem: str, kernel: np.ndarray) -> None:
    write_npy(folder / f"{stem}.npy", kernel)
    factor = max(1, _PICTURE_SIZE // kernel.shape[0])
    picture = cv2.resize(kernel_picture(kernel), None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)
    write_png(folder / f"{stem}.png", picture)


def generate_div2krk(
    input_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    seed: int = 0,
    noise_level: float = NOISE_LEVEL,
    make_lmdb: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> int:
    """Write the benchmark for every image of ``input_path`` (folder or glob); returns the image count."""
    out = Path(output_dir)
    folders = {name: out / name for name in ("gt", "lr_x2", "lr_x4", "gt_k_x2", "gt_k_x4")}
    lmdbs = {"gt": out / "HRblur.lmdb", "lr_x2": out / "x2LRblur.lmdb", "lr_x4": out / "x4LRblur.lmdb"}
    files = image_keys(list_images(input_path))
    claim_outputs(folders.values(), lmdbs.values() if make_lmdb else (), files.values(), overwrite)
    rng = np.random.default_rng(seed)
    for stem, path in tqdm(files.items(), desc="DIV2KRK", unit="img", disable=not progress):
        hr = modcrop(read_image(path, color=True), 4)
        k2 = kernelgan_kernel(rng, noise_level=noise_level)
        k4 = compose_x4(k2)
        write_png(folders["gt"] / f"{stem}.png", hr)
        write_png(folders["lr_x2"] / f"{stem}.png", degrade(hr, k2, 2))
        write_png(folders["lr_x4"] / f"{stem}.png", degrade(hr, k4, 4))
        _save_kernel(folders["gt_k_x2"], stem, k2)
        _save_kernel(folders["gt_k_x4"], stem, k4)
    if make_lmdb:
        folders_to_lmdbs({target: folders[name] for name, target in lmdbs.items()}, progress)
    return len(files)
