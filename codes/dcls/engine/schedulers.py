"""The original's learning-rate schedules (MMSR ``lr_scheduler.py``), stepped once per iteration.

Both are "chainable" like the original: between events the learning rate is derived from the current
one, so a rate lowered by the collapse guard stays lowered. Their state holds only plain Python values,
so it saves and loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler


def restart_schedule(restarts: Sequence[int] | None, weights: Sequence[float] | None) -> tuple[list[int], list[float]]:
    """Restart iterations and their weights (default: one restart at 0 with weight 1, i.e. none)."""
    steps = [int(r) for r in restarts] if restarts else [0]
    scales = [float(w) for w in weights] if weights else [1.0]
    if len(steps) != len(scales):
        raise ValueError("restarts and their weights do not match")
    return steps, scales


class MultiStepLR_Restart(LRScheduler):
    """Multiply by ``gamma`` at each milestone; at a restart jump back to ``initial_lr * weight``."""

    def __init__(
        self,
        optimizer: Optimizer,
        milestones: Sequence[int],
        restarts: Sequence[int] | None = None,
        weights: Sequence[float] | None = None,
        gamma: float = 0.1,
        clear_state: bool = False,
        last_epoch: int = -1,
    ) -> None:
        self.milestones = dict(Counter(int(m) for m in milestones))
        self.gamma = gamma
        self.clear_state = clear_state
        self.restarts, self.restart_weights = restart_schedule(restarts, weights)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self.last_epoch in self.restarts:
            if self.clear_state:
                self.optimizer.state = defaultdict(dict)
            weight = self.restart_weights[self.restarts.index(self.last_epoch)]
            return [g["initial_lr"] * weight for g in groups]
        if self.last_epoch not in self.milestones:
            return [g["lr"] for g in groups]
        return [g["lr"] * self.gamma ** self.milestones[self.last_epoch] for g in groups]


class CosineAnnealingLR_Restart(LRScheduler):
    """Cosine annealing from ``initial_lr`` to ``eta_min`` over ``T_period[i]`` iterations, with restarts."""

    def __init__(
        self,
        optimizer: Optimizer,
        T_period: Sequence[int],
        restarts: Sequence[int] | None = None,
        weights: Sequence[float] | None = None,
        eta_min: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        self.T_period = [int(t) for t in T_period]
        self.T_max = self.T_period[0]
        self.eta_min = eta_min
        self.restarts, self.restart_weights = restart_schedule(restarts, weights)
        self.last_restart = 0
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        t = self.last_epoch
        if t == 0:
            return list(self.base_lrs)
        if t in self.restarts:
            self.last_restart = t
            self.T_max = self.T_period[self.restarts.index(t) + 1]
            weight = self.restart_weights[self.restarts.index(t)]
            return [g["initial_lr"] * weight for g in groups]
        since = t - self.last_restart
        if (since - 1 - self.T_max) % (2 * self.T_max) == 0:
            return [
                g["lr"] + (base - self.eta_min) * (1 - math.cos(math.pi / self.T_max)) / 2
                for base, g in zip(self.base_lrs, groups)
            ]
        ratio = (1 + math.cos(math.pi * since / self.T_max)) / (1 + math.cos(math.pi * (since - 1) / self.T_max))
        return [ratio * (g["lr"] - self.eta_min) + self.eta_min for g in groups]


def build_scheduler(optimizer: Optimizer, train_opt: dict[str, Any]) -> LRScheduler:
    """The scheduler named by ``train.lr_scheme`` with the original's option names."""
    scheme = train_opt["lr_scheme"]
    if scheme == "MultiStepLR":
        return MultiStepLR_Restart(
            optimizer,
            train_opt["lr_steps"],
            restarts=train_opt["restarts"],
            weights=train_opt["restart_weights"],
            gamma=train_opt["lr_gamma"],
            clear_state=train_opt["clear_state"],
        )
    if scheme == "CosineAnnealingLR_Restart":
        return CosineAnnealingLR_Restart(
            optimizer,
            train_opt["T_period"],
            eta_min=train_opt["eta_min"],
            restarts=train_opt["restarts"],
            weights=train_opt["restart_weights"],
        )
    raise ValueError(f"unknown lr_scheme {scheme}")


def apply_warmup(optimizer: Optimizer, iteration: int, warmup_iter: int) -> None:
    """Linear warm-up: the rate of step ``iteration`` (1-based) before ``warmup_iter`` is initial_lr * iteration /
    warmup_iter. The trainer sets it before each step; the original set it after, so its first step ran at
    the full rate."""
    if iteration < warmup_iter:
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"] / warmup_iter * iteration
