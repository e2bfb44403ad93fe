"""``accelerate``: the one call that turns a built reference network into the fast one for a device and a use.

Each speed-up replaces a reference module by one that holds the very same layers (so parameter names,
checkpoints and optimizers are untouched) and computes the same values up to float rounding; each has an
equivalence test against the reference network (``tests/accel/``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from ..archs.blocks import DPCAB, DPCAG
from ..archs.dcls_arch import CLS, Estimator, Restorer
from .attention import FusedDPCAB, InPlaceDPCAG
from .cls import PooledCLS
from .precision import Float32KernelEstimator
from .upsampler import FoldedUpsampler, PiecewiseUpsampler


def _replace(model: nn.Module, wanted: Callable[[nn.Module], bool], make: Callable[[nn.Module], nn.Module]) -> int:
    """Replace every submodule for which ``wanted`` holds by ``make(submodule)``; return how many."""
    targets = [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
               if wanted(child)]
    for parent, name, child in targets:
        setattr(parent, name, make(child))
    return len(targets)


def _is_upsampler(module: nn.Module) -> bool:
    """The Restorer's sub-pixel stack (at x1 it is a single convolution: nothing to speed up)."""
    return type(module) is nn.Sequential and any(isinstance(m, nn.PixelShuffle) for m in module)


def _channels_last_restorer(model: nn.Module) -> None:
    """Restorer convolution weights channels-last, so its feature maps follow in NHWC, where oneDNN's CPU
    convolutions (and cuDNN's half-precision ones) run faster. The Estimator stays NCHW: its kernel amplifies
    rounding differences."""
    for restorer in [m for m in model.modules() if isinstance(m, Restorer)]:
        for conv in restorer.modules():
            if isinstance(conv, nn.Conv2d):
                conv.weight.data = conv.weight.data.contiguous(memory_format=torch.channels_last)


def accelerate(
    model: nn.Module, device: torch.device | str | None = None, training: bool = False,
    channels_last: bool | None = None,
) -> nn.Module:
    """Move a DCLS network to ``device`` (default: where it is) and swap in the speed-ups for that device and
    use; returns the same (modified) model, in train mode when ``training`` else in eval mode.

    Everywhere: attention gates as matrix products and ``x + y * gate`` in one pass; CLS's smoothness
    operator by pooling first; the kernel synthesis and the CLS solve in float32 under autocast
    (:mod:`.precision`). Inference (``training=False``) also: in-place updates inside block groups without
    autograd. On the CPU also: the upsampler folded into one convolution (inference) or evaluated in
    cache-sized pieces (training). ``channels_last``: channels-last Restorer weights (default: on the CPU only).
    Call it once weights are loaded or before an optimizer is built; loading weights afterwards is fine too.
    """
    if device is not None:
        model.to(device)
    on_cpu = next(model.parameters()).device.type == "cpu"
    _replace(model, lambda m: type(m) is DPCAB, FusedDPCAB)
    _replace(model, lambda m: type(m) is CLS, PooledCLS)
    _replace(model, lambda m: type(m) is Estimator, Float32KernelEstimator)
    if not training:
        _replace(model, lambda m: type(m) is DPCAG, InPlaceDPCAG)
    if on_cpu:
        _replace(model, _is_upsampler, PiecewiseUpsampler if training else FoldedUpsampler)
    if on_cpu if channels_last is None else channels_last:
        _channels_last_restorer(model)
    return model.train(training)
