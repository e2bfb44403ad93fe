"""Fixtures for the inference tests: a tiny random-weight DCLS checkpoint and a folder of awkward images."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from dcls.archs import DCLS

TINY = {"nf": 16, "nb": 1, "ng": 1, "input_para": 16}
SCALE = 4


def _tiny_model(seed: int = 0) -> DCLS:
    torch.manual_seed(seed)
    return DCLS(upscale=SCALE, kernel_size=21, **TINY).eval()


def _photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random BGR uint8 'photograph' (structure at several scales, not white noise)."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((height // 8 + 1, width // 8 + 1, 3)).astype(np.float32)
    img = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    img += 0.15 * cv2.GaussianBlur(rng.random((height, width, 3)).astype(np.float32), (3, 3), 1.0)
    return np.clip(img * 200, 0, 255).astype(np.uint8)


@pytest.fixture
def tiny_model() -> DCLS:
    """A tiny x4 setting-1 DCLS with fixed random weights (the one in ``tiny_checkpoint``)."""
    return _tiny_model()


@pytest.fixture(scope="session")
def tiny_args() -> list[str]:
    """inference.py arguments describing the tiny network (without the checkpoint)."""
    return ["--scale", str(SCALE), "--setting", "1"] + [a for k, v in TINY.items() for a in (f"--{k}", str(v))]


@pytest.fixture(scope="session")
def make_photo():
    """``make_photo(h, w, seed)``: a smooth random BGR uint8 'photograph'."""
    return _photo


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny DCLS saved the way DataParallel training saves it (``module.`` prefix)."""
    path = tmp_path_factory.mktemp("ckpt") / "tiny_x4.pth"
    torch.save({f"module.{k}": v for k, v in _tiny_model().state_dict().items()}, path)
    return path


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """A large-ish JPEG photo, a grey PNG, an RGBA PNG, a 16-bit PNG and a corrupt 'PNG'."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    img = _photo(120, 168)
    cv2.imwrite(str(folder / "photo.jpg"), img)
    cv2.imwrite(str(folder / "grey.png"), cv2.cvtColor(img[:40, :52], cv2.COLOR_BGR2GRAY))
    alpha = np.tile(np.linspace(0, 255, 36).astype(np.uint8), (28, 1))
    cv2.imwrite(str(folder / "rgba.png"), np.dstack([img[:28, :36], alpha]))
    deep = (img[:32, :44].astype(np.uint16) * 257 + np.arange(44, dtype=np.uint16)[None, :, None] * 3)
    cv2.imwrite(str(folder / "deep16.png"), deep)
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a PNG")
    return folder


@pytest.fixture(scope="session")
def missing():
    """``missing(what)`` for a tool the CI installs (``.ci/run``): fails the test under CI (``$CI`` set), where
    its absence is a broken setup, and skips it elsewhere."""

    def report(what: str) -> None:
        if os.environ.get("CI"):
            pytest.fail(f"not installed: {what} (.ci/run installs it)")
        pytest.skip(f"not installed: {what} (.ci/run installs it; under CI this fails)")

    return report
