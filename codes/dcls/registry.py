"""Name -> class registries: what an options file can name, built-in or registered from a module of one's own.

A plug-in module registers with ``@ESTIMATOR_REGISTRY.register()`` (or any other registry below) and is named
in the options' ``custom_imports`` list, so it is imported before the options are validated (docs/extending.md).
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from typing import Any, Callable, TypeVar

from .errors import ConfigError
from .utils.frozen import thaw

T = TypeVar("T")


class Registry:
    """Maps names to classes or factories; ``build`` instantiates one with keyword arguments from the options."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., Any]] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator: register the decorated class/function under ``name`` (default: its own name). The same
        definition registered again (its module imported anew) replaces the old entry; another one is an error."""

        def decorate(obj: T) -> T:
            key = name or obj.__name__  # type: ignore[attr-defined]
            old = self._entries.get(key)
            if old is not None and _qualified_name(old) != _qualified_name(obj):
                raise KeyError(f"{self.kind} '{key}' is registered twice ({_qualified_name(old)} and "
                               f"{_qualified_name(obj)})")
            self._entries[key] = obj  # type: ignore[assignment]
            return obj

        return decorate

    def get(self, name: str) -> Callable[..., Any]:
        """The entry ``name``; KeyError naming the known ones when there is none."""
        if name not in self._entries:
            known = ", ".join(sorted(self._entries)) or "none"
            raise KeyError(f"unknown {self.kind} '{name}' (known: {known})")
        return self._entries[name]

    def build(self, name: str, **kwargs: Any) -> Any:
        """Instantiate the entry ``name`` with keyword arguments from the options (as plain YAML values: read-only
        options are thawed); an argument it does not take is a one-line ConfigError naming it ("did you mean")."""
        factory = self.get(name)
        check_keywords(factory, kwargs, f"{self.kind} {name}")
        return factory(**thaw(kwargs))

    def build_spec(self, spec: Mapping[str, Any], **fixed: Any) -> Any:
        """Instantiate ``{type: <name>, <keyword arguments>}`` with ``fixed`` arguments added (e.g. the scale)."""
        if not isinstance(spec, Mapping) or "type" not in spec:
            raise ConfigError(f"{self.kind}: expected a mapping with 'type' (one of {', '.join(self.names())})")
        kwargs = {k: v for k, v in spec.items() if k != "type"}
        clash = sorted(set(kwargs) & set(fixed))
        if clash:
            raise ConfigError(f"{self.kind} {spec['type']}: '{clash[0]}' is set by the run, not in its options")
        try:
            return self.build(str(spec["type"]), **kwargs, **fixed)
        except KeyError as exc:
            raise ConfigError(str(exc).strip("'\"")) from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return sorted(self._entries)


def check_keywords(factory: Callable[..., Any], kwargs: Mapping[str, Any], where: str) -> None:
    """ConfigError for a keyword ``factory`` does not take (unless it takes ``**kwargs``) or a required one
    missing; values are not checked here (their types are the constructor's business)."""
    params = inspect.signature(factory).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    named = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for key in kwargs:
        if key not in named:
            close = difflib.get_close_matches(str(key), named, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (it takes: {', '.join(named) or 'none'})"
            raise ConfigError(f"{where}: unknown argument '{key}'{hint}")
    for name in named:
        if params[name].default is inspect.Parameter.empty and name not in kwargs:
            raise ConfigError(f"{where}: required argument '{name}' is missing")


def _qualified_name(obj: object) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


ARCH_REGISTRY = Registry("architecture")
"""``network_G.which_model_G``: ``forward(lr) -> (sr, kernel)``; built with ``network_G.setting``."""
ESTIMATOR_REGISTRY = Registry("estimator")
"""``network_G.setting.estimator.type``: ``forward(lr) -> kernel (B, 1, k, k)``; built with ``kernel_size``."""
LOSS_REGISTRY = Registry("loss")
"""``train.losses[i].type``: a module whose forward takes some of ``sr, hr, kernel, batch`` by name."""
DEGRADATION_REGISTRY = Registry("degradation")
"""``degradation.type``: ``__call__(hr, rng) -> DegradedBatch``; built with the run's ``scale``."""
DATASET_REGISTRY = Registry("dataset")
"""``datasets.<phase>.mode``: a torch Dataset built with that phase's option dict."""
