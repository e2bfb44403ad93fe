"""Shared output handling of the benchmark generators: claiming output folders, kernel pictures, LMDBs."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from ..utils.codec import tensor_to_image
from ..utils.image_io import list_images
from .lmdb_io import create_lmdb


def claim_outputs(folders: Iterable[Path], lmdbs: Iterable[Path], inputs: Iterable[Path], overwrite: bool) -> None:
    """Refuse to replace earlier outputs without ``overwrite``; otherwise empty the folders for a fresh run.

    Emptying keeps a regenerated benchmark (and the LMDBs made from its folders) free of stale images.
    """
    folders, lmdbs = list(folders), list(lmdbs)
    taken = [d for d in folders if d.is_dir() and any(d.iterdir())] + [p for p in lmdbs if p.exists()]
    if taken and not overwrite:
        raise FileExistsError(f"{taken[0]} already exists and is not empty (pass --overwrite to replace it)")
    resolved = [d.resolve() for d in folders]
    for path in inputs:
        if any(d in path.resolve().parents for d in resolved):
            raise ValueError(f"input {path} lies inside an output folder of this run; choose another output")
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def kernel_picture(kernel: np.ndarray) -> np.ndarray:
    """The kernel min-max scaled to a uint8 gray picture (the original's ``kernel/`` images)."""
    return tensor_to_image(torch.from_numpy(kernel).float(), min_max=(float(kernel.min()), float(kernel.max())))


def folders_to_lmdbs(pairs: dict[Path, Path], progress: bool) -> None:
    """Pack each image folder into its LMDB (``{lmdb_path: folder}``), replacing older ones."""
    for target, folder in pairs.items():
        create_lmdb(list_images(folder), target, overwrite=True, progress=progress)
