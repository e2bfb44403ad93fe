"""Options files: YAML in the original DCLS schema, with declared defaults and types and strict validation.

Every option has a declared type and default (``SCHEMA``); an unknown or misspelled key, a wrong type or a
missing data path is a :class:`ConfigError` whose one-line message names the key or file. What the options
name from a registry (:mod:`dcls.registry`: ``network_G``, its ``setting.estimator``, ``degradation``,
``train.losses``, each dataset's ``mode``) is checked against the registered constructor: keyword names, and
the types of int/float/bool/str arguments, are read from its signature; other values (lists, mappings) reach
it unchanged. The modules in ``custom_imports`` are imported first, so what they register can be named.
Keys the original reads but DCLS never uses (``pca_matrix_path``, ``code_length``, ...) are accepted and
ignored, so the original's option files work unchanged apart from their data paths. Validated options are
read-only (mappings and tuples).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ConfigError
from ..plugins import import_plugins
from ..utils.frozen import freeze
from . import checks
from .fields import coerce, signature_schema
from .files import apply_overrides, dump_options, parse_override, read_yaml
from .schema import SCHEMA, TRAIN_SECTIONS
from .sections import validate_section

__all__ = ["apply_overrides", "dump_options", "load_options", "parse_override", "read_yaml", "signature_schema",
           "validate"]


def validate(data: Mapping[str, Any], is_train: bool, check_paths: bool = True) -> tuple[Mapping[str, Any], list[str]]:
    """Import ``custom_imports``, then validate raw options; return the complete options (defaults filled,
    derived keys set), read-only, and the ignored keys."""
    if not isinstance(data, Mapping):
        raise ConfigError("options: expected a mapping at the top level")
    imports = coerce(data.get("custom_imports", []), SCHEMA["custom_imports"], "custom_imports")
    import_plugins(imports)
    ignored: list[str] = []
    schema = dict(SCHEMA)
    if not is_train:
        for section in TRAIN_SECTIONS:
            if section not in data:
                del schema[section]
    opt = validate_section(data, schema, "", "", ignored)
    checks.check_consistency(opt, is_train)
    checks.derive(opt, is_train)
    if check_paths:
        checks.check_paths(opt)
    return freeze(opt), ignored


def load_options(
    path: str | os.PathLike, is_train: bool, overrides: Iterable[str] = (), check_paths: bool = True
) -> tuple[Mapping[str, Any], list[str]]:
    """Read, override and validate an options file; return (options, ignored legacy keys)."""
    raw = apply_overrides(read_yaml(path), overrides)
    return validate(raw, is_train, check_paths=check_paths)
