"""What the stable recipe's update rule and gradient-norm clipping cost: one training iteration of the paper-size
x4 model with a plain Adam step, with the cap (``UpdateCap``) and with clipping (``clip_gradients``), and the
rule alone against the per-tensor loop it replaced (a weight clone and about ten small operations per tensor).

    python benchmarks/bench_update.py [--repeats 5] [--batch 4] [--gt-size 128] [--threads N] [--output FILE]

Medians of round-robin repeats (so each candidate sees the same machine load); the overhead is the rule's own
median time over the plain iteration's median. ``--output`` writes the figures with the command, commit and
machine as JSON (docs/results/bench_update.json).
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from _original import SETTING1_X4
from _timing import add_process_options, configure_process, median_times

from dcls.accel import accelerate
from dcls.archs import DCLS
from dcls.degradation.synthesis import GaussianDegradation
from dcls.losses import build_loss_terms
from dcls.reports.provenance import provenance, write_results
from dcls.step import UpdateCap, apply_update, build_optimizer, clip_gradients, compute_losses

REPO = Path(__file__).resolve().parents[1]
LEARNING_RATE, MAX_UPDATE_RATIO, CLIP_NORM = 4e-4, 1e-2, 0.5


def loop_cap(optimizer: torch.optim.Optimizer, max_update_ratio: float, step: Callable[[], object]) -> None:
    """The cap as first written: a clone of every weight, then a Python loop over the tensors."""
    weights = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None and p.ndim > 1]
    before = [p.detach().clone() for p in weights]
    step()
    with torch.no_grad():
        for p, old in zip(weights, before):
            update = p - old
            limit, size = max_update_ratio * old.norm(), update.norm()
            p.copy_(torch.where(size > limit, old + update * (limit / size), p))


def iteration(model: DCLS, hr: torch.Tensor, rule: str) -> Callable[[], None]:
    """One training iteration (synthesis, forward, losses, backward, Adam) with update ``rule``: plain, cap, clip."""
    degradation = GaussianDegradation(scale=4, ksize=21, sig_min=0.2, sig_max=4.0)
    optimizer = build_optimizer(model, LEARNING_RATE, LEARNING_RATE)
    cap = UpdateCap(optimizer, MAX_UPDATE_RATIO) if rule == "cap" else None
    clip = CLIP_NORM if rule == "clip" else None
    terms, rng = build_loss_terms(None), np.random.default_rng(0)

    def step() -> None:
        out = compute_losses(model, hr, degradation(hr, rng), terms)
        apply_update(optimizer, out.total, None, cap, clip)

    return step


def rule_alone(model: DCLS, rule: str) -> Callable[[], None]:
    """The update rule on its own (gradients present, the optimizer's step a no-op): cap, loop_cap or clip."""
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 1e-3
    optimizer = build_optimizer(model, LEARNING_RATE, LEARNING_RATE)
    cap = UpdateCap(optimizer, MAX_UPDATE_RATIO)
    fns = {"cap": lambda: cap.step(lambda: None),
           "loop_cap": lambda: loop_cap(optimizer, MAX_UPDATE_RATIO, lambda: None),
           "clip": lambda: clip_gradients(optimizer, 1e9)}
    return fns[rule]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed iterations per candidate (median)")
    parser.add_argument("--rule-repeats", type=int, default=50, help="timed calls of each rule alone (median)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--gt-size", type=int, default=128)
    parser.add_argument("--output", type=Path, default=None, help="write the figures as JSON here")
    add_process_options(parser)
    args = parser.parse_args()
    described = configure_process(args)
    device = torch.device("cpu")
    torch.manual_seed(0)
    plain = DCLS(**SETTING1_X4).train()
    hr = torch.rand(args.batch, 3, args.gt_size, args.gt_size)
    steps = median_times({rule: iteration(accelerate(copy.deepcopy(plain), device, training=True), hr, rule)
                          for rule in ("plain", "cap", "clip")}, device, args.repeats, warmup=1)
    alone = median_times({rule: rule_alone(copy.deepcopy(plain), rule) for rule in ("cap", "loop_cap", "clip")},
                         device, args.rule_repeats, warmup=3)
    tensors = sum(1 for p in plain.parameters() if p.ndim > 1)
    print(f"{described}; x4 setting-1 model ({tensors} weight tensors), batch {args.batch}, GT {args.gt_size}")
    print("| what | median ms | share of a plain iteration |\n|---|---|---|")
    rows = {**{f"iteration, {k}": v for k, v in steps.items()}, **{f"{k} alone": v for k, v in alone.items()}}
    for name, seconds in rows.items():
        print(f"| {name} | {seconds * 1e3:.2f} | {100 * seconds / steps['plain']:.2f} % |")
    if args.output:
        write_results(args.output, {
            **provenance(REPO), "threads_torch": torch.get_num_threads(), "network": dict(SETTING1_X4),
            "batch": args.batch, "gt_size": args.gt_size, "weight_tensors": tensors, "repeats": args.repeats,
            "rule_repeats": args.rule_repeats, "iteration_ms": {k: v * 1e3 for k, v in steps.items()},
            "rule_alone_ms": {k: v * 1e3 for k, v in alone.items()},
            "rule_share_of_iteration": {k: v / steps["plain"] for k, v in alone.items()}})


if __name__ == "__main__":
    main()
