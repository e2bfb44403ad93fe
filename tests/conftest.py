"""Shared fixtures: the reference-output directory, and skipping GPU-marked tests without CUDA."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_GOLDEN_DIR = "tests/golden/data"


class GoldenDir:
    """``$DCLS_GOLDEN_DIR`` (default ``tests/golden/data``, shipped with the repo; relative paths from the repo root).

    Another directory of the same file names and formats, with other cases, can be swapped in to check the
    project. A missing directory or file fails the test that asks for it: it is never skipped.
    """

    def __init__(self) -> None:
        path = Path(os.environ.get("DCLS_GOLDEN_DIR") or DEFAULT_GOLDEN_DIR)
        self.path = path if path.is_absolute() else (REPO_ROOT / path).resolve()

    def _require_dir(self) -> None:
        if not self.path.is_dir():
            pytest.fail(f"golden reference directory {self.path} does not exist (DCLS_GOLDEN_DIR)")

    def _file(self, name: str) -> Path:
        self._require_dir()
        file = self.path / name
        if not file.is_file():
            pytest.fail(f"golden reference {file} is missing")
        return file

    def load(self, name: str) -> object:
        return torch.load(self._file(name), weights_only=True)

    def load_json(self, name: str) -> object:
        return json.loads(self._file(name).read_text())

    def files(self, pattern: str) -> list[Path]:
        self._require_dir()
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
