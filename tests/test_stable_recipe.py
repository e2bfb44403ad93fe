"""The stable recipe (docs/stability.md): capped optimizer steps and its demo options file; the optional
straight-through output clamp."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from dcls.accel import accelerate
from dcls.archs import DCLS
from dcls.archs.blocks import clamp_unit
from dcls.archs.spec import recognise
from dcls.config import load_options
from dcls.errors import ConfigError
from dcls.step import build_optimizer, capped_step, update_cap

REPO = Path(__file__).resolve().parents[1]
CAP_KEYS = ("max_update_ratio", "update_cap_min_rms", "update_cap_min_rms_iters")
TINY = {"nf": 8, "nb": 1, "ng": 1, "input_para": 8, "kernel_size": 21, "reduction": 2}


def test_clamp_unit_values_are_the_clamp_with_either_gradient() -> None:
    x = torch.linspace(-2.0, 3.0, 101)
    for straight_through in (False, True):
        assert torch.equal(clamp_unit(x, straight_through), torch.clamp(x, 0.0, 1.0))


def test_original_clamp_zeroes_gradients_outside_the_range_and_straight_through_passes_them() -> None:
    x = torch.tensor([-0.5, 0.25, 0.75, 1.5], requires_grad=True)
    upstream = torch.tensor([1.0, 2.0, 3.0, 4.0])
    clamp_unit(x).backward(upstream)
    assert torch.equal(x.grad, torch.tensor([0.0, 2.0, 3.0, 0.0]))
    x.grad = None
    clamp_unit(x, straight_through=True).backward(upstream)
    assert torch.equal(x.grad, upstream)


def test_a_saturated_network_gets_a_restoring_gradient_only_with_the_straight_through_clamp() -> None:
    """A Restorer whose output is clamped everywhere gets no gradient at all from the original clamp
    (training cannot recover); with the straight-through clamp the L1 loss pulls the output back."""
    torch.manual_seed(0)
    lr = torch.rand(2, 3, 16, 16)
    grads = {}
    for straight_through in (False, True):
        torch.manual_seed(1)
        net = DCLS(**TINY, straight_through_clamp=straight_through)
        last = net.Restorer.upscale[-1]
        with torch.no_grad():
            last.bias.fill_(5.0)  # every output pixel far above 1
        sr, _ = net(lr)
        assert torch.equal(sr, torch.ones_like(sr))
        torch.nn.functional.l1_loss(sr, torch.full_like(sr, 0.5)).backward()
        grads[straight_through] = last.bias.grad
    assert torch.count_nonzero(grads[False]) == 0
    assert (grads[True] > 0).all()  # gradient descent lowers the bias: back towards the range


@pytest.mark.parametrize("training", [False, True])
def test_stable_network_has_the_same_weights_and_outputs_as_the_original(training: bool) -> None:
    """A model trained with the stable recipe is an ordinary DCLS checkpoint: test.py and inference.py
    (which build the default network, or one recognised from the weights) give the same outputs."""
    torch.manual_seed(0)
    stable = DCLS(**TINY, straight_through_clamp=True)
    state = stable.state_dict()
    original = DCLS(**TINY)
    original.load_state_dict(state, strict=True)
    assert recognise(state) == {**TINY, "in_nc": 3, "upscale": 4}
    lr = torch.rand(1, 3, 20, 20)
    with torch.no_grad():
        ours = accelerate(stable, training=training)(lr)
        theirs = accelerate(original, training=training)(lr)
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs))


def test_stable_demo_options_are_the_demo_options_plus_the_stable_keys_only() -> None:
    demo = yaml.safe_load((REPO / "options/demo/train_demo_x4.yml").read_text())
    stable = yaml.safe_load((REPO / "options/demo/train_demo_x4_stable.yml").read_text())
    assert stable["train"].pop("max_update_ratio") == 1e-2
    assert stable == demo


def test_the_stable_keys_are_options_with_the_original_recipe_as_default(monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    demo, _ = load_options(REPO / "options/demo/train_demo_x4.yml", is_train=True, check_paths=False)
    stable, _ = load_options(REPO / "options/demo/train_demo_x4_stable.yml", is_train=True, check_paths=False)
    assert [demo["train"][key] for key in CAP_KEYS] == [None, 0.0, None]
    assert [stable["train"][key] for key in CAP_KEYS] == [1e-2, 0.0, None]  # no floor
    assert demo["network_G"]["setting"]["straight_through_clamp"] is False
    assert stable["network_G"]["setting"]["straight_through_clamp"] is False  # an option, not part of the recipe
    for key, value, message in (("max_update_ratio", 0, "must be positive"),
                                ("update_cap_min_rms", -1e-4, "must not be negative"),
                                ("update_cap_min_rms_iters", -1, "must not be negative")):
        with pytest.raises(ConfigError, match=f"train.{key}: {message}"):
            load_options(REPO / "options/demo/train_demo_x4.yml", is_train=True, check_paths=False,
                         overrides=[f"train.{key}={value}"])


def _adam_step(max_update_ratio: float | None, lr: float, min_rms: float = 0.0) -> tuple[DCLS, dict[str, torch.Tensor]]:
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
        capped_step(optimizer, max_update_ratio, update_cap_min_rms=min_rms)
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


def test_update_cap_is_the_ratio_of_the_norm_but_never_below_the_floor() -> None:
    weight = torch.full((4, 25), 0.1)  # norm 1, rms 0.1
    assert update_cap(weight, 1e-2).item() == pytest.approx(1e-2)
    assert update_cap(weight, 1e-2, update_cap_min_rms=1e-4).item() == pytest.approx(1e-2)  # the ratio is larger
    assert update_cap(weight, 1e-2, update_cap_min_rms=1e-2).item() == pytest.approx(1e-1)  # the floor: 1e-2 * 10


def test_a_floor_above_the_learning_rate_frees_adams_first_step_and_one_below_caps_it_at_the_floor() -> None:
    """Adam's first step moves every weight by the learning rate: a floor above it frees every tensor that the
    ratio alone holds back; a floor below it caps their steps at the floor (rms per weight)."""
    lr, ratio = 1e-2, 1e-3
    plain, before = _adam_step(None, lr)
    capped, _ = _adam_step(ratio, lr)
    free, _ = _adam_step(ratio, lr, min_rms=2 * lr)
    floored, _ = _adam_step(ratio, lr, min_rms=lr / 4)
    assert not all(torch.equal(a, b) for a, b in zip(plain.parameters(), capped.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(plain.parameters(), free.parameters()))
    for (name, p), q in zip(floored.named_parameters(), plain.parameters()):
        if p.ndim > 1:
            old = before[name]
            cap_rms = max(lr / 4, ratio * old.norm().item() / old.numel() ** 0.5)
            free_rms = (q.detach() - old).square().mean().sqrt().item()
            assert (p.detach() - old).square().mean().sqrt().item() == pytest.approx(min(cap_rms, free_rms), rel=1e-2)
