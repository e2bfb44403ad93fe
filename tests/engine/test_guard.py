"""Collapse guard: a non-finite loss or a PSNR collapse restores the last good state, lowers the learning rates,
and the run goes on writing checkpoints."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from dcls.engine.cli import train_main
from dcls.engine.guard import CollapseGuard
from dcls.engine.schedulers import MultiStepLR_Restart
from dcls.engine.trainer import Trainer

LR = 4e-4


def _nan_at(iteration: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the synthesised LR input of one iteration NaN (as a corrupt batch would)."""
    synthesize = Trainer.synthesize

    def poisoned(self: Trainer, hr: torch.Tensor):
        batch = synthesize(self, hr)
        if self.iteration == iteration:
            batch.lr_img.fill_(math.nan)
        return batch

    monkeypatch.setattr(Trainer, "synthesize", poisoned)


def _record_recoveries(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, torch.Tensor]]:
    """Weights of the model right after every recovery."""
    restored: list[dict[str, torch.Tensor]] = []
    recover = CollapseGuard.recover

    def recording(self: CollapseGuard, iteration: int, reason: str) -> None:
        recover(self, iteration, reason)
        restored.append({k: v.detach().clone() for k, v in self.model.state_dict().items()})

    monkeypatch.setattr(CollapseGuard, "recover", recording)
    return restored


def _train(eng, engine_data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str, **sections) -> Path:
    opt = eng.train_options(engine_data, name="guarded", **sections)
    monkeypatch.chdir(tmp_path)
    assert train_main(["-opt", str(eng.write_yaml(tmp_path / "o.yml", opt)), *extra]) == 0
    return tmp_path / "experiments" / "guarded"


def _check_lowered_and_finite(experiment: Path, last: int, events: int) -> None:
    state = torch.load(experiment / "training_state" / f"{last}.state", weights_only=True)
    assert [g["lr"] for g in state["optimizers"][0]["param_groups"]] == pytest.approx([LR * 0.5**events] * 2)
    assert state["guard_events"] == events
    weights = torch.load(experiment / "models" / f"{last}_G.pth", weights_only=True)
    assert all(torch.isfinite(v).all() for v in weights.values())


def test_nan_batch_restores_the_last_checkpoint_and_halves_the_learning_rates(engine_data, eng, tmp_path,
                                                                               monkeypatch) -> None:
    _nan_at(5, monkeypatch)
    restored = _record_recoveries(monkeypatch)
    experiment = _train(eng, engine_data, tmp_path, monkeypatch)
    log = next(experiment.glob("train_guarded_*.log")).read_text()
    assert "collapse guard at iter 5: non-finite loss" in log
    assert "restored weights and optimizer of iter 4, learning rates x0.5 -> 2.000e-04, 2.000e-04" in log
    assert "collapse-guard events: 1" in log
    assert len(restored) == 1
    eng.assert_same_weights(restored[0], eng.load_weights(experiment / "models" / "4_G.pth"))
    for i in (8, 12):  # checkpoints keep coming, with the lowered rates and finite weights
        _check_lowered_and_finite(experiment, i, events=1)
    assert (experiment / "models" / "latest_G.pth").is_file()


def test_psnr_collapse_restores_and_lowers_the_learning_rates(engine_data, eng, tmp_path, monkeypatch) -> None:
    values: Iterator[float] = iter([30.0, 26.0])  # a drop of 4 dB, beyond psnr_margin 3
    monkeypatch.setattr(Trainer, "evaluate_val", lambda self: next(values))
    restored = _record_recoveries(monkeypatch)
    experiment = _train(eng, engine_data, tmp_path, monkeypatch)
    log = next(experiment.glob("train_guarded_*.log")).read_text()
    assert "collapse guard at iter 12: validation PSNR 26.00 dB, best 30.00 dB" in log
    assert "restored weights and optimizer of iter 8" in log
    assert "Best PSNR: 30.000000 | Iter: 6" in log
    eng.assert_same_weights(restored[0], eng.load_weights(experiment / "models" / "8_G.pth"))
    _check_lowered_and_finite(experiment, 12, events=1)


def test_guard_events_survive_a_resume(engine_data, eng, tmp_path, monkeypatch) -> None:
    _nan_at(5, monkeypatch)
    experiment = _train(eng, engine_data, tmp_path, monkeypatch, train={"niter": 8})
    opt = tmp_path / "o.yml"
    assert train_main(["-opt", str(opt), "--auto_resume", "--set", "train.niter=12"]) == 0
    _check_lowered_and_finite(experiment, 12, events=1)


def test_nan_batch_in_a_distributed_run(engine_data, eng, tmp_path, monkeypatch) -> None:
    """A one-process gloo group: the model is wrapped in DistributedDataParallel and the guard still works."""
    for key, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(eng.free_port())}.items():
        monkeypatch.setenv(key, value)
    _nan_at(5, monkeypatch)
    wrapped: list[str] = []
    train_step = Trainer.train_step
    monkeypatch.setattr(Trainer, "train_step",
                        lambda self, batch: wrapped.append(type(self.net).__name__) or train_step(self, batch))
    experiment = _train(eng, engine_data, tmp_path, monkeypatch, "--launcher", "pytorch", train={"niter": 8})
    assert set(wrapped) == {"DistributedDataParallel"}
    assert not dist.is_initialized()
    assert "collapse guard at iter 5" in next(experiment.glob("train_guarded_*.log")).read_text()
    _check_lowered_and_finite(experiment, 8, events=1)


def _guard(**kwargs) -> tuple[CollapseGuard, torch.nn.Module, torch.optim.Optimizer, MultiStepLR_Restart]:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = MultiStepLR_Restart(optimizer, [5], gamma=0.5)
    return CollapseGuard(model, optimizer, [scheduler], **kwargs), model, optimizer, scheduler


def test_psnr_ok_accepts_drops_within_the_margin_only() -> None:
    guard = _guard(psnr_margin=3.0)[0]
    assert guard.psnr_ok(31.5, 34.0)
    assert guard.psnr_ok(31.0, 34.0)
    assert not guard.psnr_ok(30.9, 34.0)
    assert guard.psnr_ok(12.0, -math.inf)  # the first validation sets the best
    assert not guard.psnr_ok(math.nan, 34.0) and not guard.psnr_ok(-math.inf, 34.0)
    assert guard.loss_ok(torch.tensor([0.5, 0.1]))
    assert not guard.loss_ok(torch.tensor([0.5, math.inf])) and not guard.loss_ok(torch.tensor([math.nan, 0.1]))
    off = _guard(enabled=False)[0]
    assert off.psnr_ok(1.0, 34.0) and off.loss_ok(torch.tensor([math.nan]))


def test_recover_restores_weights_and_moments_and_lowers_every_rate() -> None:
    guard, model, optimizer, scheduler = _guard(psnr_margin=3.0, lr_factor=0.25)
    x = torch.randn(8, 3)
    model(x).square().mean().backward()
    optimizer.step()
    scheduler.step()
    guard.remember(1)
    good_weights = {k: v.clone() for k, v in model.state_dict().items()}
    good_moments = {k: v.clone() for k, v in optimizer.state_dict()["state"][0].items()}
    for _ in range(3):
        optimizer.zero_grad()
        model(x).square().mean().backward()
        optimizer.step()
        scheduler.step()
    assert not guard.psnr_ok(20.0, 24.5)
    guard.recover(4, "validation PSNR 20.00 dB, best 24.50 dB")
    for k, v in model.state_dict().items():
        assert torch.equal(v, good_weights[k])
    for k, v in optimizer.state_dict()["state"][0].items():
        assert torch.equal(v, good_moments[k])
    assert optimizer.param_groups[0]["lr"] == pytest.approx(2.5e-4)
    assert optimizer.param_groups[0]["initial_lr"] == pytest.approx(2.5e-4)
    assert scheduler.base_lrs == pytest.approx([2.5e-4])
    assert guard.events == 1
    scheduler.step()  # iteration 5: the milestone halves the lowered rate
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1.25e-4)


def test_recover_without_a_remembered_state_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="no good state"):
        _guard()[0].recover(1, "test")
