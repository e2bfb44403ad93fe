"""Training stability study (docs/stability.md): reproduces every figure and plot of that page on the CPU.

    python scripts/stability_study.py diagnose   # instrumented stress run of the original recipe (per-layer stats)
    python scripts/stability_study.py stress     # stress protocol (lr 3e-3, guard off, 600 it) over seeds, both recipes
    python scripts/stability_study.py ablation   # each piece of the stable recipe alone (stress protocol, seed 0)
    python scripts/stability_study.py ladder     # highest learning rate each recipe survives
    python scripts/stability_study.py quality    # demo learning rate 2e-4, 1500 it, 2 seeds, both recipes
    python scripts/stability_study.py caps       # the stable recipe at other caps (stress and quality): its value
    python scripts/stability_study.py binding    # which weights the cap holds back at the demo rate, and when
    python scripts/stability_study.py report     # tables (markdown) and the plot from the stored results

Each run's result is stored as JSON under ``--out`` (default ``experiments/stability``) and reused by later
calls (delete a file to rerun that run). Build the demo data first: ``python scripts/prepare_demo_data.py``.
Run it from the repository root with one thread per process (``OMP_NUM_THREADS=1``) for comparable timings.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import yaml

from dcls.config import load_options
from dcls.engine.distributed import init_distributed
from dcls.engine.trainer import Trainer
from dcls.evaluation import average, evaluate
from dcls.ops.fft import psf2otf

ORIGINAL = "options/demo/train_demo_x4.yml"
STABLE = "options/demo/train_demo_x4_stable.yml"
RECIPES = {"original": ORIGINAL, "stable": STABLE}
STABLE_CAP = yaml.safe_load((Path(__file__).parents[1] / STABLE).read_text())["train"]["max_update_ratio"]
STRESS_LR = 3e-3
COLLAPSE_PSNR_DROP = 3.0  # dB below the best validation so far, the collapse guard's default margin
COLLAPSE_PSNR_FLOOR = 15.0  # dB: a saturated (black/white) output scores 5-10 dB, bicubic upscaling ~24
STRESS_SEEDS = tuple(range(10))
LADDER = (1e-3, 3e-3, 6e-3, 1e-2, 2e-2)
QUALITY_SEEDS = (0, 1, 2, 3)
CAP_SWEEP = (5e-3, 2e-2)  # other values of train.max_update_ratio tried on the stable recipe
CAP_SEEDS = (0, 1)  # their stress seeds
ABLATION_QUALITY_SEED = 3  # the quality seed with the largest gap between the recipes
BINDING_SEEDS, BINDING_NITER = (1, 3), 500  # the quality seeds on which the stable recipe scored lower
ABLATIONS = {  # one piece of the stable recipe alone, on the original options, stress protocol, seed 0
    "straight_through_only": ["network_G.setting.straight_through_clamp=true"],
    "cap_only": [f"train.max_update_ratio={STABLE_CAP:g}"],
}


def build_trainer(options: str, seed: int, lr: float, niter: int, val_freq: int,
                  extra: tuple[str, ...] = ()) -> Trainer:
    """A Trainer of ``options`` (plus ``extra`` overrides) at learning rate ``lr`` (both groups), collapse guard
    off, without checkpoints, logs or TensorBoard."""
    overrides = [*extra, f"train.lr_G={lr}", f"train.lr_E={lr}", f"train.niter={niter}", f"train.val_freq={val_freq}",
                 f"train.manual_seed={seed}", "train.collapse_guard.enabled=false",
                 "use_tb_logger=false"]
    opt, _ = load_options(options, is_train=True, overrides=overrides)
    return Trainer(opt, init_distributed("none", "cpu", None))


def psnr_y(trainer: Trainer) -> float:
    """PSNR-Y of the current weights on the validation (demo test) set; NaN when the output is not finite."""
    trainer.model.eval()
    with torch.no_grad():
        rows = evaluate(lambda lr: trainer.model(lr), trainer.val_loader, trainer.scale, full_metrics=False)
    trainer.model.train()
    value = average(rows)["psnr_y"]
    return value if math.isfinite(value) else math.nan


class Probe:
    """Per-iteration statistics of the quantities that can go wrong first (forward hooks on the network)."""

    def __init__(self, model: torch.nn.Module) -> None:
        restorer = model.Restorer
        self.model, self.cls = model, restorer.head2
        self.now: dict[str, float] = {}
        self._kernel: torch.Tensor | None = None
        self.cls.grad_filter[-1].register_forward_hook(self._smoothness)
        self.cls.register_forward_pre_hook(self._cls_inputs)
        self.cls.register_forward_hook(self._cls_output)
        restorer.upscale.register_forward_hook(self._output)
        for name in ("feature_block", "fusion"):
            getattr(restorer, name).register_forward_hook(self._activation(name))
        for i, group in enumerate(restorer.body):
            group.register_forward_hook(self._activation(f"body.{i}"))

    def _cls_inputs(self, module: torch.nn.Module, args: tuple) -> None:
        self._kernel = args[1].detach()
        self._size = tuple(s + 2 * args[1].shape[-1] for s in args[0].shape[-2:])

    def _smoothness(self, module: torch.nn.Module, args: tuple, logit: torch.Tensor) -> None:
        logit = logit.detach().float()
        p = torch.exp(logit)
        p = p - p.mean(dim=(2, 3), keepdim=True)
        self.now["P_logit_max"] = float(logit.max())
        self.now["P_logit_min"] = float(logit.min())
        self.now["P_abs_max"] = float(p.abs().max())
        if self._kernel is not None:
            p_f, k_f = psf2otf(p, self._size), psf2otf(self._kernel, self._size)
            denominator = p_f.abs() ** 2 + k_f.abs() ** 2
            self.now["denominator_min"] = float(denominator.min())
            self.now["gain_max"] = float((k_f.abs() / denominator).max())  # |K| / (|K|^2 + |P|^2): CLS amplification

    def _cls_output(self, module: torch.nn.Module, args: tuple, out: torch.Tensor) -> None:
        self.now["act_cls"] = float(out.detach().abs().max())

    def _activation(self, name: str) -> Callable:
        def hook(module: torch.nn.Module, args: tuple, out: Any) -> None:
            first = out[0] if isinstance(out, tuple) else out
            self.now[f"act_{name}"] = float(first.detach().abs().max())
        return hook

    def _output(self, module: torch.nn.Module, args: tuple, out: torch.Tensor) -> None:
        out = out.detach()
        self.now["out_abs_max"] = float(out.abs().max())
        self.now["out_clamped_fraction"] = float(((out < 0) | (out > 1)).float().mean())

    def after_step(self, before: dict[str, torch.Tensor]) -> dict[str, float]:
        """Add gradient norms and relative Adam step sizes per module, and the kernel's statistics."""
        stats = dict(self.now)
        for name, module in self._modules():
            params = [(n, p) for n, p in module.named_parameters(prefix=name)]
            grads = [p.grad.norm() for _, p in params if p.grad is not None]
            stats[f"grad_{name}"] = float(torch.stack(grads).norm()) if grads else math.nan
            delta = torch.stack([(p.detach() - before[n]).norm() for n, p in params]).norm()
            size = torch.stack([before[n].norm() for n, _ in params]).norm()
            stats[f"step_{name}"] = float(delta / size)
        return stats

    def _modules(self) -> list[tuple[str, torch.nn.Module]]:
        r = self.model.Restorer
        return [("Restorer.conv_first", r.conv_first), ("Restorer.feature_block", r.feature_block),
                ("Restorer.head2", r.head2), ("Restorer.head2.grad_filter", r.head2.grad_filter),
                ("Restorer.body", r.body), ("Restorer.fusion", r.fusion), ("Restorer.upscale", r.upscale),
                ("Estimator", self.model.Estimator)]


def train_run(options: str, seed: int, lr: float, niter: int, val_freq: int, probe: bool = False,
              extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """One guard-off training run: losses every iteration, PSNR-Y every ``val_freq``, optional probe statistics.

    It stops early once the loss is not finite (nothing can recover from NaN weights).
    """
    torch.set_num_threads(1)
    trainer = build_trainer(options, seed, lr, niter, val_freq, extra)
    probe_ = Probe(trainer.model) if probe else None
    record: dict[str, Any] = {"options": options, "extra": list(extra), "seed": seed, "lr": lr, "niter": niter,
                              "l_pix": [], "l_ker": [], "val": [], "stats": []}
    start = time.time()
    for batch in trainer.batches():
        trainer.iteration += 1
        before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()} if probe_ else {}
        losses = trainer.train_step(batch)
        trainer.update_learning_rate()
        record["l_pix"].append(losses["l_pix"])
        record["l_ker"].append(losses["l_ker"])
        if probe_:
            record["stats"].append(probe_.after_step(before))
        finite = math.isfinite(losses["l_pix"]) and math.isfinite(losses["l_ker"])
        if trainer.iteration % val_freq == 0 or not finite:
            record["val"].append([trainer.iteration, psnr_y(trainer) if finite else math.nan])
        if not finite or trainer.iteration >= niter:
            break
    record["seconds"] = time.time() - start
    record.update(verdict(record))
    return record


def verdict(record: dict[str, Any]) -> dict[str, Any]:
    """Collapsed: a non-finite loss, a validation PSNR ``COLLAPSE_PSNR_DROP`` dB below the best so far, or one
    below ``COLLAPSE_PSNR_FLOOR`` (an output saturated from the start never has a good PSNR to drop from)."""
    best, first = -math.inf, None
    for iteration, psnr in record["val"]:
        if not math.isfinite(psnr) or psnr < max(best - COLLAPSE_PSNR_DROP, COLLAPSE_PSNR_FLOOR):
            first = iteration
            break
        best = max(best, psnr)
    finals = [p for _, p in record["val"]]
    return {"collapsed": first is not None, "collapse_iter": first, "best_psnr": best,
            "final_psnr": finals[-1] if finals else math.nan}


def _write_json(path: Path, record: dict[str, Any]) -> None:
    """Store ``record`` as JSON at ``path`` atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)


def cached_run(out: Path, tag: str, **kwargs: Any) -> dict[str, Any]:
    """``train_run(**kwargs)``, stored as ``out/tag.json`` (read back instead of rerunning when it exists)."""
    path = out / f"{tag}.json"
    if path.exists():
        return json.loads(path.read_text())
    print(f"running {tag} ...", file=sys.stderr, flush=True)
    record = train_run(**kwargs)
    _write_json(path, record)
    print(f"  {tag}: collapsed={record['collapsed']} at {record['collapse_iter']}, "
          f"final PSNR-Y {record['final_psnr']:.2f} dB, {record['seconds']:.0f} s", file=sys.stderr, flush=True)
    return record


def stress_run(out: Path, name: str, seed: int) -> dict[str, Any]:
    """The stress protocol for recipe ``name``; seed 0 is the instrumented (diagnose) run."""
    tag = f"diagnose_{name}" if seed == 0 else f"stress_{name}_s{seed}"
    return cached_run(out, tag, options=RECIPES[name], seed=seed, lr=STRESS_LR, niter=600, val_freq=100,
                      probe=seed == 0)


def diagnose(out: Path) -> list[dict[str, Any]]:
    return [stress_run(out, name, 0) for name in RECIPES]


def stress(out: Path, seeds: tuple[int, ...] = STRESS_SEEDS) -> dict[str, list[dict[str, Any]]]:
    return {name: [stress_run(out, name, s) for s in seeds] for name in RECIPES}


def ladder(out: Path) -> dict[str, list[dict[str, Any]]]:
    """Seed 0, 600 iterations, starting from the stress rung: up the ladder until the first collapse when the
    recipe survives the stress rate, else down until the first survival (the rungs between tell nothing)."""
    results: dict[str, list[dict[str, Any]]] = {}
    start = LADDER.index(STRESS_LR)
    for name, path in RECIPES.items():
        results[name] = [stress_run(out, name, 0)]
        survived = not results[name][0]["collapsed"]
        for lr in LADDER[start + 1:] if survived else LADDER[start - 1::-1]:
            record = cached_run(out, f"ladder_{name}_lr{lr:g}", options=path, seed=0, lr=lr, niter=600, val_freq=100)
            results[name].append(record)
            if record["collapsed"] != survived:
                break
    return results


def ablation(out: Path) -> list[dict[str, Any]]:
    """Each key alone: the stress protocol (seed 0), and the demo rate on ``ABLATION_QUALITY_SEED``."""
    return [run for name, extra in ABLATIONS.items() for run in (
        cached_run(out, f"ablation_{name}", options=ORIGINAL, extra=tuple(extra), seed=0, lr=STRESS_LR, niter=600,
                   val_freq=100),
        cached_run(out, f"ablation_quality_{name}_s{ABLATION_QUALITY_SEED}", options=ORIGINAL, extra=tuple(extra),
                   seed=ABLATION_QUALITY_SEED, lr=2e-4, niter=1500, val_freq=500))]


def quality(out: Path) -> dict[str, list[dict[str, Any]]]:
    return {name: [cached_run(out, f"quality_{name}_s{s}", options=path, seed=s, lr=2e-4, niter=1500, val_freq=500)
                   for s in QUALITY_SEEDS] for name, path in RECIPES.items()}


def caps(out: Path, values: tuple[float, ...] = CAP_SWEEP) -> dict[float, list[dict[str, Any]]]:
    """The stable recipe with ``train.max_update_ratio`` at each of ``values``: the stress protocol on
    ``CAP_SEEDS`` and the demo-rate quality runs (how tight the cap must be, and what a tight one costs)."""
    results = {}
    for cap in values:
        extra = (f"train.max_update_ratio={cap:g}",)
        results[cap] = [
            *(cached_run(out, f"cap{cap:g}_stress_s{s}", options=STABLE, extra=extra, seed=s, lr=STRESS_LR, niter=600,
                         val_freq=100) for s in CAP_SEEDS),
            *(cached_run(out, f"cap{cap:g}_quality_s{s}", options=STABLE, extra=extra, seed=s, lr=2e-4, niter=1500,
                         val_freq=500) for s in QUALITY_SEEDS)]
    return results


def binding(out: Path, seeds: tuple[int, ...] = BINDING_SEEDS) -> list[dict[str, Any]]:
    """For the stable recipe at the demo rate (2e-4), the iterations at which each weight tensor's step was
    held at the cap, over the first ``BINDING_NITER`` iterations; stored as ``out/binding_s<seed>.json``."""
    records = []
    for seed in seeds:
        path = out / f"binding_s{seed}.json"
        if not path.exists():
            torch.set_num_threads(1)
            trainer = build_trainer(STABLE, seed, 2e-4, BINDING_NITER, val_freq=10 * BINDING_NITER)
            weights = [(n, p) for n, p in trainer.model.named_parameters() if p.ndim > 1]
            capped: dict[str, list[int]] = {}
            for batch in trainer.batches():
                trainer.iteration += 1
                before = [p.detach().clone() for _, p in weights]
                trainer.train_step(batch)
                trainer.update_learning_rate()
                for (name, p), old in zip(weights, before):
                    if (p.detach() - old).norm() >= 0.999 * STABLE_CAP * old.norm():
                        capped.setdefault(name, []).append(trainer.iteration)
                if trainer.iteration >= BINDING_NITER:
                    break
            _write_json(path, {"seed": seed, "niter": BINDING_NITER, "tensors": len(weights), "capped": capped})
        records.append(json.loads(path.read_text()))
    return records


def _load(out: Path, prefix: str) -> list[dict[str, Any]]:
    """Stored runs whose tag starts with ``prefix``, judged by the current :func:`verdict`."""
    records = [json.loads(p.read_text()) for p in sorted(out.glob(f"{prefix}*.json"))]
    return [{**r, **verdict(r)} for r in records]


def _recipe(record: dict[str, Any]) -> str:
    return next(name for name, path in RECIPES.items() if path == record["options"])


DIAGNOSIS_ROWS = (200, 250, 270, 280, 283, 285, 290, 293, 295, 296, 298, 300, 303, 306, 309)
DIAGNOSIS_COLUMNS = ("out_clamped_fraction", "act_body.1", "act_fusion", "grad_Restorer.upscale",
                     "step_Restorer.body", "step_Restorer.fusion", "P_logit_max")


def diagnosis_table(out: Path) -> list[str]:
    """Rows of the instrumented original-recipe run around its collapse (pixel loss, then DIAGNOSIS_COLUMNS)."""
    path = out / "diagnose_original.json"
    if not path.exists():
        return []
    record = json.loads(path.read_text())
    rows = []
    for it in DIAGNOSIS_ROWS:
        if it <= len(record["stats"]):
            stats = record["stats"][it - 1]
            cells = [f"{record['l_pix'][it - 1]:.3g}"] + [f"{stats[k]:.3g}" for k in DIAGNOSIS_COLUMNS]
            rows.append(f"| {it} | " + " | ".join(cells) + " |")
    return rows


def _median(values: list[float]) -> str:
    finite = [v for v in values if math.isfinite(v)]
    return f"{np.median(finite):.2f} (median of {len(finite)})" if finite else "-"


def _collapses(collapsed: list[dict[str, Any]]) -> str:
    """'s<seed> <first collapsed iteration>' of each collapsed run, or '-'."""
    return ", ".join(f"s{r['seed']} {r['collapse_iter']}" for r in collapsed) or "-"


def report(out: Path) -> str:
    """Markdown tables of every stored result."""
    lines = ["### Original recipe, seed 0, around the collapse (diagnose)", "",
             "| iteration | pixel loss | " + " | ".join(DIAGNOSIS_COLUMNS) + " |",
             "|---|---|" + "---|" * len(DIAGNOSIS_COLUMNS), *diagnosis_table(out), "",
             "### Stress protocol (lr 3e-3, guard off, 600 iterations)", "",
             "| recipe | seeds | collapsed | first collapse (iter) | best PSNR-Y | final PSNR-Y | l_ker at 400 |",
             "|---|---|---|---|---|---|---|"]
    stress_runs = _load(out, "stress_") + _load(out, "diagnose_")  # a diagnose run is the stress run of seed 0
    for name in RECIPES:
        runs = sorted((r for r in stress_runs if _recipe(r) == name), key=lambda r: r["seed"])
        if not runs:
            continue
        collapsed = [r for r in runs if r["collapsed"]]
        l_ker = [f"s{r['seed']} {np.mean(r['l_ker'][390:400]):.1e}" for r in runs if len(r["l_ker"]) >= 400]
        seeds = ", ".join(str(r["seed"]) for r in runs)
        lines.append(f"| {name} | {seeds} | {len(collapsed)}/{len(runs)} | {_collapses(collapsed)} "
                     f"| {_median([r['best_psnr'] for r in runs])} "
                     f"| {_median([r['final_psnr'] for r in runs])} "
                     f"| {', '.join(l_ker) or '-'} |")
    for record in (r for r in _load(out, "ablation_") if r["lr"] == STRESS_LR):
        what = " ".join(record["extra"])
        lines.append(f"| original + {what} | {record['seed']} | {int(record['collapsed'])}/1 "
                     f"| {record['collapse_iter'] or '-'} | {_median([record['best_psnr']])} "
                     f"| {_median([record['final_psnr']])} | - |")
    lines += ["", "### Learning-rate ladder (seed 0, guard off, 600 iterations)", "",
              "| recipe | " + " | ".join(f"{lr:g}" for lr in LADDER) + " | highest survived |",
              "|---|" + "---|" * (len(LADDER) + 1)]
    rungs = _load(out, "ladder_") + _load(out, "diagnose_")
    for name in RECIPES:
        cells, highest = [], "-"
        for lr in LADDER:
            match = [r for r in rungs if _recipe(r) == name and math.isclose(r["lr"], lr)]
            if not match:
                cells.append("")
                continue
            r = match[0]
            cells.append(f"collapsed at {r['collapse_iter']}" if r["collapsed"] else f"ok ({r['final_psnr']:.1f} dB)")
            if not r["collapsed"]:
                highest = f"{lr:g}"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {highest} |")
    lines += ["", "### Quality at the demo learning rate (2e-4, 1500 iterations): PSNR-Y on the demo test set", "",
              "| recipe | " + " | ".join(f"seed {s}" for s in QUALITY_SEEDS) + " | mean | l_ker 400 | l_ker 1500 |",
              "|---|" + "---|" * (len(QUALITY_SEEDS) + 3)]
    for name in RECIPES:
        runs = sorted((r for r in _load(out, "quality_") if _recipe(r) == name), key=lambda r: r["seed"])
        if runs:
            finals = [r["final_psnr"] for r in runs]
            at_400 = " ".join(f"{np.mean(r['l_ker'][390:400]):.1e}" for r in runs)
            at_end = " ".join(f"{np.mean(r['l_ker'][-10:]):.1e}" for r in runs)
            by_seed = {r["seed"]: f"{r['final_psnr']:.2f}" for r in runs}
            cells = " | ".join(by_seed.get(seed, "-") for seed in QUALITY_SEEDS)
            lines.append(f"| {name} | {cells} | {np.mean(finals):.2f} | {at_400} | {at_end} |")
    for record in _load(out, "ablation_quality_"):
        cells = " | ".join(f"{record['final_psnr']:.2f}" if seed == record["seed"] else "-" for seed in QUALITY_SEEDS)
        lines.append(f"| original + {' '.join(record['extra'])} | {cells} | - | - | - |")
    lines += ["", "### The cap's value: the stable recipe at other `train.max_update_ratio` (caps)", "",
              "| cap | stress: collapsed | first collapse (iter) | stress: final PSNR-Y | "
              + " | ".join(f"quality seed {s}" for s in QUALITY_SEEDS) + " | quality mean |",
              "|---|---|---|---|" + "---|" * (len(QUALITY_SEEDS) + 1)]
    runs_by_cap = {STABLE_CAP: ([r for r in stress_runs if _recipe(r) == "stable"],
                         [r for r in _load(out, "quality_") if _recipe(r) == "stable"])}
    for path in out.glob("cap*_stress_*.json"):
        cap = float(path.name[3:].split("_")[0])
        runs_by_cap[cap] = (_load(out, f"cap{cap:g}_stress_"), _load(out, f"cap{cap:g}_quality_"))
    for cap, (stressed, tuned) in sorted(runs_by_cap.items()):
        if not stressed:
            continue
        collapsed = [r for r in stressed if r["collapsed"]]
        by_seed = {r["seed"]: r["final_psnr"] for r in tuned}
        mean = f"{np.mean(list(by_seed.values())):.2f}" if len(by_seed) == len(QUALITY_SEEDS) else "-"
        lines.append(f"| {cap:g}{' (the recipe)' if cap == STABLE_CAP else ''} | {len(collapsed)}/{len(stressed)} "
                     f"| {_collapses(collapsed)} "
                     f"| {_median([r['final_psnr'] for r in stressed])} | "
                     + " | ".join(f"{by_seed[s]:.2f}" if s in by_seed else "-" for s in QUALITY_SEEDS)
                     + f" | {mean} |")
    lines += ["", "### Where the cap binds at the demo learning rate (stable recipe, first "
              f"{BINDING_NITER} iterations)",
              "", "| seed | weight tensors capped (of all) | capped steps | last capped iteration | tensors |",
              "|---|---|---|---|---|"]
    for path in sorted(out.glob("binding_s*.json")):
        record = json.loads(path.read_text())
        capped = record["capped"]
        steps = [it for its in capped.values() for it in its]
        lines.append(f"| {record['seed']} | {len(capped)} of {record['tensors']} | {len(steps)} "
                     f"| {max(steps, default='-')} | {', '.join(sorted(capped))} |")
    return "\n".join(lines)


PANELS = (  # (title, statistic, log scale)
    ("pixel loss (L1)", "l_pix", True),
    ("output pixels outside [0, 1] (clamped)", "out_clamped_fraction", False),
    ("max |activation| after the DPCAG body", "act_body.1", True),
    ("max logit of the CLS smoothness operator (exp input)", "P_logit_max", True),
    ("Restorer gradient norm (upsampler)", "grad_Restorer.upscale", True),
    ("relative optimizer step of the DPCAG body", "step_Restorer.body", True),
)
COLOURS = {"original": (40, 40, 220), "stable": (170, 110, 20)}  # BGR: red, blue


def _series(record: dict[str, Any], key: str) -> np.ndarray:
    values = record[key] if key in ("l_pix", "l_ker") else [s.get(key, math.nan) for s in record["stats"]]
    return np.asarray(values, dtype=np.float64)


def _panel(runs: dict[str, dict[str, Any]], title: str, key: str, log: bool, niter: int,
           size: tuple[int, int] = (560, 250)) -> np.ndarray:
    """One line plot (white background, axes, labels) of statistic ``key`` over iterations, one line per recipe."""
    w, h = size
    left, right, top, bottom = 62, 12, 28, 30
    img = np.full((h, w, 3), 255, np.uint8)
    series = {name: _series(r, key) for name, r in runs.items()}
    finite = np.concatenate([v[np.isfinite(v) & ((v > 0) if log else True)] for v in series.values()])
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if log:
        lo, hi = math.floor(math.log10(max(lo, 1e-12))), math.ceil(math.log10(max(hi, 1e-12)))
    hi = hi if hi > lo else lo + 1

    def y_of(v: np.ndarray) -> np.ndarray:
        t = (np.log10(np.maximum(v, 10.0**lo)) if log else v) - lo
        return top + (h - top - bottom) * (1 - t / (hi - lo))

    def x_of(i: np.ndarray) -> np.ndarray:
        return left + (w - left - right) * i / niter

    cv2.rectangle(img, (left, top), (w - right, h - bottom), (0, 0, 0), 1)
    ticks = range(int(lo), int(hi) + 1) if log else np.linspace(lo, hi, 3)
    for t in ticks:
        y = int(y_of(np.asarray(10.0**t if log else t)))
        cv2.line(img, (left - 4, y), (w - right, y), (225, 225, 225), 1)
        label = f"1e{t}" if log else f"{t:.2g}"
        cv2.putText(img, label, (4, y + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    for it in range(0, niter + 1, 100):
        x = int(x_of(np.asarray(it)))
        cv2.putText(img, str(it), (x - 10, h - bottom + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    for name, v in series.items():
        its = np.arange(1, len(v) + 1)
        ok = np.isfinite(v)
        pts = np.stack([x_of(its[ok]), y_of(v[ok])], axis=1).round().astype(np.int32)
        cv2.polylines(img, [pts], False, COLOURS[name], 1, cv2.LINE_AA)
        if not ok.all():  # first non-finite value: a cross at the top of the panel
            x = int(x_of(np.asarray(its[~ok][0])))
            cv2.drawMarker(img, (x, top + 8), COLOURS[name], cv2.MARKER_TILTED_CROSS, 12, 2)
            cv2.putText(img, "NaN", (x + 8, top + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, COLOURS[name], 1, cv2.LINE_AA)
    cv2.putText(img, title, (left, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return img


def plot_diagnosis(out: Path, target: Path) -> Path:
    """The instrumented stress runs of both recipes, panel by panel, as one PNG (written atomically)."""
    runs = {name: json.loads((out / f"diagnose_{name}.json").read_text()) for name in RECIPES
            if (out / f"diagnose_{name}.json").exists()}
    niter = max(r["niter"] for r in runs.values())
    panels = [_panel(runs, title, key, log, niter) for title, key, log in PANELS]
    rows = [np.hstack(panels[i:i + 2]) for i in range(0, len(panels), 2)]
    legend = np.full((30, rows[0].shape[1], 3), 255, np.uint8)
    x = 62
    for name in runs:
        cv2.line(legend, (x, 15), (x + 30, 15), COLOURS[name], 2)
        text = f"{name} recipe"
        cv2.putText(legend, text, (x + 36, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        x += 200
    cv2.putText(legend, "stress protocol: lr 3e-3, guard off, seed 0; x: iteration", (x, 20),
                cv2.FONT_HERSHEY_SIMPLEX, 0.45, (80, 80, 80), 1, cv2.LINE_AA)
    ok, png = cv2.imencode(".png", np.vstack([legend, *rows]))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp.png")
    tmp.write_bytes(png.tobytes())
    os.replace(tmp, target)
    return target


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", choices=("diagnose", "stress", "ablation", "ladder", "quality", "caps", "binding", "report",
                                    "all"))
    p.add_argument("--out", type=Path, default=Path("experiments/stability"), help="folder of the stored results")
    p.add_argument("--plot", type=Path, default=Path("docs/stability_diagnosis.png"), help="where to draw the plot")
    p.add_argument("--seeds", type=int, nargs="+", default=list(STRESS_SEEDS), help="stress protocol seeds")
    args = p.parse_args(argv)
    if args.what in ("diagnose", "all"):
        diagnose(args.out)
    if args.what in ("stress", "all"):
        stress(args.out, tuple(args.seeds))
    if args.what in ("ablation", "all"):
        ablation(args.out)
    if args.what in ("ladder", "all"):
        ladder(args.out)
    if args.what in ("quality", "all"):
        quality(args.out)
    if args.what in ("caps", "all"):
        caps(args.out)
    if args.what in ("binding", "all"):
        binding(args.out)
    if args.what in ("report", "all"):
        print(report(args.out))
        if (args.out / "diagnose_original.json").exists():
            print(f"plot: {plot_diagnosis(args.out, args.plot)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
