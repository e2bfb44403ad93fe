"""``accelerate``: the one call that turns a built reference network into the fast one for a device and a use.

Each speed-up replaces a reference module by one that holds the very same layers (so parameter names,
checkpoints and optimizers are untouched) and computes the same values up to float rounding; each has an
equivalence test against the reference network (``tests/accel/``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

import torch
import torch.nn as nn

from ..archs.blocks import DPCAB, DPCAG
from ..archs.dcls_arch import CLS, Restorer
from .attention import FusedDPCAB, InPlaceDPCAG
from .cls import PooledCLS
from .upsampler import FoldedUpsampler, PiecewiseUpsampler

logger = logging.getLogger("dcls")


def _replace(model: nn.Module, wanted: Callable[[nn.Module, nn.Module], bool], make: Callable[[nn.Module], nn.Module],
             swaps: Counter) -> None:
    """Replace every submodule ``child`` of a ``parent`` for which ``wanted(parent, child)`` holds by
    ``make(child)``; count the swaps in ``swaps`` under "<reference> -> <replacement>"."""
    targets = [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
               if wanted(parent, child)]
    for parent, name, child in targets:
        replacement = make(child)
        setattr(parent, name, replacement)
        swaps[f"{type(child).__name__} -> {type(replacement).__name__}"] += 1


def _exactly(cls: type) -> Callable[[nn.Module, nn.Module], bool]:
    """Modules of exactly ``cls``: a user's subclass runs as written."""
    return lambda parent, child: type(child) is cls


def _is_upsampler(parent: nn.Module, child: nn.Module) -> bool:
    """The reference Restorer's sub-pixel stack: convolutions and PixelShuffles only (at x1 it is a single
    convolution: nothing to speed up)."""
    return (type(parent) is Restorer and type(child) is nn.Sequential
            and all(type(m) in (nn.Conv2d, nn.PixelShuffle) for m in child)
            and any(type(m) is nn.PixelShuffle for m in child))


def _is_fused_group(parent: nn.Module, child: nn.Module) -> bool:
    """A reference block group whose blocks have all been fused (so they can update in place)."""
    return type(child) is DPCAG and all(type(block) is FusedDPCAB for block in child.body)


def _channels_last_restorer(model: nn.Module) -> None:
    """Restorer convolution weights channels-last, so its feature maps follow in NHWC, where oneDNN's CPU
    convolutions (and cuDNN's half-precision ones) run faster. The Estimator stays NCHW: its kernel amplifies
    rounding differences."""
    for restorer in [m for m in model.modules() if type(m) is Restorer]:
        for conv in restorer.modules():
            if isinstance(conv, nn.Conv2d):
                conv.weight.data = conv.weight.data.contiguous(memory_format=torch.channels_last)


def accelerate(
    model: nn.Module, device: torch.device | str | None = None, training: bool = False,
    channels_last: bool | None = None,
) -> nn.Module:
    """Move a DCLS network to ``device`` (default: where it is) and swap in the speed-ups for that device and
    use; returns the same (modified) model, in train mode when ``training`` else in eval mode. The log says
    which modules were swapped and how many.

    Only modules of exactly the reference classes are swapped; a subclass of one runs as written.
    Everywhere: attention gates as matrix products and ``x + y * gate`` in one pass; CLS's smoothness
    operator by pooling first. Inference (``training=False``) also: in-place updates inside block groups
    without autograd. On the CPU also: the upsampler folded into one convolution (inference) or evaluated in
    cache-sized pieces (training). ``channels_last``: channels-last Restorer weights (default: on the CPU only).
    Call it once weights are loaded or before an optimizer is built; loading weights afterwards is fine too.
    """
    if device is not None:
        model.to(device)
    on_cpu = next(model.parameters()).device.type == "cpu"
    swaps: Counter = Counter()
    _replace(model, _exactly(DPCAB), FusedDPCAB, swaps)
    _replace(model, _exactly(CLS), PooledCLS, swaps)
    if not training:
        _replace(model, _is_fused_group, InPlaceDPCAG, swaps)
    if on_cpu:
        _replace(model, _is_upsampler, PiecewiseUpsampler if training else FoldedUpsampler, swaps)
    layout = on_cpu if channels_last is None else channels_last
    if layout:
        _channels_last_restorer(model)
    use = "training" if training else "inference"
    done = ", ".join(f"{n} {what}" for what, n in sorted(swaps.items())) or "none (no reference module found)"
    logger.info("speed-ups for %s on %s: %s%s", use, "cpu" if on_cpu else next(model.parameters()).device.type,
                done, "; channels-last Restorer weights" if layout else "")
    return model.train(training)
