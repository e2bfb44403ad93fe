"""The original (MMSR) learning-rate schedules, checked against closed-form sequences written from their formulas."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from dcls.engine.schedulers import CosineAnnealingLR_Restart, MultiStepLR_Restart, apply_warmup, build_scheduler
from dcls.weights import torch_load_safe, torch_save_atomic

BASE = (4e-4, 2e-4)  # two groups, as the Restorer/Estimator optimizer


def _optimizer() -> torch.optim.Adam:
    params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    return torch.optim.Adam([{"params": [params[0]], "lr": BASE[0]}, {"params": [params[1]], "lr": BASE[1]}])


def _sequence(scheduler, optimizer, steps: int) -> list[list[float]]:
    """Learning rates after construction (iteration 0) and after each of ``steps`` scheduler steps."""
    out = [[g["lr"] for g in optimizer.param_groups]]
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
        out.append([g["lr"] for g in optimizer.param_groups])
    return out


def _last_restart(t: int, restarts: list[int], weights: list[float]) -> tuple[int, int, float]:
    """(segment index, restart iteration, weight) in force at iteration ``t``; segment 0 starts at 0 with weight 1."""
    segment, start, weight = 0, 0, 1.0
    for i, (r, w) in enumerate(zip(restarts, weights)):
        if r <= t:
            segment, start, weight = i + 1, r, w
    return segment, start, weight


def multistep_reference(base: float, t: int, milestones: list[int], gamma: float, restarts: list[int],
                        weights: list[float]) -> float:
    """base * restart weight * gamma ^ (milestones passed since the last restart; a restart wins over a milestone)."""
    _, start, weight = _last_restart(t, restarts, weights)
    passed = sum(1 for m in milestones if start < m <= t)
    return base * weight * gamma**passed


def cosine_reference(base: float, t: int, periods: list[int], restarts: list[int], weights: list[float],
                     eta_min: float) -> float:
    """eta_min + (base * w - eta_min) * (1 + cos(pi * (t - restart) / T_segment)) / 2."""
    segment, start, weight = _last_restart(t, restarts, weights)
    return eta_min + (base * weight - eta_min) * (1 + math.cos(math.pi * (t - start) / periods[segment])) / 2


def test_multistep_halves_at_each_milestone_as_the_paper_schedule() -> None:
    opt = _optimizer()
    scheduler = MultiStepLR_Restart(opt, [200, 400], gamma=0.5)
    lrs = _sequence(scheduler, opt, 500)
    for t, got in enumerate(lrs):
        for base, lr in zip(BASE, got):
            assert lr == pytest.approx(multistep_reference(base, t, [200, 400], 0.5, [], []), rel=1e-12)
    assert lrs[199][0] == pytest.approx(4e-4) and lrs[200][0] == pytest.approx(2e-4)
    assert lrs[400][0] == pytest.approx(1e-4) and lrs[500][1] == pytest.approx(5e-5)


def test_multistep_with_restarts_and_repeated_milestones() -> None:
    milestones, restarts, weights = [5, 8, 8, 12, 15, 18], [10, 15], [1.0, 0.5]
    opt = _optimizer()
    scheduler = MultiStepLR_Restart(opt, milestones, restarts=restarts, weights=weights, gamma=0.5)
    for t, got in enumerate(_sequence(scheduler, opt, 24)):
        for base, lr in zip(BASE, got):
            assert lr == pytest.approx(multistep_reference(base, t, milestones, 0.5, restarts, weights), rel=1e-12), t


def test_multistep_clear_state_empties_the_optimizer_moments_at_a_restart() -> None:
    opt = _optimizer()
    for group in opt.param_groups:
        group["params"][0].grad = torch.ones(1)
    scheduler = MultiStepLR_Restart(opt, [], restarts=[3], weights=[1.0], clear_state=True)
    _sequence(scheduler, opt, 2)
    assert len(opt.state) == 2
    _sequence(scheduler, opt, 1)
    assert len(opt.state) == 0


@pytest.mark.parametrize("weights", [[1.0, 1.0], [0.5, 0.25]])
def test_cosine_annealing_with_restarts(weights: list[float]) -> None:
    periods, restarts, eta_min = [10, 10, 10], [10, 20], 1e-7
    opt = _optimizer()
    scheduler = CosineAnnealingLR_Restart(opt, periods, restarts=restarts, weights=weights, eta_min=eta_min)
    lrs = _sequence(scheduler, opt, 29)
    for t, got in enumerate(lrs):
        for base, lr in zip(BASE, got):
            assert lr == pytest.approx(cosine_reference(base, t, periods, restarts, weights, eta_min), rel=1e-9), t
    assert lrs[10][0] == pytest.approx(BASE[0] * weights[0])


def test_cosine_annealing_rises_again_after_a_full_period_without_restart() -> None:
    """The original's branch at ``(t - 1 - T) % 2T == 0``: past T the rate climbs back along the cosine."""
    opt = _optimizer()
    scheduler = CosineAnnealingLR_Restart(opt, [8], eta_min=0.0)
    for t, got in enumerate(_sequence(scheduler, opt, 16)):
        want = BASE[0] * (1 + math.cos(math.pi * t / 8)) / 2
        assert got[0] == pytest.approx(want, rel=1e-9, abs=1e-18), t


def test_warmup_is_linear_from_the_initial_rate() -> None:
    opt = _optimizer()
    MultiStepLR_Restart(opt, [])
    apply_warmup(opt, 3, 10)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([b * 0.3 for b in BASE])
    apply_warmup(opt, 10, 10)  # at or past warmup_iter: untouched
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([b * 0.3 for b in BASE])


@pytest.mark.parametrize("train_opt", [
    {"lr_scheme": "MultiStepLR", "lr_steps": [4, 6], "restarts": [8], "restart_weights": [0.5], "lr_gamma": 0.5,
     "clear_state": False},
    {"lr_scheme": "CosineAnnealingLR_Restart", "T_period": [5, 5], "restarts": [5], "restart_weights": [0.5],
     "eta_min": 1e-7},
])
def test_state_dict_round_trips_with_weights_only(train_opt, tmp_path: Path) -> None:
    opt = _optimizer()
    scheduler = build_scheduler(opt, train_opt)
    _sequence(scheduler, opt, 3)
    torch_save_atomic({"sched": scheduler.state_dict(), "optim": opt.state_dict()}, tmp_path / "s.state")
    loaded = torch_load_safe(tmp_path / "s.state")  # weights_only=True
    resumed_opt = _optimizer()
    resumed = build_scheduler(resumed_opt, train_opt)
    resumed_opt.load_state_dict(loaded["optim"])
    resumed.load_state_dict(loaded["sched"])
    assert _sequence(resumed, resumed_opt, 7) == _sequence(scheduler, opt, 7)
