"""DCLS network: kernel Estimator (dynamic deep linear kernel) + Restorer (CLS deconvolution, DPCAG body).

Module and parameter names equal the original implementation's, so the authors' released
checkpoints load with ``strict=True``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..ops.fft import cls_deconv
from ..ops.precision import float32_region, upcast
from ..registry import ESTIMATOR_REGISTRY
from .blocks import DPCAG, initialize_weights, residual_stack
from .registry import ARCH_REGISTRY
from .spec import FILTER_STRUCTURES, GROUP_CHANNELS, PAPER, SUPPORTED_SCALES


class CLS(nn.Module):
    """Deep constrained least squares: deconvolve reduced features with the kernel and a learned smoothness
    operator P (one 3x3 filter per sample and channel), then expand them back. The solve divides by a small
    spectrum, so it runs in float32 under mixed precision too."""

    def __init__(self, nf: int, reduction: int = 4) -> None:
        super().__init__()
        c = nf // reduction
        self.reduce_feature = nn.Conv2d(nf, c, 1, 1, 0)
        self.grad_filter = nn.Sequential(
            nn.Conv2d(c, c, 3),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(c, c, 3),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(c, c, 3),
            nn.AdaptiveAvgPool2d((3, 3)),
            nn.Conv2d(c, c, 1),
        )
        self.expand_feature = nn.Conv2d(c, nf, 1, 1, 0)

    def forward(self, x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        feats = self.reduce_feature(x)
        operator = self.grad_filter(feats)
        with float32_region(x.device):
            smoothness = torch.exp(upcast(operator))
            smoothness = smoothness - smoothness.mean(dim=(2, 3), keepdim=True)
            ks = kernel.shape[-1]
            padded = F.pad(upcast(feats), (ks, ks, ks, ks), mode="replicate")
            clear = cls_deconv(padded, upcast(kernel), smoothness, crop=ks)
        return self.expand_feature(clear)


@ESTIMATOR_REGISTRY.register()
class Estimator(nn.Module):
    """Predicts a per-sample blur kernel as the impulse response of a predicted linear conv stack (the paper's
    estimator). Its feature layers follow autocast; the kernel synthesis and normalisation run in float32."""

    def __init__(
        self, in_nc: int = PAPER.in_nc, nf: int = PAPER.nf, para_len: int = PAPER.input_para, num_blocks: int = 3,
        kernel_size: int = 21,
    ) -> None:
        super().__init__()
        if kernel_size not in FILTER_STRUCTURES:
            raise ValueError(f"kernel_size {kernel_size} is not supported: choose one of {sorted(FILTER_STRUCTURES)}")
        self.filter_structures = FILTER_STRUCTURES[kernel_size]
        self.ksize = kernel_size
        self.G_chan = GROUP_CHANNELS
        self.in_nc = in_nc
        self.head = nn.Sequential(nn.Conv2d(in_nc, nf, 7, 1, 3))
        self.body = nn.Sequential(residual_stack(nf, num_blocks))
        self.tail = nn.Sequential(
            nn.Conv2d(nf, nf, 3),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(nf, nf, 3),
            nn.AdaptiveAvgPool2d((1, 1)),
            nn.Conv2d(nf, para_len, 1),
            nn.Flatten(),
        )
        last = len(self.filter_structures) - 1
        self.dec = nn.ModuleList(
            nn.Linear(para_len, self.G_chan * (in_nc if i in (0, last) else self.G_chan) * f**2)
            for i, f in enumerate(self.filter_structures)
        )
        initialize_weights(self, 1.0)

    def _layer_weights(self, latent: torch.Tensor) -> list[torch.Tensor]:
        """Grouped conv weights of every layer of the per-sample linear stack."""
        batch, g, c = latent.shape[0], self.G_chan, self.in_nc
        last = len(self.filter_structures) - 1
        shapes = [
            (batch * g, c) if i == 0 else (batch * c, g) if i == last else (batch * g, g) for i in range(last + 1)
        ]
        return [dec(latent).reshape(*shape, f, f) for dec, shape, f in zip(self.dec, shapes, self.filter_structures)]

    def latent(self, lr: torch.Tensor) -> torch.Tensor:
        """The (B, para_len) code of each sample's kernel."""
        f1 = self.head(lr)
        return self.tail(self.body(f1) + f1)

    def synthesize(self, latent: torch.Tensor) -> torch.Tensor:
        """The (B, 1, k, k) kernels of the codes: impulse response of the decoded linear stack, normalised to sum 1."""
        batch = latent.shape[0]
        weights = self._layer_weights(latent)
        impulse = torch.ones(1, batch * self.in_nc, 1, 1, device=latent.device, dtype=latent.dtype)
        k = F.conv2d(impulse, weights[0], padding=self.ksize - 1, groups=batch)
        for w in weights[1:]:
            k = F.conv2d(k, w, groups=batch)
        k = k.reshape(batch, self.in_nc, self.ksize, self.ksize).flip([2, 3]).mean(dim=1, keepdim=True)
        return k / k.sum(dim=(2, 3), keepdim=True)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        latent = self.latent(lr)
        with float32_region(lr.device):
            return self.synthesize(upcast(latent))


def _upsampler(nf: int, out_nc: int, scale: int) -> nn.Module:
    """Sub-pixel upsampling: (conv to 4 nf, PixelShuffle 2) twice at x4, one conv to s^2 nf and PixelShuffle s
    at x2/x3, then a conv to the image channels (a single conv at x1)."""
    if scale == 1:
        return nn.Conv2d(nf, out_nc, 3, 1, 1)
    if scale == 4:
        return nn.Sequential(
            nn.Conv2d(nf, nf * 4, 3, 1, 1),
            nn.PixelShuffle(2),
            nn.Conv2d(nf, nf * 4, 3, 1, 1),
            nn.PixelShuffle(2),
            nn.Conv2d(nf, out_nc, 3, 1, 1),
        )
    return nn.Sequential(nn.Conv2d(nf, nf * scale**2, 3, 1, 1), nn.PixelShuffle(scale), nn.Conv2d(nf, out_nc, 3, 1, 1))


class Restorer(nn.Module):
    """Restores the HR image from the LR image and its kernel: a CLS-deconvolved path and a plain path through
    ``ng`` groups of dual-path attention blocks, fused, upsampled and clamped to [0, 1]."""

    def __init__(
        self, in_nc: int = PAPER.in_nc, nf: int = PAPER.nf, nb: int = PAPER.nb, ng: int = PAPER.ng, scale: int = 4,
        reduction: int = PAPER.reduction,
    ) -> None:
        super().__init__()
        nf2 = nf // reduction
        self.conv_first = nn.Conv2d(in_nc, nf, 3, 1, 1)
        self.feature_block = residual_stack(nf, 3)
        self.head1 = nn.Conv2d(nf, nf2, 3, 1, 1)
        self.head2 = CLS(nf, reduction=reduction)
        self.body = nn.ModuleList(DPCAG(nf, nf2, 3, 3, nb) for _ in range(ng))
        self.fusion = nn.Conv2d(nf + nf2, nf, 3, 1, 1)
        self.upscale = _upsampler(nf, in_nc, scale)

    def forward(self, lr: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        return torch.clamp(self.unclamped(lr, kernel), 0.0, 1.0)

    def unclamped(self, lr: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        """The HR image before the final clamp to [0, 1]."""
        f = self.conv_first(lr)
        feature = self.feature_block(f)
        plain = self.head1(feature)
        deconvolved = self.head2(feature, kernel)
        for group in self.body:
            deconvolved, plain = group(deconvolved, plain)
        f = self.fusion(torch.cat([plain, deconvolved], dim=1)) + f
        return self.upscale(f)


@ARCH_REGISTRY.register()
class DCLS(nn.Module):
    """Blind SR network: ``forward(lr) -> (sr, kernel)``; the Restorer sees the kernel detached.

    ``estimator``: ``{type: <registered estimator>, <its keyword arguments>}``, built with ``kernel_size`` added;
    default (None) the paper's :class:`Estimator` of the network's width, which released checkpoints fit.
    """

    def __init__(
        self,
        nf: int = PAPER.nf,
        nb: int = PAPER.nb,
        ng: int = PAPER.ng,
        in_nc: int = PAPER.in_nc,
        upscale: int = 4,
        input_para: int = PAPER.input_para,
        kernel_size: int = 21,
        reduction: int = PAPER.reduction,
        estimator: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if upscale not in SUPPORTED_SCALES:
            raise ValueError(f"upscale {upscale} is not supported: choose one of {SUPPORTED_SCALES}")
        if nf % reduction or nf // reduction < reduction:
            raise ValueError(f"nf ({nf}) must be a multiple of reduction ({reduction}) and at least its square")
        self.ksize = kernel_size
        self.scale = upscale
        self.Restorer = Restorer(in_nc=in_nc, nf=nf, nb=nb, ng=ng, scale=upscale, reduction=reduction)
        if estimator is None:
            self.Estimator = Estimator(in_nc=in_nc, nf=nf, para_len=input_para, kernel_size=kernel_size)
        else:
            self.Estimator = ESTIMATOR_REGISTRY.build_spec(estimator, kernel_size=kernel_size)

    def forward(self, lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        kernel = self.Estimator(lr)
        return self.Restorer(lr, kernel.detach()), kernel
