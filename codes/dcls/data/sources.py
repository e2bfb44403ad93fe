"""Where a dataset's images come from: an image folder or an LMDB (a ``dataroot_*`` path ending in .lmdb)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from ..utils.image_io import image_keys, list_images, read_image
from .lmdb_io import LmdbReader

View = Callable[[np.ndarray], np.ndarray]


def is_lmdb(root: str | os.PathLike) -> bool:
    return str(root).rstrip("/\\").endswith(".lmdb")


class FolderSource:
    """Images of a folder (recursive), keyed by file base name."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"image folder not found: {self.root}")
        self.files = image_keys(list_images(self.root))
        self.keys = sorted(self.files)

    def shape(self, key: str) -> tuple[int, ...] | None:
        """Unknown without reading the file."""
        return None

    def label(self, key: str) -> str:
        return str(self.files[key])

    def describe(self, key: str) -> str:
        """The image's file, for error messages."""
        return str(self.files[key])

    def read(self, key: str, view: View | None = None) -> np.ndarray:
        img = read_image(self.files[key])
        return view(img) if view is not None else img


class LmdbSource:
    """Images of an LMDB written by create_lmdb, keyed as stored; shapes known from its metadata."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"LMDB not found: {self.root}")
        self.reader = LmdbReader(self.root)
        self.keys = sorted(self.reader.keys)

    def shape(self, key: str) -> tuple[int, ...] | None:
        return self.reader.records[key].shape

    def label(self, key: str) -> str:
        return key

    def describe(self, key: str) -> str:
        """The image's key and its LMDB, for error messages."""
        return f"'{key}' in {self.root}"

    def read(self, key: str, view: View | None = None) -> np.ndarray:
        return self.reader.read(key, view)


def open_source(root: str | os.PathLike) -> FolderSource | LmdbSource:
    """An LMDB source when ``root`` ends with .lmdb, else a folder source."""
    return LmdbSource(root) if is_lmdb(root) else FolderSource(root)
