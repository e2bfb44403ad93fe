"""A benchmark of realistic degradations: every HR image gets its own random blur, downsampler, noise and JPEG
compression (:class:`dcls.degradation.realistic.RealisticDegradation`), drawn reproducibly.

Image ``i`` (in name order) draws from ``np.random.default_rng([seed, i])``: the same images, seed and options
give byte-identical files, and one image's degradation does not depend on the others. With ``copies`` > 1 each
HR image is degraded that many times (``d<k>_<name>``, drawn from ``[seed, i, k]``), as Gaussian8 degrades each
image with eight kernels. Layout of ``OUT``:
``HR/xS/{name}.png`` (the HR image modcropped to the scale), ``LR/xS/{name}.png`` (its degraded 8-bit LR),
``kernels/xS/{name}.npy`` (the HR-space blur kernel, float64) and ``degradations_xS.json`` (seed, scale, the
degradation options as an options file's ``degradation`` section, and each image's draw); optionally the LMDBs
``xSHR.lmdb`` and ``xSLR.lmdb``. Everything is built in a temporary folder and moved in place when complete.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..config.files import read_yaml
from ..degradation.realistic import ImageDegradation, RealisticDegradation
from ..errors import ConfigError
from ..utils.codec import image_to_tensor, tensor_to_image
from ..utils.image import modcrop
from ..utils.image_io import atomic_write_bytes, image_keys, list_images, read_image, write_npy, write_png
from .benchmark_io import check_outputs, folders_to_lmdbs, move_outputs

DEGRADATION_TYPE = "realistic"
FOLDERS = ("HR", "LR", "kernels")


def output_paths(out_dir: str | os.PathLike, scale: int) -> dict[str, Path]:
    """The outputs of one scale: image and kernel folders, the JSON record and the two LMDBs."""
    out = Path(out_dir)
    paths = {name: out / name / f"x{scale}" for name in FOLDERS}
    paths["json"] = out / f"degradations_x{scale}.json"
    paths.update({f"{name}.lmdb": out / f"x{scale}{name}.lmdb" for name in ("HR", "LR")})
    return paths


def degrade_image(
    hr_bgr_u8: np.ndarray, degradation: RealisticDegradation, scale: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, ImageDegradation]:
    """Modcropped HR, its degraded 8-bit LR (both BGR) and the degradation drawn for it from ``rng``."""
    hr = modcrop(hr_bgr_u8, scale)
    drawn = degradation.draw(1, rng)
    batch = degradation.apply(image_to_tensor(hr)[None], drawn, rng)
    return hr, tensor_to_image(batch.lr_img[0]), drawn[0]


def options_file_degradation(path: str | os.PathLike, scale: int) -> dict[str, Any]:
    """The ``degradation`` section (``type: realistic``) of an options file as RealisticDegradation's keyword
    arguments; ConfigError when the section is missing, of another type or not accepted by the constructor."""
    section = read_yaml(path).get("degradation")
    if not isinstance(section, Mapping) or section.get("type") != DEGRADATION_TYPE:
        raise ConfigError(f"{path}: has no degradation section with type: {DEGRADATION_TYPE}")
    options = {key: value for key, value in section.items() if key != "type"}
    try:
        RealisticDegradation(scale, **options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: degradation: {' '.join(str(exc).split())}") from None
    return options


def generate_realistic(
    hr_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    scale: int,
    seed: int = 0,
    degradation: Mapping[str, Any] | None = None,
    *,
    make_lmdb: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    copies: int = 1,
) -> int:
    """Write the benchmark of every image in ``hr_dir`` (folder or glob) with ``RealisticDegradation(scale,
    **degradation)``, ``copies`` degradations per image; returns the number of LR images."""
    if copies < 1:
        raise ConfigError(f"copies: {copies} must be at least 1")
    options = dict(degradation or {})
    model = RealisticDegradation(scale, **options)
    final = output_paths(out_dir, scale)
    files = image_keys(list_images(hr_dir))
    check_outputs(final.values(), files.values(), overwrite)
    tmp = Path(out_dir) / f".realistic_x{scale}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    built = output_paths(tmp, scale)
    try:
        images = []
        for index, stem in enumerate(tqdm(files, desc=f"Realistic x{scale}", unit="img", disable=not progress)):
            image = read_image(files[stem], color=True)
            for copy in range(copies):
                rng = np.random.default_rng([seed, index] if copies == 1 else [seed, index, copy])
                name = stem if copies == 1 else f"d{copy}_{stem}"
                hr, lr, drawn = degrade_image(image, model, scale, rng)
                write_png(built["HR"] / f"{name}.png", hr)
                write_png(built["LR"] / f"{name}.png", lr)
                write_npy(built["kernels"] / f"{name}.npy", drawn.kernel)
                images.append({"index": index, "copy": copy, "image": f"{name}.png", "kernel": f"{name}.npy",
                               **drawn.record()})
        record = {"seed": seed, "scale": scale, "copies": copies, "degradation": {"type": DEGRADATION_TYPE, **options},
                  "images": images}
        atomic_write_bytes(built["json"], (json.dumps(record, indent=2) + "\n").encode())
        if make_lmdb:
            folders_to_lmdbs({built["HR.lmdb"]: built["HR"], built["LR.lmdb"]: built["LR"]}, progress)
        move_outputs(built, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return len(images)
