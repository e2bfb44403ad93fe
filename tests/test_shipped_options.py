"""The shipped option files hold only keys DCLS reads: the original's unused keys are gone from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcls.config import load_options

OPTIONS_DIR = Path(__file__).resolve().parents[1] / "options"
OPTIONS = sorted(OPTIONS_DIR.rglob("*.yml"))


def _is_train_file(path: Path) -> bool:
    """Train options live in a ``train`` folder or are named ``train_*``; everything else is test options."""
    if "train" in path.relative_to(OPTIONS_DIR).parts[:-1] or path.name.startswith("train"):
        return True
    if "test" in path.relative_to(OPTIONS_DIR).parts[:-1] or path.name.startswith("test"):
        return False
    raise AssertionError(f"{path}: cannot tell train from test options (folder or name prefix train/test)")


def test_options_are_shipped() -> None:
    assert OPTIONS, f"no options file under {OPTIONS_DIR}"


@pytest.mark.parametrize("path", OPTIONS, ids=lambda p: str(p.relative_to(OPTIONS_DIR)))
def test_shipped_options_validate_without_ignored_keys(path: Path) -> None:
    """Ignored (legacy) keys would mislead a reader into thinking they do something; ``degradation`` is exempt."""
    _, ignored = load_options(path, is_train=_is_train_file(path), check_paths=False)
    outside = [key for key in ignored if key.split(".")[0] != "degradation"]
    assert not outside, f"{path.name}: keys DCLS ignores: {outside}"
