"""Building blocks of DCLS: plain residual block, channel attention, dual-path attention blocks."""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn import init


def initialize_weights(module: nn.Module, scale: float = 1.0) -> None:
    """Kaiming-normal (fan_in) weights times ``scale`` and zero biases for every conv/linear layer."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            m.weight.data.mul_(scale)
            if m.bias is not None:
                m.bias.data.zero_()


class ResidualBlockNoBN(nn.Module):
    """``x + conv(lrelu(conv(x)))``; initialised at ``init_scale`` (0.1 by default, so deep stacks start near
    identity) times Kaiming scale."""

    def __init__(self, nf: int = 64, init_scale: float = 0.1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv2 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.relu = nn.LeakyReLU(0.1, inplace=True)
        initialize_weights(self, init_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.relu(self.conv1(x)))


def residual_stack(nf: int, n_blocks: int, init_scale: float = 0.1) -> nn.Sequential:
    return nn.Sequential(*[ResidualBlockNoBN(nf, init_scale) for _ in range(n_blocks)])


class CALayer(nn.Module):
    """Channel attention: global average pool, 1x1 squeeze/excite, sigmoid gate, product."""

    def __init__(self, channel: int, reduction: int = 4) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_du = nn.Sequential(
            nn.Conv2d(channel, channel // reduction, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channel // reduction, channel, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv_du(self.avg_pool(x))


def _conv_lrelu_conv(nf: int, ksize: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(nf, nf, ksize, 1, ksize // 2),
        nn.LeakyReLU(0.1, inplace=True),
        nn.Conv2d(nf, nf, ksize, 1, ksize // 2),
    )


class DPCAB(nn.Module):
    """Dual-path channel-attention block over [deconvolved features (nf1), plain features (nf2)]:
    ``x0 + CA(conv(lrelu(cat[f1, f2])))`` and ``x1 + CA(f2)``, with ``f1``, ``f2`` each path's conv pair."""

    def __init__(self, nf1: int, nf2: int, ksize1: int = 3, ksize2: int = 3, reduction: int = 4) -> None:
        super().__init__()
        self.body1 = _conv_lrelu_conv(nf1, ksize1)
        self.body2 = _conv_lrelu_conv(nf2, ksize2)
        self.CA_body1 = nn.Sequential(
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(nf1 + nf2, nf1, ksize1, 1, ksize1 // 2),
            CALayer(nf1, reduction),
        )
        self.CA_body2 = CALayer(nf2, reduction)

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f1 = self.body1(x0)
        f2 = self.body2(x1)
        return x0 + self.CA_body1(torch.cat([f1, f2], dim=1)), x1 + self.CA_body2(f2)


class DPCAG(nn.Module):
    """A group of ``nb`` DPCAB blocks whose output is doubled on both paths.

    The original meant a group residual (``y = x + blocks(x)``), but its blocks update the input list
    in place, so ``x`` already *is* the blocks' output and the sum doubles it. The published weights
    were trained with that doubling, so it is reproduced here on purpose.
    """

    def __init__(self, nf1: int, nf2: int, ksize1: int, ksize2: int, nb: int) -> None:
        super().__init__()
        self.body = nn.ModuleList([DPCAB(nf1, nf2, ksize1, ksize2) for _ in range(nb)])

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for block in self.body:
            x0, x1 = block(x0, x1)
        return 2 * x0, 2 * x1
