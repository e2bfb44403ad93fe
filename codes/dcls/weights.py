"""Network weights on disk: a bare ``state_dict`` written atomically and loaded safely (``weights_only``, CPU).

A weights file holds only tensors; a ``module.`` prefix (Data/DistributedDataParallel) and a wrapping under
``params``/``state_dict``/``model`` are accepted on reading. Used by training, testing and inference alike.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from .archs.spec import describe, recognise
from .errors import CheckpointError
from .utils.image_io import atomic_write_bytes

logger = logging.getLogger("dcls")

WRAPPER_KEYS = ("params", "state_dict", "model")


@dataclass
class LoadReport:
    """What did not line up when loading a state_dict non-strictly."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)


def unwrap(model: nn.Module) -> nn.Module:
    """The bare network inside a DistributedDataParallel/DataParallel wrapper."""
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model


def torch_save_atomic(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file, then rename: a kill never leaves a truncated checkpoint."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def torch_load_safe(path: str | os.PathLike) -> Any:
    """``torch.load`` on the CPU with ``weights_only=True``; unreadable files are a CheckpointError."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint not found") from None
    except Exception as exc:  # truncated zip, pickle of arbitrary objects, ...
        raise CheckpointError(f"{path}: cannot load checkpoint ({' '.join(str(exc).split())[:200]})") from None


def strip_module_prefix(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove the ``module.`` prefix (Data/DistributedDataParallel) from every key that has it."""
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state_dict.items()}


def save_network(model: nn.Module, path: str | os.PathLike) -> None:
    """Save the bare network's ``state_dict`` (CPU tensors, no ``module.`` prefix), atomically."""
    state = {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()}
    torch_save_atomic(state, path)


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A network state_dict from a file: bare, ``module.``-prefixed, or wrapped under params/state_dict."""
    obj = torch_load_safe(path)
    if isinstance(obj, Mapping):
        for key in WRAPPER_KEYS:
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: not a network state_dict")
    return strip_module_prefix(obj)


def _configuration(state_dict: Mapping[str, torch.Tensor]) -> dict[str, int] | None:
    """The DCLS configuration of a state_dict, or None for another network's."""
    try:
        return recognise(state_dict)
    except ValueError:
        return None


def load_network(model: nn.Module, path: str | os.PathLike, strict: bool = True) -> LoadReport:
    """Load weights into ``model`` (any ``module.`` prefix stripped) on the CPU, then copy to its device.

    A checkpoint made for another scale or kernel size is a CheckpointError naming both settings; other
    shape or key differences are an error when ``strict`` and are skipped and reported otherwise.
    """
    net = unwrap(model)
    loaded = read_state_dict(path)
    expected = net.state_dict()
    ours, theirs = _configuration(expected), _configuration(loaded)
    differs = [label for key, label in (("upscale", "scale"), ("kernel_size", "kernel size"))
               if ours and theirs and ours[key] != theirs[key]]
    if differs:
        raise CheckpointError(
            f"{path}: checkpoint is for {describe(theirs)} but the options build {describe(ours)}"
            f" ({' and '.join(differs)} {'differ' if len(differs) > 1 else 'differs'}:"
            " pick the checkpoint of this scale/setting)"
        )
    report = LoadReport(
        missing=[k for k in expected if k not in loaded],
        unexpected=[k for k in loaded if k not in expected],
        mismatched=[
            f"{k} {tuple(loaded[k].shape)} vs {tuple(v.shape)}"
            for k, v in expected.items()
            if k in loaded and loaded[k].shape != v.shape
        ],
    )
    if strict and not report.clean:
        raise CheckpointError(f"{path}: does not match the network ({_summary(report)})")
    if not report.clean:
        logger.warning("%s: loaded non-strictly, skipped %s", path, _summary(report))
    usable = {k: v for k, v in loaded.items() if k in expected and v.shape == expected[k].shape}
    net.load_state_dict(usable, strict=False)
    return report


def _summary(report: LoadReport, limit: int = 3) -> str:
    parts = []
    for label, items in (("missing", report.missing), ("unexpected", report.unexpected),
                         ("shape mismatch", report.mismatched)):
        if items:
            more = f" and {len(items) - limit} more" if len(items) > limit else ""
            parts.append(f"{label}: {', '.join(items[:limit])}{more}")
    return "; ".join(parts)
