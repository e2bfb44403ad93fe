"""One tiny name -> class registry, so YAML can select architectures, datasets and losses by name."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

T = TypeVar("T")


class Registry:
    """Maps names to classes or factories; ``build`` instantiates one from a config mapping."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., Any]] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator: register the decorated class/function under ``name`` (default: its own name)."""

        def decorate(obj: T) -> T:
            key = name or obj.__name__  # type: ignore[attr-defined]
            if key in self._entries:
                raise KeyError(f"{self.kind} '{key}' is registered twice")
            self._entries[key] = obj  # type: ignore[assignment]
            return obj

        return decorate

    def get(self, name: str) -> Callable[..., Any]:
        if name not in self._entries:
            known = ", ".join(sorted(self._entries)) or "none"
            raise KeyError(f"unknown {self.kind} '{name}' (known: {known})")
        return self._entries[name]

    def build(self, name: str, **kwargs: Any) -> Any:
        """Instantiate the entry ``name`` with keyword arguments taken verbatim from the config."""
        return self.get(name)(**kwargs)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return sorted(self._entries)

