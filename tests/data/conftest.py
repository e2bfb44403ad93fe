"""Fixtures for the data tests: small synthetic photographs on disk and a runner for the scripts/ tools."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def smooth_photo(height: int, width: int, seed: int, channels: int = 3, dtype=np.uint8) -> np.ndarray:
    """A random image with structure at several scales (not white noise), full range of ``dtype``."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((height // 6 + 2, width // 6 + 2, channels)).astype(np.float32)
    img = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC).reshape(height, width, channels)
    img = np.clip(0.8 * img + 0.2 * rng.random((height, width, channels)), 0, 1)
    out = (img * np.iinfo(dtype).max).round().astype(dtype)
    return out[:, :, 0] if channels == 1 else out


@pytest.fixture
def photo() -> Callable[..., np.ndarray]:
    """``photo(h, w, seed, channels=3, dtype=np.uint8)``: a deterministic synthetic photograph."""
    return smooth_photo


@pytest.fixture
def photo_folder(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A folder of PNGs covering 8/16 bit and 1/3 channels, with the arrays written (keyed by base name)."""
    images = {
        "rgb8": smooth_photo(40, 52, 1),
        "gray8": smooth_photo(36, 44, 2, channels=1),
        "rgb16": smooth_photo(30, 34, 3, dtype=np.uint16),
        "gray16": smooth_photo(28, 30, 4, channels=1, dtype=np.uint16),
    }
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, img in images.items():
        assert cv2.imwrite(str(folder / f"{name}.png"), img)
    return folder, images


@pytest.fixture
def run_script() -> Callable[..., subprocess.CompletedProcess]:
    """Run ``python scripts/<name> args...`` as a user would (dcls importable from codes/)."""

    def run(name: str, *args: object) -> subprocess.CompletedProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "codes"), env.get("PYTHONPATH")) if p)
        return subprocess.run(
            [sys.executable, str(REPO / "scripts" / name), *map(str, args)],
            capture_output=True, text=True, timeout=300, env=env, cwd=REPO,
        )

    return run


@pytest.fixture
def script_main() -> Callable[[str], Callable[[list[str]], int]]:
    """``script_main(name)``: the ``main(argv)`` of ``scripts/<name>``, run in this process (no interpreter start)."""

    def load(name: str) -> Callable[[list[str]], int]:
        return runpy.run_path(str(REPO / "scripts" / name))["main"]

    return load
