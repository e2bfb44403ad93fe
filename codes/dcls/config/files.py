"""Options files on disk: reading YAML safely, ``--set key.sub=value`` overrides, and writing the complete options
of a run back (atomically)."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from ..utils.image_io import atomic_write_bytes


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` -> (["a", "b", "c"], value), the value read as YAML (``~`` is null)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text}: expected key.sub=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {text}: value is not valid YAML ({_first_line(exc)})") from None
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Set each ``key.sub=value`` in a copy of the raw options, creating sections as needed."""
    data = copy.deepcopy(data)
    for text in overrides:
        keys, value = parse_override(text)
        node = data
        for i, k in enumerate(keys[:-1]):
            child = node.get(k)
            if child is None:
                child = node[k] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {text}: '{'.'.join(keys[: i + 1])}' is not a section")
            node = child
        node[keys[-1]] = value
    return data


def _first_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read an options file with ``yaml.safe_load``; unreadable or malformed files are a ConfigError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: options file not found") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read options file ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: invalid YAML ({_first_line(exc)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping of options at the top level")
    return data


def dump_options(opt: Mapping[str, Any], path: str | os.PathLike, header: str = "") -> None:
    """Write the complete options as YAML (atomically); the file validates and reruns as it is."""
    text = yaml.safe_dump(_plain(opt), sort_keys=False, default_flow_style=None)
    prefix = "".join(f"# {line}\n" for line in header.splitlines())
    atomic_write_bytes(path, (prefix + text).encode("utf-8"))


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj
