"""The stable recipe on a tiny network (collapse guard off): at a learning rate far too high the original recipe's
output saturates and its loss goes non-finite while the stable recipe (clipped gradients, capped steps) stays
finite."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from dcls.config import validate
from dcls.engine.distributed import init_distributed
from dcls.engine.trainer import Trainer
from dcls.errors import ConfigError

STABLE = yaml.safe_load((Path(__file__).parents[2] / "options/demo/train_demo_x4_stable.yml").read_text())
STABLE_KEYS = {k: STABLE["train"][k] for k in ("max_update_ratio", "grad_clip_norm")}  # the stable recipe's own keys
STRESS = {"lr_G": 2e-2, "lr_E": 2e-2, "niter": 50, "val_freq": 1000, "manual_seed": 0,
          "collapse_guard": {"enabled": False}}


def _trainer(eng, engine_data, tmp_path, monkeypatch, train: dict[str, Any]) -> Trainer:
    """A Trainer of the tiny network with ``train`` options, without validation."""
    monkeypatch.chdir(tmp_path)
    network = {"which_model_G": "DCLS", "setting": eng.TINY_NET}
    raw = eng.train_options(engine_data, use_tb_logger=False, train=train, network_G=network)
    del raw["datasets"]["val"]
    opt, _ = validate(raw, is_train=True)
    return Trainer(opt, init_distributed("none", "cpu", None))


def _losses(eng, engine_data, tmp_path, monkeypatch, stable: bool) -> list[float]:
    """Pixel losses of the stressed run (stopping at the first non-finite one)."""
    train = {**STRESS, **(STABLE_KEYS if stable else {})}
    trainer = _trainer(eng, engine_data, tmp_path, monkeypatch, train)
    losses = []
    for batch in trainer.batches():
        trainer.iteration += 1
        losses.append(trainer.train_step(batch)["l_pix"])
        trainer.update_learning_rate()
        if not math.isfinite(losses[-1]) or trainer.iteration >= trainer.niter:
            break
    return losses


def test_stressed_run_collapses_with_the_original_recipe_and_not_with_the_stable_one(
    eng, engine_data, tmp_path, monkeypatch
) -> None:
    original = _losses(eng, engine_data, tmp_path, monkeypatch, stable=False)
    stable = _losses(eng, engine_data, tmp_path, monkeypatch, stable=True)
    print("original", [f"{v:.3g}" for v in original[::5]], "\nstable", [f"{v:.3g}" for v in stable[::5]])
    assert not math.isfinite(original[-1]), f"the original recipe did not collapse: last losses {original[-5:]}"
    assert len(stable) == STRESS["niter"] and all(math.isfinite(v) for v in stable)


def test_the_standard_remedies_are_options_that_reach_the_update(eng, engine_data, tmp_path, monkeypatch) -> None:
    """train.adam_eps sets Adam's epsilon, train.grad_clip_norm clips the gradients' joint norm before each step,
    and train.warmup_iter gives step n (1-based) the rate lr * n / warmup_iter, the first step included."""
    train = {**STRESS, "adam_eps": 1e-4, "grad_clip_norm": 1e-3, "warmup_iter": 4, "niter": 3}
    trainer = _trainer(eng, engine_data, tmp_path, monkeypatch, train)
    assert all(group["eps"] == 1e-4 for group in trainer.optimizer.param_groups)
    rates, norms = [], []
    for batch in trainer.batches():
        trainer.iteration += 1
        rates.append(trainer.optimizer.param_groups[0]["lr"])
        trainer.train_step(batch)
        grads = [p.grad for p in trainer.model.parameters() if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
        trainer.update_learning_rate()
        if trainer.iteration >= trainer.niter:
            break
    assert rates == [STRESS["lr_G"] * n / 4 for n in (1, 2, 3)]
    assert max(norms) <= 1e-3 * 1.0001


def test_bad_remedy_options_are_refused_with_one_line_naming_the_key(eng, engine_data) -> None:
    for key, value in (("grad_clip_norm", 0.0), ("adam_eps", -1e-8)):
        raw = eng.train_options(engine_data, train={"niter": 2, key: value})
        with pytest.raises(ConfigError, match=f"train.{key}: must be positive"):
            validate(raw, is_train=True)
