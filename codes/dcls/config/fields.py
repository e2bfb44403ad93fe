"""The types of options: a :class:`Field` per option, checked and coerced (``coerce``), and the fields of a
constructor's keyword arguments read from its signature (``signature_schema``)."""

from __future__ import annotations

import difflib
import inspect
import math
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

_REQUIRED = object()


@dataclass(frozen=True)
class Field:
    """One option: its type (``int``, ``float``, ``bool``, ``str``, ``int_list``, ``float_list``, ``str_list``, or
    ``any``: a constructor's argument of another type, passed on unchanged), default, choices."""

    kind: str
    default: Any = _REQUIRED
    nullable: bool = False
    choices: tuple = ()

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


def option(kind: str, default: Any = _REQUIRED, choices: tuple = ()) -> Field:
    return Field(kind, default, nullable=default is None, choices=choices)


_KINDS = {int: "int", float: "float", bool: "bool", str: "str"}


def signature_schema(factory: Callable[..., Any], skip: tuple[str, ...] = ()) -> dict[str, Field] | None:
    """One option per keyword argument of ``factory`` (a class or function): type from its annotation (int,
    float, bool, str, optionally ``| None``; anything else: passed on unchanged), default from its signature
    (none: required). None when it takes ``**kwargs`` (any keyword goes)."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # annotations a plug-in's module cannot resolve at run time: take every value as it is
        hints = {}
    fields = {}
    for name, param in inspect.signature(factory).parameters.items():
        if param.kind is param.VAR_KEYWORD:
            return None
        if name in skip or param.kind is param.VAR_POSITIONAL:
            continue
        hint = hints.get(name)
        nullable = type(None) in typing.get_args(hint)
        if nullable:
            hint = next((a for a in typing.get_args(hint) if a is not type(None)), None)
        default = _REQUIRED if param.default is inspect.Parameter.empty else param.default
        fields[name] = Field(_KINDS.get(hint, "any"), default, nullable=nullable or default is None or hint is None)
    return fields


def coerce(value: Any, field: Field, key: str) -> Any:
    """Check ``value`` against ``field`` and return it in canonical form (e.g. ``2e3`` -> ``2000``)."""
    if value is None:
        if field.nullable:
            return None
        raise ConfigError(f"{key}: must be set (got null)")
    kind = field.kind
    if kind == "any":
        return value
    if kind.endswith("_list"):
        if not isinstance(value, (list, tuple)):
            value = [value]
        item = Field(kind[: -len("_list")])
        return [coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    out = _coerce_scalar(value, kind, key)
    if field.choices and out not in field.choices:
        options = ", ".join(str(c) for c in field.choices)
        raise ConfigError(f"{key}: {out!r} is not one of {options}")
    return out


def _coerce_scalar(value: Any, kind: str, key: str) -> Any:
    if kind == "bool":
        if isinstance(value, bool):
            return value
    elif kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif kind == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            # PyYAML reads exponents without a dot (``4e-4``) as strings.
            try:
                parsed = float(value)
            except ValueError:
                pass
            else:
                if math.isfinite(parsed):
                    return parsed
    elif kind == "str":
        if isinstance(value, str):
            return value
    else:
        raise AssertionError(f"unknown option kind {kind}")
    raise ConfigError(f"{key}: expected {kind}, got {type(value).__name__} {value!r}")


def suggest(key: str, schema: Mapping[str, Any]) -> str:
    """A ``did you mean`` hint for a misspelled key."""
    close = difflib.get_close_matches(key, list(schema), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
