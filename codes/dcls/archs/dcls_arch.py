"""DCLS network: kernel Estimator (dynamic deep linear kernel) + Restorer (CLS deconvolution, DPCAG body).

Module and parameter names equal the original implementation's, so the authors' released
checkpoints load with ``strict=True``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..ops.fft import cls_deconv
from ..ops.pooled_conv import conv_then_adaptive_pool
from .blocks import DPCAG, initialize_weights, residual_stack
from .registry import ARCH_REGISTRY
from .upsampler import SubPixelUpsampler

# Sizes of the linear conv layers whose composition is the estimated kernel; the receptive field of
# each stack, 1 + sum(f - 1), equals the kernel size.
FILTER_STRUCTURES = {21: (11, 7, 5, 1), 11: (7, 3, 3, 1), 31: (11, 9, 7, 5, 3)}
SUPPORTED_SCALES = (1, 2, 3, 4)


class CLS(nn.Module):
    """Deep constrained least squares: deconvolve reduced features with the kernel and a learned P."""

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

    def smoothness_operator(self, feats: torch.Tensor) -> torch.Tensor:
        """``grad_filter(feats)``, its last 3x3 conv and the pooling after it computed by pooling first."""
        *front, conv, pool, last = self.grad_filter
        for layer in front:
            feats = layer(feats)
        return last(conv_then_adaptive_pool(feats, conv, pool.output_size))

    def forward(self, x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        feats = self.reduce_feature(x)
        grad_kernel = torch.exp(self.smoothness_operator(feats))
        grad_kernel = grad_kernel - grad_kernel.mean(dim=(2, 3), keepdim=True)
        ks = kernel.shape[-1]
        padded = F.pad(feats.contiguous(), (ks, ks, ks, ks), mode="replicate")  # FFTs run faster on NCHW
        clear = cls_deconv(padded, kernel, grad_kernel, crop=ks)
        # Back to the input's layout: else an NCHW result would make the whole CLS path NCHW again on a
        # channels-last Restorer (a layout conversion in every block's first convolution).
        layout = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        return self.expand_feature(clear.contiguous(memory_format=layout))


class Estimator(nn.Module):
    """Predicts a per-sample blur kernel as the impulse response of a predicted linear conv stack."""

    def __init__(
        self, in_nc: int = 3, nf: int = 64, para_len: int = 256, num_blocks: int = 3, kernel_size: int = 21
    ) -> None:
        super().__init__()
        if kernel_size not in FILTER_STRUCTURES:
            raise ValueError(f"kernel_size {kernel_size} is not supported: choose one of {sorted(FILTER_STRUCTURES)}")
        self.filter_structures = FILTER_STRUCTURES[kernel_size]
        self.ksize = kernel_size
        self.G_chan = 16
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

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        batch = lr.shape[0]
        f1 = self.head(lr)
        latent = self.tail(self.body(f1) + f1)
        weights = self._layer_weights(latent)
        impulse = torch.ones(1, batch * self.in_nc, 1, 1, device=lr.device, dtype=lr.dtype)
        k = F.conv2d(impulse, weights[0], padding=self.ksize - 1, groups=batch)
        for w in weights[1:]:
            k = F.conv2d(k, w, groups=batch)
        k = k.reshape(batch, self.in_nc, self.ksize, self.ksize).flip([2, 3]).mean(dim=1, keepdim=True)
        return k / k.sum(dim=(2, 3), keepdim=True)


def _upsampler(nf: int, out_nc: int, scale: int) -> nn.Module:
    if scale == 1:
        return nn.Conv2d(nf, out_nc, 3, 1, 1)
    if scale == 4:
        return SubPixelUpsampler(
            nn.Conv2d(nf, nf * 4, 3, 1, 1),
            nn.PixelShuffle(2),
            nn.Conv2d(nf, nf * 4, 3, 1, 1),
            nn.PixelShuffle(2),
            nn.Conv2d(nf, out_nc, 3, 1, 1),
        )
    return SubPixelUpsampler(
        nn.Conv2d(nf, nf * scale**2, 3, 1, 1), nn.PixelShuffle(scale), nn.Conv2d(nf, out_nc, 3, 1, 1)
    )


class Restorer(nn.Module):
    """Restores the HR image from the LR image and a kernel through CLS and plain feature paths.

    On the CPU its conv weights are kept channels-last, so its feature maps follow in NHWC, where oneDNN's
    convolutions run faster than in NCHW (whole network: 1.2-1.35x forward, 1.1-1.3x per training step;
    benchmarks/bench_core.py, bench_train.py); results agree with NCHW to float rounding. On other devices
    they stay NCHW: cuDNN's float32 convolutions were no faster channels-last on an H100, and NCHW keeps
    CUDA gradients inside the golden tolerances. The Estimator is always NCHW (its kernel amplifies rounding
    differences). The output is contiguous NCHW whatever the layout inside.
    """

    def __init__(
        self, in_nc: int = 3, nf: int = 64, nb: int = 10, ng: int = 5, scale: int = 4, reduction: int = 4
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
        self._set_weight_layout()

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True) -> Restorer:
        """Every move to another device or dtype (``to``, ``cpu``, ``float``...) passes here: re-pick the layout."""
        super()._apply(fn, recurse)
        self._set_weight_layout()
        return self

    def _set_weight_layout(self) -> None:
        for conv in self.modules():
            if isinstance(conv, nn.Conv2d):
                layout = torch.channels_last if conv.weight.device.type == "cpu" else torch.contiguous_format
                if not conv.weight.is_contiguous(memory_format=layout):
                    conv.weight.data = conv.weight.data.contiguous(memory_format=layout)

    def forward(self, lr: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        f = self.conv_first(lr)
        feature = self.feature_block(f)
        plain = self.head1(feature)
        deconvolved = self.head2(feature, kernel)
        for group in self.body:
            deconvolved, plain = group(deconvolved, plain)
        f = self.fusion(torch.cat([plain, deconvolved], dim=1)) + f
        return torch.clamp(self.upscale(f), 0.0, 1.0).contiguous()


@ARCH_REGISTRY.register()
class DCLS(nn.Module):
    """Blind SR network: ``forward(lr) -> (sr, kernel)``; the Restorer sees the kernel detached."""

    def __init__(
        self,
        nf: int = 64,
        nb: int = 10,
        ng: int = 5,
        in_nc: int = 3,
        upscale: int = 4,
        input_para: int = 256,
        kernel_size: int = 21,
        reduction: int = 4,
    ) -> None:
        super().__init__()
        if upscale not in SUPPORTED_SCALES:
            raise ValueError(f"upscale {upscale} is not supported: choose one of {SUPPORTED_SCALES}")
        if nf % reduction or nf // reduction < reduction:
            raise ValueError(f"nf ({nf}) must be a multiple of reduction ({reduction}) and at least its square")
        self.ksize = kernel_size
        self.scale = upscale
        self.Restorer = Restorer(in_nc=in_nc, nf=nf, nb=nb, ng=ng, scale=upscale, reduction=reduction)
        self.Estimator = Estimator(in_nc=in_nc, nf=nf, para_len=input_para, kernel_size=kernel_size)

    def forward(self, lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        kernel = self.Estimator(lr)
        return self.Restorer(lr, kernel.detach()), kernel
