"""The CLS module with its smoothness operator computed by pooling first, and its FFTs on NCHW maps."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..archs.dcls_arch import CLS
from ..ops.fft import cls_deconv
from ..ops.pooled_conv import conv_then_adaptive_pool
from ..ops.precision import float32_region, upcast


class PooledCLS(nn.Module):
    """A :class:`~dcls.archs.dcls_arch.CLS` (the same layers and parameter names) that computes the last 3x3
    conv of ``grad_filter`` and the adaptive pooling after it as a few small matrix products (both are
    linear: :func:`~dcls.ops.pooled_conv.conv_then_adaptive_pool`), runs the FFTs on NCHW maps (faster)
    and in float32 (also under autocast), and hands its features back in its input's memory layout (a
    channels-last Restorer stays channels-last).
    """

    def __init__(self, reference: CLS) -> None:
        super().__init__()
        self.reduce_feature = reference.reduce_feature
        self.grad_filter = reference.grad_filter
        self.expand_feature = reference.expand_feature

    def smoothness_operator(self, feats: torch.Tensor) -> torch.Tensor:
        """``grad_filter(feats)``, its last 3x3 conv and the pooling after it computed by pooling first."""
        *front, conv, pool, last = self.grad_filter
        for layer in front:
            feats = layer(feats)
        return last(conv_then_adaptive_pool(feats, conv, pool.output_size))

    def forward(self, x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        feats = self.reduce_feature(x)
        operator = self.smoothness_operator(feats)
        with float32_region(x.device):  # the solve divides by a small spectrum: float32 under autocast too
            smoothness = torch.exp(upcast(operator))
            smoothness = smoothness - smoothness.mean(dim=(2, 3), keepdim=True)
            ks = kernel.shape[-1]
            padded = F.pad(upcast(feats).contiguous(), (ks, ks, ks, ks), mode="replicate")
            clear = cls_deconv(padded, upcast(kernel), smoothness, crop=ks)
        layout = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        return self.expand_feature(clear.contiguous(memory_format=layout))
