"""DCLS-SR: Deep Constrained Least Squares for Blind Image Super-Resolution, on modern PyTorch.

The Python API (:mod:`dcls.api`) is exported here lazily: ``from dcls import BlindSR`` loads it (and PyTorch's
network code) on first use, so ``import dcls`` stays light and the package's foundations never import it.
"""

__version__ = "0.1.0"

_API = ("BlindSR", "SRResult", "degrade", "gaussian_kernel", "load_image")
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> object:
    """PEP 562: the API's names, imported on first access."""
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
