"""The datasets the option files select with ``mode``: GT (training HR crops), LQGT (LR/HR pairs), LQ (LR only).

Each takes the option dict of one ``datasets:`` entry (original schema: dataroot_GT, dataroot_LQ, GT_size,
use_flip, use_rot, color, phase, scale, ...), reads an image folder or an LMDB, and returns RGB float32 CHW
tensors in [0, 1]. Random crops and flips draw from ``self.rng``, a numpy Generator that the training loader
reseeds before every sample (:mod:`dcls.engine.data_stream`), so runs are reproducible.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..registry import DATASET_REGISTRY
from ..utils.codec import image_to_tensor
from ..utils.image import modcrop
from .sources import FolderSource, LmdbSource, open_source
from .transforms import apply_augment, check_min_size, crop_window, draw_augment, to_bgr3

_MISSING = object()


class _ImageDataset(Dataset):
    """Option parsing and the per-worker random generator shared by the three datasets. ``provides``: the items
    a sample holds (what the options check a phase against); ``roots``: the data paths it reads."""

    default_phase = "train"
    provides: tuple[str, ...] = ()
    roots: tuple[str, ...] = ()

    def __init__(self, opt: dict[str, Any]) -> None:
        self.opt = opt
        self.name = str(opt.get("name", type(self).__name__))
        self.phase = str(opt.get("phase", self.default_phase))
        self._rng: np.random.Generator | None = None

    def option(self, key: str, default: Any = _MISSING) -> Any:
        """An option value, or a clear error naming the dataset when a required one is missing."""
        value = self.opt.get(key, default)
        if value is _MISSING or value is None:
            raise KeyError(f"dataset {self.name} (mode {self.opt.get('mode')}): option '{key}' is required")
        return value

    def source(self, key: str) -> FolderSource | LmdbSource:
        """The images under option ``key``: an LMDB or an image folder (told apart by the path itself)."""
        return open_source(str(self.option(key)))

    def reseed(self, seed: int) -> None:
        """Restart the crop/augmentation random stream (called before every training sample)."""
        self._rng = np.random.default_rng(seed)

    def augment_flags(self) -> tuple[bool, bool, bool]:
        return draw_augment(self.rng, bool(self.opt.get("use_flip", True)), bool(self.opt.get("use_rot", True)))

    @property
    def rng(self) -> np.random.Generator:
        if self._rng is None:
            self._rng = np.random.default_rng(torch.initial_seed())
        return self._rng


def _cut(img: np.ndarray, top: int, left: int, size: int) -> np.ndarray:
    return img[top : top + size, left : left + size]


def _random_crop(source: FolderSource | LmdbSource, key: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A random ``size`` crop of one image, cut inside the LMDB map when its shape is known (no full copy)."""
    shape = source.shape(key)
    if shape is not None:
        top, left = crop_window(shape, size, rng, source.describe(key))
        return source.read(key, lambda img: _cut(img, top, left, size))
    img = source.read(key)
    top, left = crop_window(img.shape, size, rng, source.describe(key))
    return _cut(img, top, left, size)


@DATASET_REGISTRY.register("GT")
class GTDataset(_ImageDataset):
    """HR images only: in the train phase a random ``GT_size`` crop with flips/rotations; else the whole image.

    Returns ``{"GT": (3,H,W) float32 RGB, "GT_path": str}``; LR inputs are synthesised on the fly by the engine.
    """

    provides = ("GT",)
    roots = ("dataroot_GT",)

    def __init__(self, opt: dict[str, Any]) -> None:
        super().__init__(opt)
        self.gt = self.source("dataroot_GT")
        self.keys = self.gt.keys
        if self.phase == "train":
            self.gt_size = int(self.option("GT_size"))
            for key in self.keys:  # LMDB shapes are known up front: fail before training starts
                shape = self.gt.shape(key)
                if shape is not None:
                    check_min_size(shape, self.gt_size, self.gt.describe(key))

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int) -> dict[str, Any]:
        key = self.keys[index]
        if self.phase == "train":
            img = _random_crop(self.gt, key, self.gt_size, self.rng)
            img = apply_augment(to_bgr3(img), self.augment_flags())
        else:
            img = to_bgr3(self.gt.read(key))
            if self.opt.get("scale") is not None:
                img = modcrop(img, int(self.opt["scale"]))
        return {"GT": image_to_tensor(img), "GT_path": self.gt.label(key)}


@DATASET_REGISTRY.register("LQGT")
class LQGTDataset(_ImageDataset):
    """LR/HR pairs matched by base name; the HR image is modcropped to ``scale`` and must be ``scale`` x the LR.

    Returns ``{"LQ", "GT", "LQ_path", "GT_path"}``. In the train phase, aligned random crops (``GT_size`` on
    the HR side) with the same flips/rotations on both.
    """

    default_phase = "val"
    provides = ("LQ", "GT")
    roots = ("dataroot_LQ", "dataroot_GT")

    def __init__(self, opt: dict[str, Any]) -> None:
        super().__init__(opt)
        self.scale = int(self.option("scale"))
        self.gt = self.source("dataroot_GT")
        self.lq = self.source("dataroot_LQ")
        only_gt = sorted(set(self.gt.keys) - set(self.lq.keys))
        only_lq = sorted(set(self.lq.keys) - set(self.gt.keys))
        if only_gt or only_lq:
            raise ValueError(
                f"dataset {self.name}: LR and HR images do not pair by name: HR without LR in {self.gt.root}: "
                f"{_names(only_gt)}; LR without HR in {self.lq.root}: {_names(only_lq)}"
            )
        self.keys = self.gt.keys
        if self.phase == "train":
            self.gt_size = int(self.option("GT_size"))
            if self.gt_size % self.scale:
                raise ValueError(f"dataset {self.name}: GT_size {self.gt_size} is not a multiple of scale {self.scale}")
        for key in self.keys:
            gt_shape, lq_shape = self.gt.shape(key), self.lq.shape(key)
            if gt_shape is not None and lq_shape is not None:
                self._check_pair(key, gt_shape, lq_shape)

    def _check_pair(self, key: str, gt_shape: tuple[int, ...], lq_shape: tuple[int, ...]) -> None:
        s = self.scale
        expected = ((gt_shape[0] // s) * s, (gt_shape[1] // s) * s)
        if (lq_shape[0] * s, lq_shape[1] * s) != expected:
            raise ValueError(
                f"LR {self.lq.describe(key)} is {lq_shape[0]}x{lq_shape[1]} but HR {self.gt.describe(key)} is "
                f"{gt_shape[0]}x{gt_shape[1]}: not a x{s} pair"
            )
        if self.phase == "train":
            check_min_size(lq_shape, self.gt_size // s, self.lq.describe(key))

    def _paired_crop(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """Aligned random crops: ``GT_size // scale`` on the LR image, ``GT_size`` at the matching HR place."""
        s, size = self.scale, self.gt_size // self.scale
        lq_shape, gt_shape = self.lq.shape(key), self.gt.shape(key)
        if lq_shape is not None and gt_shape is not None:  # both LMDB: crop inside the maps
            top, left = crop_window(lq_shape, size, self.rng, self.lq.describe(key))
            lq = self.lq.read(key, lambda img: _cut(img, top, left, size))
            return lq, self.gt.read(key, lambda img: _cut(img, top * s, left * s, size * s))
        lq, gt = self.lq.read(key), self.gt.read(key)
        self._check_pair(key, gt.shape, lq.shape)
        top, left = crop_window(lq.shape, size, self.rng, self.lq.describe(key))
        return _cut(lq, top, left, size), _cut(gt, top * s, left * s, size * s)

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int) -> dict[str, Any]:
        key = self.keys[index]
        if self.phase == "train":
            lq, gt = self._paired_crop(key)
            flags = self.augment_flags()
            lq, gt = apply_augment(to_bgr3(lq), flags), apply_augment(to_bgr3(gt), flags)
        else:
            lq, gt = self.lq.read(key), self.gt.read(key)
            self._check_pair(key, gt.shape, lq.shape)
            lq, gt = to_bgr3(lq), to_bgr3(modcrop(gt, self.scale))
        return {"LQ": image_to_tensor(lq), "GT": image_to_tensor(gt), "LQ_path": self.lq.label(key),
                "GT_path": self.gt.label(key)}


@DATASET_REGISTRY.register("LQ")
class LQDataset(_ImageDataset):
    """LR images only (inference without ground truth). Returns ``{"LQ", "LQ_path"}``."""

    default_phase = "test"
    provides = ("LQ",)
    roots = ("dataroot_LQ",)

    def __init__(self, opt: dict[str, Any]) -> None:
        super().__init__(opt)
        self.lq = self.source("dataroot_LQ")
        self.keys = self.lq.keys

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int) -> dict[str, Any]:
        key = self.keys[index]
        return {"LQ": image_to_tensor(to_bgr3(self.lq.read(key))), "LQ_path": self.lq.label(key)}


def _names(keys: list[str], limit: int = 5) -> str:
    if not keys:
        return "none"
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more
