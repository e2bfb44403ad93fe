"""Dual-path attention blocks with fewer passes over the feature maps (same values as the reference blocks).

- The channel-attention gate: the 1x1 squeeze/excite convolutions act on pooled vectors, so they run as two
  matrix products instead of two convolutions.
- ``x + y * gate`` in one pass (``addcmul``) instead of a product and then a sum over the whole map.
- Inference only: the blocks of a group after the first update the group's own intermediates in place
  (the group's inputs are never written), which saves two fresh feature maps per block.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..archs.blocks import DPCAB, DPCAG, CALayer


def channel_gate(attention: CALayer, x: torch.Tensor) -> torch.Tensor:
    """The (B, C, 1, 1) sigmoid weights of a channel-attention layer, its 1x1 convs as matrix products."""
    squeeze, _, excite, _ = attention.conv_du
    pooled = attention.avg_pool(x).flatten(1)
    hidden = F.relu(F.linear(pooled, squeeze.weight.flatten(1), squeeze.bias))
    return torch.sigmoid(F.linear(hidden, excite.weight.flatten(1), excite.bias))[..., None, None]


class FusedDPCAB(nn.Module):
    """A :class:`~dcls.archs.blocks.DPCAB` (the same layers, so the same parameter names) computed with
    matrix-product gates and ``addcmul``; with ``reuse_inputs`` the results are written into ``x0``, ``x1``."""

    def __init__(self, reference: DPCAB) -> None:
        super().__init__()
        self.body1, self.body2 = reference.body1, reference.body2
        self.CA_body1, self.CA_body2 = reference.CA_body1, reference.CA_body2

    def forward(
        self, x0: torch.Tensor, x1: torch.Tensor, reuse_inputs: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        f1 = self.body1(x0)
        f2 = self.body2(x1)
        activate, fuse, attention = self.CA_body1
        fused = fuse(activate(torch.cat([f1, f2], dim=1)))
        gate0, gate1 = channel_gate(attention, fused), channel_gate(self.CA_body2, f2)
        if reuse_inputs:
            return x0.addcmul_(fused, gate0), x1.addcmul_(f2, gate1)
        return torch.addcmul(x0, fused, gate0), torch.addcmul(x1, f2, gate1)


class InPlaceDPCAG(nn.Module):
    """A :class:`~dcls.archs.blocks.DPCAG` of :class:`FusedDPCAB` blocks for inference: blocks after the first,
    and the doubling, update the group's own intermediates in place. While autograd records, every result
    is a new tensor (in-place updates would corrupt the saved activations).

    Forward hooks that keep a block's outputs must clone them, as for the outputs of the convolutions that
    in-place LeakyReLUs follow.
    """

    def __init__(self, reference: DPCAG) -> None:
        super().__init__()
        self.body = reference.body

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        in_place = not torch.is_grad_enabled()
        for i, block in enumerate(self.body):
            x0, x1 = block(x0, x1, reuse_inputs=in_place and i > 0)
        if in_place and len(self.body):
            return x0.mul_(2), x1.mul_(2)
        return 2 * x0, 2 * x1
