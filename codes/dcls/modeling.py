"""The one way a network is made ready to run: built from the options, weights loaded, moved to a device and,
unless switched off (``accel: false``, ``--no-accel``), sped up (:func:`dcls.accel.accelerate`). Training,
testing, ``dcls-sr``, the Python API and the page all call :func:`build_model`."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from .accel import accelerate as speed_up
from .archs import build_network
from .archs.spec import describe, recognise
from .errors import CheckpointError
from .weights import load_network, read_state_dict

logger = logging.getLogger("dcls")


def build_model(
    network: Mapping[str, Any], device: torch.device | str, *, weights: str | os.PathLike | None = None,
    strict: bool = True, training: bool = False, accelerate: bool = True, channels_last: bool | None = None,
) -> nn.Module:
    """The architecture ``network["which_model_G"]`` built with ``network["setting"]``, with ``weights`` loaded
    (checked against the network: a mismatch is a one-line CheckpointError that says what the checkpoint is),
    on ``device``, in train or eval mode. With ``accelerate`` the speed-up layer swaps in its faster modules
    (and logs which); without it the reference network runs exactly as written in :mod:`dcls.archs`."""
    model = build_network(network["which_model_G"], network["setting"])
    if weights is not None:
        try:
            report = load_network(model, weights, strict=strict)
        except CheckpointError as exc:
            found = _recognised(weights)
            if found is None or not strict:
                raise
            raise CheckpointError(f"{exc}. The checkpoint is {describe(found)}") from None
        logger.info("loaded weights %s%s", weights, "" if report.clean else " (non-strict)")
    if accelerate:
        return speed_up(model, device, training=training, channels_last=channels_last)
    logger.info("speed-ups off: the reference network runs as written")
    return model.to(device).train(training)


def _recognised(checkpoint: str | os.PathLike) -> dict[str, int] | None:
    """The DCLS configuration of a readable checkpoint, else None."""
    try:
        return recognise(read_state_dict(checkpoint))
    except (CheckpointError, ValueError):
        return None
