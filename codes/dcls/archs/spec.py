"""What a DCLS model is, in one place: the paper's sizes, the kernel size of each setting and scale, the
filter structures of the kernel estimator, and the configuration a state_dict was made with."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import torch


@dataclass(frozen=True)
class PaperSizes:
    """Widths and depths of every published model."""

    nf: int = 64
    nb: int = 10
    ng: int = 5
    in_nc: int = 3
    input_para: int = 256
    reduction: int = 4


PAPER = PaperSizes()

SETTING_KERNEL_SIZES: dict[int, dict[int, int]] = {1: {2: 21, 3: 21, 4: 21}, 2: {2: 11, 4: 31}, 3: {4: 21}}
"""Kernel size of the model of each setting and scale: 1 isotropic and 2 anisotropic Gaussian blur (the paper's),
3 realistic degradations (blur of several shapes, noise, JPEG: this project's, docs/realistic.md)."""

FILTER_STRUCTURES: dict[int, tuple[int, ...]] = {21: (11, 7, 5, 1), 11: (7, 3, 3, 1), 31: (11, 9, 7, 5, 3)}
"""Sizes of the linear conv layers whose composition is the estimated kernel: ``1 + sum(f - 1)`` is the
kernel size."""

GROUP_CHANNELS = 16
"""Hidden channels of the estimator's per-sample linear conv stack."""

SUPPORTED_SCALES = (1, 2, 3, 4)


def kernel_size_for(setting: int, scale: int) -> int:
    """Kernel size of setting 1, 2 or 3 at ``scale``; ValueError for a combination that has no model."""
    sizes = SETTING_KERNEL_SIZES.get(setting, {})
    if scale not in sizes:
        raise ValueError(f"setting {setting} has no x{scale} model (setting 1: x2/x3/x4, setting 2: x2/x4, "
                         "setting 3: x4)")
    return sizes[scale]


def published_config(setting: int, scale: int) -> dict[str, int]:
    """``DCLS`` keyword arguments of the model of ``setting`` at ``scale`` (every setting at the paper's sizes)."""
    return {**asdict(PAPER), "upscale": scale, "kernel_size": kernel_size_for(setting, scale)}


def setting_of(config: Mapping[str, int]) -> int | None:
    """The setting a configuration's scale and kernel size belong to, if any (the first: setting 3's x4 model has
    the shapes of setting 1's)."""
    for setting, sizes in SETTING_KERNEL_SIZES.items():
        if sizes.get(config.get("upscale", -1)) == config.get("kernel_size"):
            return setting
    return None


def _indices(state_dict: Mapping[str, torch.Tensor], pattern: str) -> set[int]:
    return {int(m.group(1)) for key in state_dict if (m := re.fullmatch(pattern, key))}


def recognise(state_dict: Mapping[str, torch.Tensor]) -> dict[str, int]:
    """The ``DCLS`` keyword arguments a state_dict was made with, read from its names and shapes.

    ValueError when it is not a DCLS state_dict (e.g. another network's weights).
    """
    first = state_dict.get("Restorer.conv_first.weight")
    plain = state_dict.get("Restorer.head1.weight")
    decoders = sorted(_indices(state_dict, r"Estimator\.dec\.(\d+)\.weight"))
    if first is None or plain is None or not decoders:
        raise ValueError("not a DCLS state_dict (no Restorer.conv_first, Restorer.head1 or Estimator.dec weights)")
    nf, in_nc = int(first.shape[0]), int(first.shape[1])
    if "Restorer.upscale.4.weight" in state_dict:
        scale = 4
    elif "Restorer.upscale.0.weight" in state_dict:
        scale = round(math.sqrt(state_dict["Restorer.upscale.0.weight"].shape[0] / nf))
    else:
        scale = 1
    last = decoders[-1]
    sizes = []
    for i in decoders:
        fan = GROUP_CHANNELS * (in_nc if i in (0, last) else GROUP_CHANNELS)
        sizes.append(round(math.sqrt(state_dict[f"Estimator.dec.{i}.weight"].shape[0] / fan)))
    return {
        "nf": nf,
        "nb": len(_indices(state_dict, r"Restorer\.body\.0\.body\.(\d+)\..*")),
        "ng": len(_indices(state_dict, r"Restorer\.body\.(\d+)\..*")),
        "in_nc": in_nc,
        "upscale": scale,
        "input_para": int(state_dict[f"Estimator.dec.{decoders[0]}.weight"].shape[1]),
        "kernel_size": 1 + sum(s - 1 for s in sizes),
        "reduction": nf // int(plain.shape[0]),
    }


def describe(config: Mapping[str, int]) -> str:
    """A short human description of a configuration, e.g. ``x4 setting 1 (kernel 21), nf 64, nb 10, ng 5``."""
    setting = setting_of(config)
    where = f"setting {setting} " if setting else ""
    head = f"x{config.get('upscale', '?')} {where}(kernel {config.get('kernel_size', '?')})"
    sizes = ", ".join(f"{k} {config[k]}" for k in ("nf", "nb", "ng", "input_para") if k in config)
    return f"{head}, {sizes}" if sizes else head
