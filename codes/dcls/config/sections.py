"""Validating one section of the options against its schema, and the parts an options file names from a registry
(``{type: <name>, <keyword arguments>}``) against the registered constructor. Keys the original's option files
carry but DCLS does not use are accepted and reported (or refused when their value is not the one DCLS has)."""

from __future__ import annotations

import copy
import difflib
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ConfigError
from ..registry import Registry
from .fields import Field, coerce, signature_schema, suggest

# Keys the original option files carry that DCLS does not use: accepted and ignored.
LEGACY_KEYS: dict[str, frozenset[str]] = {
    "": frozenset({"pca_matrix_path", "is_train", "dist", "model", "distortion"}),
    "degradation": frozenset({"code_length", "rate_cln", "sig", "stored_kernel", "pre_kernel_path", "random_kernel"}),
    "dataset": frozenset({"LR_size", "data_type"}),
}

# Legacy keys DCLS supports with one value only: any other value is an error, not silently ignored.
LEGACY_ONLY_VALUE = {
    ("degradation", "random_kernel"): (True, "DCLS trains on random kernels; false is not supported"),
    ("", "model"): ("blind", "this project trains and tests the blind SR model only"),
    ("", "distortion"): ("sr", "this project does super-resolution only"),
}


def is_legacy(section: str, key: str) -> bool:
    return key in LEGACY_KEYS.get(section, frozenset())


def validate_section(
    data: Any, schema: Mapping[str, Any], prefix: str, section: str, ignored: list[str]
) -> dict[str, Any]:
    """Fill defaults, coerce types and reject unknown keys of one mapping. A schema entry is a Field, a nested
    section (a mapping) or a function ``(data, prefix, ignored) -> value`` that validates its own part."""
    where = prefix.rstrip(".") or "options"
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    for key in data:
        if not isinstance(key, str):
            raise ConfigError(f"{prefix}{key}: option names must be strings")
        if key not in schema:
            if not is_legacy(section, key):
                raise ConfigError(f"{prefix}{key}: unknown option{suggest(key, schema)}")
            only = LEGACY_ONLY_VALUE.get((section, key))
            if only is not None and data[key] != only[0]:
                raise ConfigError(f"{prefix}{key}: {only[1]}")
            ignored.append(f"{prefix}{key}")
    out: dict[str, Any] = {}
    for key, spec in schema.items():
        full = f"{prefix}{key}"
        if callable(spec):
            out[key] = spec(data.get(key), f"{full}.", ignored)
        elif isinstance(spec, Mapping):
            out[key] = validate_section(data.get(key), spec, f"{full}.", key, ignored)
        elif key in data:
            out[key] = coerce(data[key], spec, full)
        elif spec.required:
            raise ConfigError(f"{full}: required option is missing")
        else:
            out[key] = copy.deepcopy(spec.default)
    return out


def registered(registry: Registry, name: Any, key: str) -> Callable[..., Any]:
    """The entry ``name`` of ``registry``, or a ConfigError naming the key and the known entries."""
    if not isinstance(name, str) or name not in registry:
        close = difflib.get_close_matches(str(name), registry.names(), n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ConfigError(f"{key}: unknown {registry.kind} {name!r} ({hint}known: {', '.join(registry.names())}; "
                          "register your own and list its module in custom_imports)")
    return registry.get(name)


def arguments(factory: Callable[..., Any], data: Mapping[str, Any], prefix: str, section: str, ignored: list[str],
               skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """``data`` validated as the keyword arguments of ``factory`` (all of them, defaults filled)."""
    schema = signature_schema(factory, skip)
    if schema is None:  # it takes **kwargs: every key goes through as it is
        return dict(data)
    return validate_section(data, schema, prefix, section, ignored)


def validate_spec(data: Any, registry: Registry, prefix: str, ignored: list[str], *, default_type: str | None = None,
                   skip: tuple[str, ...] = (), section: str = "", extra: Mapping[str, Field] | None = None
                   ) -> dict[str, Any] | None:
    """A ``{type: <registered name>, <keyword arguments>}`` mapping: the type checked against ``registry``, the
    arguments against its constructor (``skip``: set by the run, not the options; ``extra``: keys the run reads
    itself). Absent: None, or the ``default_type`` with its defaults."""
    if data is None and default_type is None:
        return None
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix.rstrip('.')}: expected a mapping with 'type' and its arguments")
    name = data.get("type", default_type)
    if name is None:
        raise ConfigError(f"{prefix}type: required (one of {', '.join(registry.names())})")
    factory = registered(registry, name, f"{prefix}type")
    own = {k: v for k, v in data.items() if k != "type" and k not in (extra or {})}
    out = {"type": name, **validate_section({k: data[k] for k in extra or {} if k in data}, extra or {}, prefix,
                                             section, ignored)}
    return {**out, **arguments(factory, own, prefix, section, ignored, skip)}
