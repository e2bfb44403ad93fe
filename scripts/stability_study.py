"""Training stability study (docs/stability.md): reproduces every figure and plot of that page on the CPU.

    python scripts/stability_study.py diagnose   # instrumented stress runs of both recipes (per-layer stats), seed 0
    python scripts/stability_study.py stress     # stress protocol (lr 3e-3, guard off, 600 it), seeds 0-9
    python scripts/stability_study.py quality    # demo learning rate 2e-4, 1500 it, seeds 0-3
    python scripts/stability_study.py early      # demo learning rate 2e-4, the first 300 it, seeds 0-7
    python scripts/stability_study.py ladder     # highest learning rate each recipe survives (seed 0)
    python scripts/stability_study.py report     # tables (markdown) and the plot from the stored results

``--recipes`` picks other entries of ``VARIANTS`` (the straight-through clamp, another ratio, a larger
initialisation of the feature block: network variants registered as plug-ins in ``stability_variants.py``)
and ``--seeds`` other seeds. Each run is stored as JSON under
``--out`` (default ``experiments/stability``) and reused by later calls (delete a file to rerun that run). Build
the demo data first: ``python scripts/prepare_demo_data.py``. Run it from the repository root with one thread per
process (``OMP_NUM_THREADS=1``) for comparable timings.
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

from dcls.config import load_options
from dcls.engine.distributed import init_distributed
from dcls.engine.trainer import Trainer
from dcls.ops.fft import psf2otf

ORIGINAL = "options/demo/train_demo_x4.yml"
STABLE = "options/demo/train_demo_x4_stable.yml"
PLUGINS = "custom_imports=[stability_variants]"  # scripts/stability_variants.py, beside this script
CLAMP = (PLUGINS, "network_G.which_model_G=DCLSStraightThroughClamp")
FEATURE_INIT = (PLUGINS, "network_G.which_model_G=DCLSFeatureInit", "network_G.setting.feature_init_scale=0.4")
VARIANTS: dict[str, tuple[str, tuple[str, ...]]] = {  # name: (options file, overrides); the two recipes first
    "original": (ORIGINAL, ()),
    "stable": (STABLE, ()),
    "stable + straight-through clamp": (STABLE, CLAMP),
    "straight-through clamp only": (ORIGINAL, CLAMP),
    "stable + straight-through clamp, ratio 2e-2": (STABLE, (*CLAMP, "train.max_update_ratio=0.02")),
    "stable, feature init 0.4": (STABLE, FEATURE_INIT),
}
RECIPES = ("original", "stable")
STRESS_LR = 3e-3
COLLAPSE_PSNR_DROP = 3.0  # dB below the best validation (the collapse guard's default margin): not recovered
COLLAPSE_PSNR_FLOOR = 15.0  # dB: a saturated (black/white) output scores 5-10 dB, bicubic upscaling ~24
PROTOCOLS = {  # name: (learning rate, iterations, validation period, default seeds)
    "stress": (STRESS_LR, 600, 100, tuple(range(10))),
    "quality": (2e-4, 1500, 500, (0, 1, 2, 3)),
    "early": (2e-4, 300, 300, tuple(range(8))),
}
LOSS_WINDOWS = ((1, 50), (51, 300), (1001, 1500))  # iterations (inclusive) of the training-loss comparison
LADDER = (1e-3, 3e-3, 6e-3, 1e-2, 2e-2)


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
    value = trainer.evaluate_val(save_images=False)
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
    capping = trainer.max_update_ratio is not None
    record: dict[str, Any] = {"options": options, "extra": list(extra), "seed": seed, "lr": lr, "niter": niter,
                              "l_pix": [], "l_ker": [], "val": [], "stats": [], "capped": {} if capping else None}
    start = time.time()
    for batch in trainer.batches():
        trainer.iteration += 1
        watch = probe_ is not None or capping
        before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()} if watch else {}
        losses = trainer.train_step(batch)
        trainer.update_learning_rate()
        record["l_pix"].append(losses["l_pix"])
        record["l_ker"].append(losses["l_ker"])
        if probe_:
            record["stats"].append(probe_.after_step(before))
        if capping:
            for name in held_at_cap(trainer, before):
                record["capped"].setdefault(name, []).append(trainer.iteration)
        finite = math.isfinite(losses["l_pix"]) and math.isfinite(losses["l_ker"])
        if trainer.iteration % val_freq == 0 or not finite:
            record["val"].append([trainer.iteration, psnr_y(trainer) if finite else math.nan])
        if not finite or trainer.iteration >= niter:
            break
    record["seconds"] = time.time() - start
    record.update(verdict(record))
    return record


def held_at_cap(trainer: Trainer, before: dict[str, torch.Tensor]) -> list[str]:
    """The weight tensors whose last step (from ``before``) was held at the cap of ``trainer``'s recipe."""
    return [name for name, p in trainer.model.named_parameters() if p.ndim > 1 and (p.detach() - before[name]).norm()
            >= 0.999 * trainer.max_update_ratio * before[name].norm()]


def verdict(record: dict[str, Any]) -> dict[str, Any]:
    """Collapsed (the issue's definition: NaN, or a PSNR fallen to a few dB that never recovers): a non-finite
    loss, a validation PSNR below ``COLLAPSE_PSNR_FLOOR`` (a saturated output), or a run that ends more than
    ``COLLAPSE_PSNR_DROP`` dB below its best and stays there; ``dip``: the largest drop below the best so far."""
    best, first, dip, below_since = -math.inf, None, 0.0, None
    for iteration, psnr in record["val"]:
        if not math.isfinite(psnr) or psnr < COLLAPSE_PSNR_FLOOR:
            first = iteration
            break
        dip = max(dip, best - psnr)
        below_since = (below_since or iteration) if psnr < best - COLLAPSE_PSNR_DROP else None
        best = max(best, psnr)
    finals = [p for _, p in record["val"]]
    first = first or below_since
    return {"collapsed": first is not None, "collapse_iter": first, "best_psnr": best, "dip": dip,
            "final_psnr": finals[-1] if finals else math.nan}


def _write_json(path: Path, record: dict[str, Any]) -> None:
    """Store ``record`` as JSON at ``path`` atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)


def cached_run(out: Path, tag: str, variant: str, **kwargs: Any) -> dict[str, Any]:
    """``train_run`` of ``VARIANTS[variant]`` with ``kwargs``, stored as ``out/tag.json`` (read back and judged by
    the current :func:`verdict` instead of rerunning when it exists)."""
    path = out / f"{tag}.json"
    if path.exists():
        record = json.loads(path.read_text())
        return {**record, **verdict(record)}
    print(f"running {tag} ...", file=sys.stderr, flush=True)
    options, extra = VARIANTS[variant]
    record = {"variant": variant, **train_run(options=options, extra=extra, **kwargs)}
    _write_json(path, record)
    print(f"  {tag}: collapsed={record['collapsed']} at {record['collapse_iter']}, "
          f"final PSNR-Y {record['final_psnr']:.2f} dB, {record['seconds']:.0f} s", file=sys.stderr, flush=True)
    return record


def _slug(variant: str) -> str:
    """The variant's name as part of a file name."""
    return variant.replace(", ", "_").replace(" ", "_")


def protocol_run(out: Path, protocol: str, variant: str, seed: int) -> dict[str, Any]:
    """One run of ``protocol`` (stress, quality or early); the stress runs of the recipes on seed 0 are instrumented."""
    lr, niter, val_freq, _ = PROTOCOLS[protocol]
    probe = protocol == "stress" and seed == 0 and variant in RECIPES
    tag = f"diagnose_{variant}" if probe else f"{protocol}_{_slug(variant)}_s{seed}"
    return cached_run(out, tag, variant, seed=seed, lr=lr, niter=niter, val_freq=val_freq, probe=probe)


def ladder(out: Path, variants: tuple[str, ...] = RECIPES) -> dict[str, list[dict[str, Any]]]:
    """Seed 0, 600 iterations, starting from the stress rung: up the ladder until the first collapse when the
    recipe survives the stress rate, else down until the first survival (the rungs between tell nothing)."""
    results: dict[str, list[dict[str, Any]]] = {}
    start = LADDER.index(STRESS_LR)
    for variant in variants:
        results[variant] = [protocol_run(out, "stress", variant, 0)]
        survived = not results[variant][0]["collapsed"]
        for lr in LADDER[start + 1:] if survived else LADDER[start - 1::-1]:
            record = cached_run(out, f"ladder_{_slug(variant)}_lr{lr:g}", variant, seed=0, lr=lr, niter=600,
                                val_freq=100)
            results[variant].append(record)
            if record["collapsed"] == survived:  # the first rung on the other side
                break
    return results


def _load(out: Path, prefix: str) -> list[dict[str, Any]]:
    """Stored runs whose tag starts with ``prefix``, judged by the current :func:`verdict`, by variant and seed."""
    records = [json.loads(p.read_text()) for p in sorted(out.glob(f"{prefix}*.json"))]
    return sorted(({**r, **verdict(r)} for r in records), key=_order)


def _order(record: dict[str, Any]) -> tuple[int, int]:
    """Sort key: the variant's place in ``VARIANTS``, then the seed."""
    return list(VARIANTS).index(record["variant"]), record["seed"]


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


def _median(values: list[float], fmt: str = ".2f") -> str:
    finite = [v for v in values if math.isfinite(v)]
    return f"{np.median(finite):{fmt}} (median of {len(finite)})" if finite else "-"


def _collapses(collapsed: list[dict[str, Any]]) -> str:
    """'s<seed> <first collapsed iteration>' of each collapsed run, or '-'."""
    return ", ".join(f"s{r['seed']} {r['collapse_iter']}" for r in collapsed) or "-"


def _final_loss(runs: list[dict[str, Any]]) -> str:
    """Median and largest mean pixel loss over the last 50 iterations of the runs whose losses stayed finite (a
    saturated output scores 0.3-0.5, a learning one 0.04-0.06)."""
    finals = [float(np.mean(r["l_pix"][-50:])) for r in runs if np.isfinite(r["l_pix"]).all()]
    return f"{np.median(finals):.3f} ({max(finals):.3f})" if finals else "-"


def _paired(differences: list[float]) -> str:
    """Mean of paired differences (dB) with its standard error and how many are positive."""
    if len(differences) < 2:
        return f"{differences[0]:+.2f} dB" if differences else "-"
    se = np.std(differences, ddof=1) / math.sqrt(len(differences))
    wins = sum(d > 0 for d in differences)
    return f"{np.mean(differences):+.2f} dB (se {se:.2f}; higher on {wins} of {len(differences)})"


def _capped_iterations(record: dict[str, Any]) -> list[int]:
    """The iteration of every tensor-step the cap held back in the run (one entry per tensor and iteration)."""
    return [iteration for iterations in record["capped"].values() for iteration in iterations]


def _by_variant(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(record["variant"], []).append(record)
    return groups


def report(out: Path) -> str:
    """Markdown tables of every stored result."""
    stress_runs = _load(out, "diagnose_") + _load(out, "stress_")  # a diagnose run is the stress run of seed 0
    quality_runs, ladder_runs = _load(out, "quality_"), _load(out, "ladder_")
    used = {r["variant"] for r in stress_runs + quality_runs + ladder_runs}
    lines = ["#### Original recipe, seed 0, around the collapse (diagnose)", "",
             "| iteration | pixel loss | " + " | ".join(DIAGNOSIS_COLUMNS) + " |",
             "|---|---|" + "---|" * len(DIAGNOSIS_COLUMNS), *diagnosis_table(out), "",
             "#### Recipes measured", "", "| recipe | options file | overrides |", "|---|---|---|"]
    lines += [f"| {name} | `{Path(options).name}` | {', '.join(f'`{e}`' for e in extra) or '-'} |"
              for name, (options, extra) in VARIANTS.items() if name in used]
    lines += ["", "#### Stress protocol (lr 3e-3, guard off, 600 iterations)", "",
              "| recipe | seeds | collapsed | first collapse (iter) | largest recovered dip | final PSNR-Y "
              "| capped tensor-steps | l_ker at 400 | training loss, last 50 it (max) |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name, runs in _by_variant(sorted(stress_runs, key=_order)).items():
        collapsed = [r for r in runs if r["collapsed"]]
        capped = [len(_capped_iterations(r)) for r in runs if r.get("capped") is not None]
        l_ker = [f"s{r['seed']} {np.mean(r['l_ker'][390:400]):.1e}" for r in runs if len(r["l_ker"]) >= 400]
        deepest = max((r for r in runs if not r["collapsed"]), key=lambda r: r["dip"], default=None)
        dip = f"{deepest['dip']:.2f} dB (s{deepest['seed']})" if deepest else "-"
        lines.append(f"| {name} | {', '.join(str(r['seed']) for r in runs)} | {len(collapsed)}/{len(runs)} "
                     f"| {_collapses(collapsed)} | {dip} "
                     f"| {_median([r['final_psnr'] for r in runs])} "
                     f"| {_median(capped, '.0f')} | {', '.join(l_ker) or '-'} | {_final_loss(runs)} |")
    lines += ["", "#### Learning-rate ladder (seed 0, guard off, 600 iterations)", "",
              "| recipe | " + " | ".join(f"{lr:g}" for lr in LADDER) + " | highest survived |",
              "|---|" + "---|" * (len(LADDER) + 1)]
    for name, rungs in _by_variant(ladder_runs).items():
        rungs = rungs + [r for r in stress_runs if r["variant"] == name and r["seed"] == 0]
        cells, highest = [], "-"
        for lr in LADDER:
            match = [r for r in rungs if math.isclose(r["lr"], lr)]
            cells.append("" if not match else f"collapsed at {match[0]['collapse_iter']}" if match[0]["collapsed"]
                         else f"ok ({match[0]['final_psnr']:.1f} dB)")
            if match and not match[0]["collapsed"]:
                highest = f"{lr:g}"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {highest} |")
    seeds = sorted({r["seed"] for r in quality_runs})
    lines += ["", "#### Quality at the demo learning rate (2e-4, 1500 iterations): PSNR-Y on the demo test set", "",
              "| recipe | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | minus the original (same seeds) "
              "| capped tensor-steps | l_ker 400 | l_ker 1500 |", "|---|" + "---|" * (len(seeds) + 5)]
    original = {r["seed"]: r["final_psnr"] for r in quality_runs if r["variant"] == "original"}
    for name, runs in _by_variant(quality_runs).items():
        by_seed = {r["seed"]: f"{r['final_psnr']:.2f}" for r in runs}
        mean = f"{np.mean([r['final_psnr'] for r in runs]):.2f}" if len(runs) == len(seeds) else "-"
        paired = _paired([r["final_psnr"] - original[r["seed"]] for r in runs if r["seed"] in original])
        capped = ", ".join(f"s{r['seed']}: {len(steps)} (last {max(steps, default='-')})"
                           for r in runs if r.get("capped") is not None for steps in [_capped_iterations(r)])
        at_400 = " ".join(f"{np.mean(r['l_ker'][390:400]):.1e}" for r in runs)
        at_end = " ".join(f"{np.mean(r['l_ker'][-10:]):.1e}" for r in runs)
        lines.append(f"| {name} | " + " | ".join(by_seed.get(s, "-") for s in seeds)
                     + f" | {mean} | {paired if name != 'original' else '-'} | {capped or '-'} | {at_400} "
                     f"| {at_end} |")
    lines += loss_table(quality_runs + _load(out, "early_"))
    return "\n".join(lines)


def _longest_per_seed(runs: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Per seed, the longest of ``runs`` (a quality run's first iterations are an early run)."""
    return {r["seed"]: r for r in sorted(runs, key=lambda r: len(r["l_pix"]))}


def loss_table(runs: list[dict[str, Any]]) -> list[str]:
    """Mean training loss of each variant relative to the original's on the same seed (so on the same batches),
    over ``LOSS_WINDOWS``: a less noisy comparison than one validation at the end."""
    by_variant = {name: _longest_per_seed(group) for name, group in _by_variant(runs).items()}
    original = {seed: np.asarray(r["l_pix"]) for seed, r in by_variant.get("original", {}).items()}
    lines = ["", "#### Training loss at the demo learning rate, relative to the original recipe's (same seeds)", "",
             "| recipe | seeds | " + " | ".join(f"iterations {a}-{b}" for a, b in LOSS_WINDOWS) + " |",
             "|---|---|" + "---|" * len(LOSS_WINDOWS)]
    for name, longest in by_variant.items():
        group = [r for seed, r in sorted(longest.items()) if seed in original]
        if name == "original" or not group:
            continue
        cells = []
        for a, b in LOSS_WINDOWS:
            ratios = [np.mean(r["l_pix"][a - 1:b]) / np.mean(original[r["seed"]][a - 1:b]) - 1
                      for r in group if len(r["l_pix"]) >= b]
            cells.append(f"{100 * np.mean(ratios):+.1f} % ({sum(x > 0 for x in ratios)}/{len(ratios)} higher)"
                         if ratios else "")
        seeds = sorted({r["seed"] for r in group})
        lines.append(f"| {name} | {', '.join(map(str, seeds))} | " + " | ".join(cells) + " |")
    return lines


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
    p.add_argument("what", choices=("diagnose", "stress", "quality", "early", "ladder", "report", "all"))
    p.add_argument("--out", type=Path, default=Path("experiments/stability"), help="folder of the stored results")
    p.add_argument("--plot", type=Path, default=Path("docs/stability_diagnosis.png"), help="where to draw the plot")
    p.add_argument("--recipes", nargs="+", choices=list(VARIANTS), default=list(RECIPES), metavar="RECIPE",
                   help=f"entries of VARIANTS (default: {' '.join(RECIPES)}); one of: {'; '.join(VARIANTS)}")
    p.add_argument("--seeds", type=int, nargs="+", help="seeds of stress, quality or early (default: the protocol's)")
    args = p.parse_args(argv)
    if args.what in ("diagnose", "all"):
        for variant in RECIPES:
            protocol_run(args.out, "stress", variant, 0)
    for protocol, (*_, default_seeds) in PROTOCOLS.items():
        if args.what in (protocol, "all"):
            for seed in args.seeds or default_seeds:
                for variant in args.recipes:
                    protocol_run(args.out, protocol, variant, seed)
    if args.what in ("ladder", "all"):
        ladder(args.out, tuple(args.recipes))
    if args.what in ("report", "all"):
        print(report(args.out))
        if (args.out / "diagnose_original.json").exists():
            print(f"plot: {plot_diagnosis(args.out, args.plot)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
