"""Collapse guard: DCLS training can diverge (the original's issues are listed in docs/stability.md).

A non-finite loss, a validation PSNR more than ``psnr_margin`` dB below the best so far, or (fp16 mixed
precision) ``overflow_steps`` updates in a row skipped by the gradient scaler for non-finite gradients,
restores the last good weights (EMA weights too) and optimizer state (those of the latest checkpoint) and
lowers every learning rate by ``lr_factor``. The run goes on and keeps saving; nothing silently trains on garbage.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

logger = logging.getLogger("dcls")


def _clone(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {k: _clone(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_clone(v) for v in obj)
    return copy.copy(obj)


class CollapseGuard:
    """Holds the last good (model, optimizer) state and rolls back to it when training collapses."""

    def __init__(self, model: torch.nn.Module, optimizer: Optimizer, schedulers: Sequence[LRScheduler],
                 enabled: bool = True, psnr_margin: float = 3.0, lr_factor: float = 0.5, overflow_steps: int = 25,
                 ema: torch.nn.Module | None = None) -> None:
        self.model, self.optimizer, self.schedulers = model, optimizer, list(schedulers)
        self.enabled, self.psnr_margin, self.lr_factor = enabled, psnr_margin, lr_factor
        self.overflow_steps, self.ema = overflow_steps, ema
        self.good_iter = 0
        self.events = 0
        self.overflows = 0  # updates skipped by the fp16 gradient scaler, in all
        self._overflow_streak = 0
        self._model_state: dict[str, torch.Tensor] | None = None
        self._ema_state: dict[str, torch.Tensor] | None = None
        self._optim_state: dict[str, Any] | None = None

    def remember(self, iteration: int) -> None:
        """Record the current weights and optimizer state as the last good ones."""
        if not self.enabled:
            return
        self._model_state = _clone(self.model.state_dict())
        if self.ema is not None:
            self._ema_state = _clone(self.ema.state_dict())
        self._optim_state = _clone(self.optimizer.state_dict())
        self.good_iter = iteration

    def loss_ok(self, losses: torch.Tensor) -> bool:
        return not self.enabled or bool(torch.isfinite(losses).all())

    def step_overflowed(self, overflowed: bool) -> bool:
        """Count an update the fp16 gradient scaler skipped; True once ``overflow_steps`` were skipped in a row
        (the scale has collapsed: recover)."""
        if not overflowed:
            self._overflow_streak = 0
            return False
        self.overflows += 1
        self._overflow_streak += 1
        if not self.enabled or self._overflow_streak < self.overflow_steps:
            return False
        self._overflow_streak = 0
        return True

    def psnr_ok(self, psnr: float, best: float) -> bool:
        if not self.enabled:
            return True
        return math.isfinite(psnr) and not (math.isfinite(best) and psnr < best - self.psnr_margin)

    def recover(self, iteration: int, reason: str) -> None:
        """Restore the last good weights and optimizer moments, lower the current learning rates, and log it."""
        if self._model_state is None or self._optim_state is None:
            raise RuntimeError("collapse guard has no good state to restore")
        current = [(g["lr"], g.get("initial_lr")) for g in self.optimizer.param_groups]
        self.model.load_state_dict(self._model_state)
        if self.ema is not None and self._ema_state is not None:
            self.ema.load_state_dict(self._ema_state)
        self.optimizer.load_state_dict(_clone(self._optim_state))
        for group, (lr, initial) in zip(self.optimizer.param_groups, current):
            group["lr"] = lr * self.lr_factor
            if initial is not None:
                group["initial_lr"] = initial * self.lr_factor
        for scheduler in self.schedulers:
            scheduler.base_lrs = [lr * self.lr_factor for lr in scheduler.base_lrs]
            scheduler._last_lr = [g["lr"] for g in self.optimizer.param_groups]
        self.events += 1
        lrs = ", ".join(f"{g['lr']:.3e}" for g in self.optimizer.param_groups)
        logger.warning(
            "collapse guard at iter %d: %s; restored weights and optimizer of iter %d, learning rates x%g -> %s",
            iteration, reason, self.good_iter, self.lr_factor, lrs,
        )
