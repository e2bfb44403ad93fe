"""``custom_imports``: the modules an options file names are imported before its options are validated, so what
they register (:mod:`dcls.registry`) can be named in the options (mmcv's convention)."""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from .errors import ConfigError


def import_from(name: str, directory: str | os.PathLike) -> ModuleType:
    """Import the module ``name`` (dotted); a top-level module or package that ``sys.path`` does not hold is
    looked up in ``directory`` instead (console scripts do not put the working directory on the path)."""
    head = name.split(".")[0]
    if head not in sys.modules and importlib.util.find_spec(head) is None:
        spec = importlib.machinery.PathFinder.find_spec(head, [str(Path(directory))])
        if spec is not None:  # a module, a package, or a namespace package (no loader to run)
            module = importlib.util.module_from_spec(spec)
            sys.modules[head] = module
            try:
                if spec.loader is not None:
                    spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[head]
                raise
    return importlib.import_module(name)


def import_plugins(modules: Iterable[str]) -> None:
    """Import each module by its dotted name, from ``PYTHONPATH`` or the working directory; a module that fails to
    import is a one-line ConfigError naming it."""
    for name in modules:
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"custom_imports: expected module names, got {name!r}")
        try:
            import_from(name, os.getcwd())
        except Exception as exc:  # an error of the user's module: name it, in one line
            detail = " ".join(f"{type(exc).__name__}: {exc}".split())
            raise ConfigError(f"custom_imports: cannot import '{name}' ({detail})") from None
