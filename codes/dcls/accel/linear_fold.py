"""Fold a stack of 'same' convolutions and PixelShuffles (no nonlinearity) into one convolution.

Such a stack maps LR features to an r-times larger output linearly and shift-equivariantly (one LR pixel in,
r x r output pixels): it is one convolution on the LR grid with r^2 output channels per output channel,
followed by a single PixelShuffle(r). For DCLS's x4 upsampler that is a 5x5 conv, 64 -> 48 channels: 10x
fewer multiply-adds than the stack. Only the outputs of the outermost LR pixels differ, because the stack
zero-pads each intermediate map at its own resolution.
"""

from __future__ import annotations

import math
from fractions import Fraction

import torch
import torch.nn as nn
import torch.nn.functional as F


def stack_geometry(layers: list[nn.Module]) -> tuple[int, int]:
    """(upscale factor, reach): how far, in LR pixels, an output depends on the input on each side."""
    factor, reach = 1, Fraction(0)
    for layer in layers:
        if isinstance(layer, nn.PixelShuffle):
            factor *= layer.upscale_factor
        else:
            reach += Fraction(layer.padding[0], factor)
    return factor, math.ceil(reach)


def _run(layers: list[nn.Module], x: torch.Tensor, with_bias: bool) -> torch.Tensor:
    for layer in layers:
        if isinstance(layer, nn.PixelShuffle):
            x = F.pixel_shuffle(x, layer.upscale_factor)
        else:
            bias = layer.bias.to(x.dtype) if with_bias and layer.bias is not None else None
            x = F.conv2d(x, layer.weight.to(x.dtype), bias, padding=layer.padding)
    return x


@torch.no_grad()
def fold_linear_stack(layers: list[nn.Module], dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Weight (out * r^2, in, 2 reach + 1, 2 reach + 1), bias and r of the equivalent LR-grid convolution.

    Read off in float64 from the stack's responses to one impulse per input channel (without biases) and to
    a zero input (with them), at the centre of a map just large enough to hold the whole response.
    """
    factor, reach = stack_geometry(layers)
    channels, size = layers[0].in_channels, 2 * reach + 1
    device = layers[0].weight.device
    impulses = torch.zeros(channels, channels, size, size, dtype=torch.float64, device=device)
    impulses[torch.arange(channels), torch.arange(channels), reach, reach] = 1.0
    response = _run(layers, impulses, with_bias=False)  # (in, out, size * r, size * r)
    out_channels = response.shape[1]
    response = response.view(channels, out_channels, size, factor, size, factor)
    # the output at LR offset d before the impulse is the tap at d: flip the offsets, phases to channels
    weight = response.flip(2, 4).permute(1, 3, 5, 0, 2, 4).reshape(out_channels * factor**2, channels, size, size)
    zero = torch.zeros(1, channels, size, size, dtype=torch.float64, device=device)
    offsets = _run(layers, zero, with_bias=True)[0].view(out_channels, size, factor, size, factor)
    bias = offsets[:, reach, :, reach, :].reshape(-1)
    return weight.to(dtype).contiguous(memory_format=torch.channels_last), bias.to(dtype), factor
