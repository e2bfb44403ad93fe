"""Building blocks of DCLS: plain residual block, channel attention, dual-path attention blocks."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
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
    """``x + conv(lrelu(conv(x)))``; initialised at 0.1 scale so deep stacks start near identity."""

    def __init__(self, nf: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv2 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.relu = nn.LeakyReLU(0.1, inplace=True)
        initialize_weights(self, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.relu(self.conv1(x)))


def residual_stack(nf: int, n_blocks: int) -> nn.Sequential:
    return nn.Sequential(*[ResidualBlockNoBN(nf) for _ in range(n_blocks)])


class CALayer(nn.Module):
    """Channel attention: global average pool, 1x1 squeeze/excite, sigmoid gate."""

    def __init__(self, channel: int, reduction: int = 4) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_du = nn.Sequential(
            nn.Conv2d(channel, channel // reduction, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channel // reduction, channel, 1),
            nn.Sigmoid(),
        )

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The (B, C, 1, 1) sigmoid weights; the 1x1 convs on pooled vectors run as matrix products (cheaper)."""
        squeeze, _, excite, _ = self.conv_du
        pooled = self.avg_pool(x).flatten(1)
        hidden = F.relu(F.linear(pooled, squeeze.weight.flatten(1), squeeze.bias))
        return torch.sigmoid(F.linear(hidden, excite.weight.flatten(1), excite.bias))[..., None, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


def _conv_lrelu_conv(nf: int, ksize: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(nf, nf, ksize, 1, ksize // 2),
        nn.LeakyReLU(0.1, inplace=True),
        nn.Conv2d(nf, nf, ksize, 1, ksize // 2),
    )


class DPCAB(nn.Module):
    """Dual-path channel-attention block over [deconvolved features (nf1), plain features (nf2)]."""

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

    def forward(
        self, x0: torch.Tensor, x1: torch.Tensor, reuse_inputs: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x0 + attended fusion, x1 + attended f2)``; with ``reuse_inputs`` (no autograd) written into x0 and
        x1, which saves two fresh feature maps per block (used by DPCAG on its own intermediates)."""
        f1 = self.body1(x0)
        f2 = self.body2(x1)
        activate, fuse, attention = self.CA_body1
        fused = fuse(activate(torch.cat([f1, f2], dim=1)))
        gate0, gate1 = attention.gate(fused), self.CA_body2.gate(f2)
        # x + y * gate in one pass (addcmul) instead of a product then a sum over the whole feature map.
        if reuse_inputs:
            return x0.addcmul_(fused, gate0), x1.addcmul_(f2, gate1)
        return torch.addcmul(x0, fused, gate0), torch.addcmul(x1, f2, gate1)


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
        # Without autograd, blocks after the first update the group's own intermediates in place (measured
        # 1.5% of a CPU forward); the group's inputs are never written. Hooks that keep a block's outputs must
        # clone them, as for the outputs of convolutions followed by the in-place LeakyReLUs.
        in_place = not torch.is_grad_enabled()
        for i, block in enumerate(self.body):
            x0, x1 = block(x0, x1, reuse_inputs=in_place and i > 0)
        if in_place and len(self.body):
            return x0.mul_(2), x1.mul_(2)
        return 2 * x0, 2 * x1
