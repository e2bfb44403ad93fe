"""Shared output handling of the benchmark generators: claiming output folders, moving finished outputs in
place, kernel pictures, LMDBs."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from ..utils.codec import tensor_to_image
from ..utils.image_io import list_images, replace_directory
from .lmdb_io import create_lmdb


def check_outputs(outputs: Iterable[Path], inputs: Iterable[Path], overwrite: bool) -> None:
    """Refuse to replace earlier outputs (files, non-empty folders) without ``overwrite``, and inputs that lie
    inside an output folder (the run would replace its own inputs)."""
    outputs = list(outputs)
    taken = [p for p in outputs if p.is_file() or (p.is_dir() and any(p.iterdir()))]
    if taken and not overwrite:
        raise FileExistsError(f"{taken[0]} already exists and is not empty (pass --overwrite to replace it)")
    resolved = [p.resolve() for p in outputs]
    for path in inputs:
        if any(d in path.resolve().parents for d in resolved):
            raise ValueError(f"input {path} lies inside an output folder of this run; choose another output")


def claim_outputs(folders: Iterable[Path], lmdbs: Iterable[Path], inputs: Iterable[Path], overwrite: bool) -> None:
    """Refuse to replace earlier outputs without ``overwrite``; otherwise empty the folders for a fresh run.

    Emptying keeps a regenerated benchmark (and the LMDBs made from its folders) free of stale images.
    """
    folders = list(folders)
    check_outputs([*folders, *lmdbs], inputs, overwrite)
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def move_outputs(built: dict[str, Path], final: dict[str, Path]) -> None:
    """Move every finished output ``built[key]`` to ``final[key]``, each replacing the old one only once in place;
    an old output with nothing built for it (an LMDB not asked for this time) is removed: it would be stale."""
    for key, target in final.items():
        if built[key].exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            replace_directory(built[key], target)
        elif target.is_dir():
            shutil.rmtree(target)


def kernel_picture(kernel: np.ndarray) -> np.ndarray:
    """The kernel min-max scaled to a uint8 gray picture (the original's ``kernel/`` images)."""
    return tensor_to_image(torch.from_numpy(kernel).float(), min_max=(float(kernel.min()), float(kernel.max())))


def folders_to_lmdbs(pairs: dict[Path, Path], progress: bool) -> None:
    """Pack each image folder into its LMDB (``{lmdb_path: folder}``), replacing older ones."""
    for target, folder in pairs.items():
        create_lmdb(list_images(folder), target, overwrite=True, progress=progress)
