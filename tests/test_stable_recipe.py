"""The stable recipe (docs/stability.md): capped optimizer steps and its demo options file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from dcls.archs import DCLS
from dcls.config import load_options
from dcls.errors import ConfigError
from dcls.step import build_optimizer, capped_step

REPO = Path(__file__).resolve().parents[1]
TINY = {"nf": 8, "nb": 1, "ng": 1, "input_para": 8, "kernel_size": 21, "reduction": 2}


def test_stable_demo_options_are_the_demo_options_plus_the_stable_key_and_their_own_name() -> None:
    demo = yaml.safe_load((REPO / "options/demo/train_demo_x4.yml").read_text())
    stable = yaml.safe_load((REPO / "options/demo/train_demo_x4_stable.yml").read_text())
    assert stable["train"].pop("max_update_ratio") == 1e-2
    assert (demo.pop("name"), stable.pop("name")) == ("DCLS_demo_x4", "DCLS_demo_x4_stable")  # own experiment folder
    assert stable == demo


def test_the_stable_keys_are_options_with_the_original_recipe_as_default(monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    demo, _ = load_options(REPO / "options/demo/train_demo_x4.yml", is_train=True, check_paths=False)
    stable, _ = load_options(REPO / "options/demo/train_demo_x4_stable.yml", is_train=True, check_paths=False)
    assert demo["train"]["max_update_ratio"] is None
    assert stable["train"]["max_update_ratio"] == 1e-2
    with pytest.raises(ConfigError, match="train.max_update_ratio: must be positive"):
        load_options(REPO / "options/demo/train_demo_x4.yml", is_train=True, check_paths=False,
                     overrides=["train.max_update_ratio=0"])


def _adam_step(max_update_ratio: float | None, lr: float) -> tuple[DCLS, dict[str, torch.Tensor]]:
    """One Adam step of a tiny DCLS on a made-up loss; returns the model and its weights before the step."""
    torch.manual_seed(0)
    net = DCLS(**TINY)
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    optimizer = build_optimizer(net, lr, lr)
    sr, kernel = net(torch.rand(2, 3, 16, 16))
    (sr.mean() + kernel.square().sum()).backward()
    if max_update_ratio is None:
        optimizer.step()
    else:
        capped_step(optimizer, max_update_ratio, optimizer.step)
    return net, before


def test_capped_step_limits_every_weight_tensor_update_to_the_ratio_of_its_norm() -> None:
    plain, before = _adam_step(None, lr=1e-2)
    capped, _ = _adam_step(1e-3, lr=1e-2)
    plain_params, n_capped = dict(plain.named_parameters()), 0
    for name, p in capped.named_parameters():
        old, free = before[name], plain_params[name].detach()
        update, free_update = p.detach() - old, free - old
        if p.ndim == 1:  # biases: the optimizer's own step
            assert torch.equal(p, free), name
            continue
        assert update.norm() <= 1e-3 * old.norm() * 1.01, name  # float32 rounding of old + update
        if free_update.norm() > 1e-3 * old.norm():  # capped: same direction, shorter
            n_capped += 1
            assert torch.allclose(update / update.norm(), free_update / free_update.norm(), atol=1e-2), name
        else:
            assert torch.equal(p, free), name
    assert n_capped > 10


def test_capped_step_with_a_loose_cap_is_the_optimizer_step() -> None:
    plain, _ = _adam_step(None, lr=1e-5)
    capped, _ = _adam_step(1.0, lr=1e-5)
    assert all(torch.equal(a, b) for a, b in zip(plain.parameters(), capped.parameters()))
