"""EMA weights: an exponential moving average of the network's weights, updated after every optimisation step.

``ema = decay * ema + (1 - decay) * weights`` for every parameter (buffers are copied). The average is a
second network with the same names, so ``models/<iter>_G_ema.pth`` loads wherever ``<iter>_G.pth`` does.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class ModelEMA:
    """The EMA copy of ``model`` (a network of the same architecture, built by the caller) and its decay."""

    def __init__(self, model: nn.Module, average: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.model, self.average, self.decay = model, average, decay
        self.average.requires_grad_(False)
        averaged = dict(average.named_parameters())
        self._pairs = [(averaged[name], param) for name, param in model.named_parameters()]
        self.copy_weights()

    @torch.no_grad()
    def copy_weights(self) -> None:
        """Make the average equal to the current weights (at the start of a run)."""
        self.average.load_state_dict(self.model.state_dict())

    @torch.no_grad()
    def update(self) -> None:
        """One step of the average: parameters lerped towards the weights, buffers copied."""
        averaged, ours = zip(*self._pairs)
        torch._foreach_lerp_(list(averaged), [p.detach() for p in ours], 1.0 - self.decay)
        for mine, theirs in zip(self.average.buffers(), self.model.buffers()):
            mine.copy_(theirs)
