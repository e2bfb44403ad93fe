"""Which torch device to run on, from what the user asked for: cpu, cuda or cuda:N, else CUDA when available."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from ..errors import ConfigError

logger = logging.getLogger("dcls")


def choose_device(requested: str | None, gpu_ids: Sequence[int] | None = None,
                  index: int | None = None) -> torch.device:
    """The device ``requested`` (cpu, cuda or cuda:N; a ``--device`` or options value), or CUDA when available, else
    the CPU; ConfigError (one line) for anything else.

    ``gpu_ids`` of the original option files picks the CUDA device of a plain ``cuda`` and is ignored on a machine
    without CUDA; ``index`` (the local rank) wins in distributed runs.
    """
    kind, _, number = (requested or "").partition(":")
    if number and not number.isdigit():
        raise ConfigError(f"--device {requested}: expected cpu, cuda or cuda:N")
    kind = kind or ("cuda" if torch.cuda.is_available() else "cpu")
    if kind == "cpu":
        return torch.device("cpu")
    if kind != "cuda":
        raise ConfigError(f"device: '{kind}' is not one of cpu, cuda")
    if not torch.cuda.is_available():
        raise ConfigError("device: cuda requested but CUDA is not available (use --device cpu)")
    count = torch.cuda.device_count()
    if index is None and number:
        index = int(number)
    if index is None:
        index = gpu_ids[0] if gpu_ids else 0
        if index >= count:
            logger.warning("gpu_ids %s: only %d CUDA device(s) visible; using cuda:0", list(gpu_ids or []), count)
            index = 0
        if gpu_ids and len(gpu_ids) > 1:
            logger.info("single-process run uses cuda:%d only; use torchrun for several GPUs", index)
    return torch.device("cuda", index % count)
