"""The sub-pixel upsampler (3x3 convs and PixelShuffles, no nonlinearity) evaluated cheaply on the CPU.

:class:`FoldedUpsampler` (inference): the stack is one convolution on the LR grid (:mod:`.linear_fold`),
10x fewer multiply-adds at x4; the outputs of the outermost LR pixels, where the stack's own zero padding
matters, are recomputed exactly from thin strips. :class:`PiecewiseUpsampler` (training): at x4 the widest
intermediate (256 channels at twice the LR size) is tens of MB per sample; evaluated in pieces (a few
samples of the batch, or bands of output rows of one sample with the halo rows its 3x3 convolutions need),
the intermediates stay in cache. Both equal the plain layers up to float rounding, and both are
``Sequential``s of the very same layers, so parameter names stay ``upscale.<i>.*``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .linear_fold import fold_linear_stack, stack_geometry

PIECE_BYTES = 12 * 2**20
"""Largest intermediate per piece on the training path: about a third of a typical L3 cache."""


class FoldedUpsampler(nn.Sequential):
    """Inference: the layers folded into one LR-grid convolution, refolded whenever the weights change.

    While autograd records (gradients must reach the real layers) and for inputs too small for the edge
    strips, it runs the layers as they are.
    """

    def __init__(self, reference: nn.Sequential) -> None:
        super().__init__(*reference)
        self._fold_cache: tuple | None = None
        self._strip = 1 + stack_geometry(list(self))[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() or min(x.shape[-2:]) < 2 * self._strip:
            return super().forward(x).contiguous()
        weight, bias, factor = self._folded(x.dtype)
        out = F.pixel_shuffle(F.conv2d(x, weight, bias, padding=weight.shape[-1] // 2), factor)
        whole, strip = super().forward, self._strip
        out[:, :, :factor] = whole(x[:, :, :strip])[:, :, :factor]
        out[:, :, -factor:] = whole(x[:, :, -strip:])[:, :, -factor:]
        out[:, :, :, :factor] = whole(x[:, :, :, :strip])[:, :, :, :factor]
        out[:, :, :, -factor:] = whole(x[:, :, :, -strip:])[:, :, :, -factor:]
        return out.contiguous()

    def _folded(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, int]:
        """The folded weight, bias and factor, folded again when the weights differ from the ones last folded
        (compared by value: writes through ``.data`` bump no version counter) or the dtype changed."""
        params = list(self.parameters())
        cached = self._fold_cache
        if (
            cached is None
            or cached[0] != dtype
            or not all(a.shape == b.shape and torch.equal(a, b) for a, b in zip(cached[1], params))
        ):
            snapshot = [p.detach().clone() for p in params]
            cached = self._fold_cache = (dtype, snapshot, *fold_linear_stack(list(self), dtype))
        return cached[2], cached[3], cached[4]


def rows_needed(layers: list[nn.Module], heights: list[int], lo: int, hi: int) -> list[tuple[int, int]]:
    """Working backwards, the rows each layer must output so the last layer yields rows [lo, hi).

    ``heights[i]`` is layer i's output height. A 'same' conv needs ``padding`` more input rows each side
    (clipped at the image: there its zero padding is the image's own); a shuffle by r needs rows / r.
    Returns the first layer's input rows, then each layer's output rows.
    """
    spans = [(lo, hi)]
    for layer, height in zip(reversed(layers), reversed(heights)):
        if isinstance(layer, nn.PixelShuffle):
            lo, hi = lo // layer.upscale_factor, -(-hi // layer.upscale_factor)
        else:
            lo, hi = max(lo - layer.padding[0], 0), min(hi + layer.padding[0], height)
        spans.append((lo, hi))
    return spans[::-1]


class PiecewiseUpsampler(nn.Sequential):
    """Training: the layers on pieces of at most ``piece_bytes`` per intermediate (batch chunks, else row bands)."""

    def __init__(self, reference: nn.Sequential, piece_bytes: int = PIECE_BYTES) -> None:
        super().__init__(*reference)
        self.piece_bytes = piece_bytes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        heights, sample_bytes = self._shapes(x)
        whole = super().forward
        if x.shape[0] * sample_bytes <= self.piece_bytes:
            out = whole(x)
        elif sample_bytes <= self.piece_bytes:
            out = torch.cat([whole(part) for part in x.split(int(self.piece_bytes // sample_bytes))])
        else:
            out = torch.cat([self._in_bands(sample, heights, sample_bytes) for sample in x.split(1)])
        return out.contiguous()

    def _shapes(self, x: torch.Tensor) -> tuple[list[int], int]:
        """Each layer's output height, and the bytes of the largest intermediate of one sample."""
        heights, largest = [], 0
        channels, height, width = x.shape[1:]
        for layer in self:
            if isinstance(layer, nn.PixelShuffle):
                channels //= layer.upscale_factor**2
                height, width = height * layer.upscale_factor, width * layer.upscale_factor
            else:
                channels = layer.out_channels
            heights.append(height)
            largest = max(largest, channels * height * width * x.element_size())
        return heights, largest

    def _in_bands(self, x: torch.Tensor, heights: list[int], sample_bytes: int) -> torch.Tensor:
        """One sample in bands of output rows; each band a whole number of input rows (less halo work)."""
        out_height = heights[-1]
        scale = out_height // x.shape[-2]
        band = int(self.piece_bytes * out_height // sample_bytes)
        band = max(scale, band - band % scale)
        bands = [self._band(x, heights, lo, min(lo + band, out_height)) for lo in range(0, out_height, band)]
        return torch.cat(bands, dim=2)

    def _band(self, x: torch.Tensor, heights: list[int], lo: int, hi: int) -> torch.Tensor:
        """Output rows [lo, hi): each layer runs on the rows it needs, plus at most its padding each side."""
        spans = rows_needed(list(self), heights, lo, hi)
        y, first = x[:, :, spans[0][0] : spans[0][1]], spans[0][0]
        for layer, (start, stop) in zip(self, spans[1:]):
            y = layer(y)
            if isinstance(layer, nn.PixelShuffle):
                first *= layer.upscale_factor
            y, first = y[:, :, start - first : stop - first], start
        return y
