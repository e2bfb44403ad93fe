"""A valid convolution followed by adaptive average pooling, computed by pooling first.

Both are linear, so each pooled output is the conv weights contracted with the means of the input windows
its taps read. For CLS's smoothness operator (3x3 conv over a ~90x90 map, pooled to 3x3) that is a few
small matrix products instead of a convolution over the whole map.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn as nn
from torch.nn.modules.utils import _pair


@lru_cache(maxsize=32)
@torch.inference_mode(False)
def _window_means(length: int, bins: int, taps: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(bins * taps, length + taps - 1): row ``b * taps + t`` averages the input positions that tap ``t``
    reads for adaptive-pooling bin ``b`` of a valid conv's ``length`` outputs (PyTorch's bin edges).

    Made outside inference mode even when first asked for inside it: the cached matrix is reused by later
    calls, and autograd cannot save an inference tensor for backward."""
    bin_index = torch.arange(bins)
    starts = (bin_index * length) // bins
    ends = -((-(bin_index + 1) * length) // bins)
    shift = torch.arange(taps)
    position = torch.arange(length + taps - 1)
    lo = (starts[:, None] + shift[None, :])[..., None]
    hi = (ends[:, None] + shift[None, :])[..., None]
    inside = (position >= lo) & (position < hi)
    means = inside.to(torch.float64) / (ends - starts).to(torch.float64)[:, None, None]
    return means.flatten(0, 1).to(device=device, dtype=dtype)


def conv_then_adaptive_pool(x: torch.Tensor, conv: nn.Conv2d, output_size: int | tuple[int, int]) -> torch.Tensor:
    """``adaptive_avg_pool2d(conv(x), output_size)`` for a stride-1, unpadded, undilated, ungrouped ``conv``."""
    if conv.stride != (1, 1) or conv.padding != (0, 0) or conv.dilation != (1, 1) or conv.groups != 1:
        raise ValueError("conv_then_adaptive_pool needs a plain valid convolution")
    (kh, kw), (oh, ow) = conv.kernel_size, _pair(output_size)
    batch, channels, height, width = x.shape
    rows = _window_means(height - kh + 1, oh, kh, x.dtype, x.device)  # (oh * kh, height)
    cols = _window_means(width - kw + 1, ow, kw, x.dtype, x.device)  # (ow * kw, width)
    means = rows @ (cols @ x.permute(0, 2, 3, 1)).flatten(2)  # (batch, oh * kh, ow * kw * channels)
    means = means.view(batch, oh, kh, ow, kw, channels).permute(0, 1, 3, 5, 2, 4).reshape(batch, oh * ow, -1)
    out = means @ conv.weight.reshape(conv.out_channels, -1).t()
    if conv.bias is not None:
        out = out + conv.bias
    return out.transpose(1, 2).reshape(batch, conv.out_channels, oh, ow)
