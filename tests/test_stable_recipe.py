"""The stable recipe (docs/stability.md): capped optimizer steps and its demo options file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from dcls.archs import DCLS
from dcls.config import load_options
from dcls.errors import ConfigError
from dcls.step import UpdateCap, build_optimizer

REPO = Path(__file__).resolve().parents[1]
TINY = {"nf": 8, "nb": 1, "ng": 1, "input_para": 8, "kernel_size": 21, "reduction": 2}


def test_stable_demo_options_are_the_demo_options_plus_the_stable_keys_and_their_own_name() -> None:
    demo = yaml.safe_load((REPO / "options/demo/train_demo_x4.yml").read_text())
    stable = yaml.safe_load((REPO / "options/demo/train_demo_x4_stable.yml").read_text())
    assert stable["train"].pop("max_update_ratio") == 1e-2
    assert stable["train"].pop("grad_clip_norm") == 0.1
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
        UpdateCap(optimizer, max_update_ratio).step(optimizer.step)
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


def _top_level_ops(model: torch.nn.Module, cap: float | None, clip: float | None) -> int:
    """Operators dispatched from Python by one update (backward and Adam's step excluded: the optimizer's own
    step is replaced by a no-op), counted with the profiler; nested operators (a foreach op's CPU fallback
    runs one per tensor) are not counted."""
    from torch.profiler import profile

    from dcls.step import apply_update

    optimizer = build_optimizer(model, 1e-3, 1e-3)
    optimizer.step = lambda: None  # type: ignore[method-assign]
    update_cap = UpdateCap(optimizer, cap) if cap is not None else None
    loss = sum(p.square().sum() for p in model.parameters())
    optimizer.zero_grad = lambda set_to_none=True: None  # type: ignore[method-assign]
    loss.backward()
    with profile() as prof:
        apply_update(optimizer, torch.zeros((), requires_grad=True), None, update_cap, clip)
    return sum(1 for e in prof.events() if e.cpu_parent is None and e.name.startswith("aten::"))


@pytest.mark.parametrize(("cap", "clip"), [(1e-2, None), (None, 0.5)])
def test_the_capped_or_clipped_update_costs_the_same_number_of_operations_whatever_the_number_of_tensors(
    cap: float | None, clip: float | None,
) -> None:
    small = DCLS(**TINY)
    large = DCLS(**{**TINY, "nb": 3, "ng": 3})
    n_small, n_large = (sum(1 for _ in m.parameters()) for m in (small, large))
    assert n_large > 2 * n_small
    plain = _top_level_ops(small, None, None), _top_level_ops(large, None, None)
    remedy = _top_level_ops(small, cap, clip), _top_level_ops(large, cap, clip)
    assert remedy[0] - plain[0] == remedy[1] - plain[1] > 0


def test_clip_gradients_is_torch_clip_grad_norm() -> None:
    from dcls.step import clip_gradients

    torch.manual_seed(0)
    ours, theirs = DCLS(**TINY), DCLS(**TINY)
    theirs.load_state_dict(ours.state_dict())
    for a, b in zip(ours.parameters(), theirs.parameters()):
        a.grad = torch.randn_like(a)
        b.grad = a.grad.clone()
    total = clip_gradients(build_optimizer(ours, 1e-3, 1e-3), 0.5)
    expected = torch.nn.utils.clip_grad_norm_(list(theirs.parameters()), 0.5)
    assert total > 0.5 and torch.allclose(total, expected)
    pairs = zip(ours.parameters(), theirs.parameters())
    assert all(torch.allclose(a.grad, b.grad, rtol=1e-6, atol=0) for a, b in pairs)


@pytest.mark.parametrize("spread_shares", [True, False])
def test_both_ways_of_applying_the_cap_give_the_loop_reference_exactly(spread_shares: bool) -> None:
    """The accelerator's way (shares spread over one flat buffer) and the CPU's (a foreach multiply) match the
    straightforward per-tensor loop, so the way CUDA takes is checked here too."""
    capped, before = _adam_step(1e-3, lr=1e-2)  # reference values by the loop below
    torch.manual_seed(0)
    net = DCLS(**TINY)
    optimizer = build_optimizer(net, 1e-2, 1e-2)
    sr, kernel = net(torch.rand(2, 3, 16, 16))
    (sr.mean() + kernel.square().sum()).backward()
    cap = UpdateCap(optimizer, 1e-3)
    cap.spread_shares = spread_shares
    cap.step(optimizer.step)
    for (name, p), q in zip(net.named_parameters(), capped.parameters()):
        assert torch.allclose(p, q, rtol=0, atol=1e-7), name
    plain, _ = _adam_step(None, lr=1e-2)
    for (name, p), free in zip(capped.named_parameters(), plain.parameters()):
        old = before[name]
        if p.ndim > 1 and (free - old).norm() > 1e-3 * old.norm():
            expected = old + (free - old) * (1e-3 * old.norm() / (free - old).norm())
            assert torch.allclose(p, expected, rtol=0, atol=1e-6), name


def test_options_load_in_a_fresh_process_that_imported_nothing_else() -> None:
    """The built-in losses register when the options module loads (they were missing unless something else had
    imported ``dcls.losses`` first)."""
    import subprocess
    import sys

    code = ("from dcls.config import load_options; "
            "load_options('options/demo/train_demo_x4_stable.yml', is_train=True, check_paths=False)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-500:]
