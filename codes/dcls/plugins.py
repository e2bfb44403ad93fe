"""``custom_imports``: the modules an options file names are imported before its options are validated, so what
they register (:mod:`dcls.registry`) can be named in the options (mmcv's convention)."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable

from .errors import ConfigError


def import_plugins(modules: Iterable[str]) -> None:
    """Import each module by its dotted name, from the working directory or ``PYTHONPATH``; a module that fails
    to import is a one-line ConfigError naming it. The working directory is put on ``sys.path`` first, where
    console scripts do not put it, and stays there for the plug-ins' own later imports."""
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    for name in modules:
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"custom_imports: expected module names, got {name!r}")
        try:
            importlib.import_module(name)
        except Exception as exc:  # an error of the user's module: name it, in one line
            detail = " ".join(f"{type(exc).__name__}: {exc}".split())
            raise ConfigError(f"custom_imports: cannot import '{name}' ({detail})") from None
