"""Shared fixtures: the reference-output directory, and skipping GPU-marked tests without CUDA."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


class GoldenDir:
    """``$DCLS_GOLDEN_DIR`` (default ``../shared/golden``, relative paths from the repo root).

    A missing directory or file fails the test that asks for it: it is never skipped.
    """

    def __init__(self) -> None:
        path = Path(os.environ.get("DCLS_GOLDEN_DIR", "../shared/golden"))
        self.path = path if path.is_absolute() else (REPO_ROOT / path).resolve()

    def load(self, name: str) -> object:
        file = self.path / name
        if not file.is_file():
            pytest.fail(f"golden reference {file} is missing (set DCLS_GOLDEN_DIR to the reference directory)")
        return torch.load(file, weights_only=True)

    def load_json(self, name: str) -> object:
        file = self.path / name
        if not file.is_file():
            pytest.fail(f"golden reference {file} is missing (set DCLS_GOLDEN_DIR to the reference directory)")
        return json.loads(file.read_text())

    def files(self, pattern: str) -> list[Path]:
        found = sorted(self.path.glob(pattern))
        if not found:
            pytest.fail(f"no golden reference matches {self.path / pattern}")
        return found


@pytest.fixture(scope="session")
def golden() -> GoldenDir:
    return GoldenDir()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked ``gpu`` when CUDA is absent (and only then)."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
