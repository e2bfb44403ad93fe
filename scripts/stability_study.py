"""Training stability study (docs/stability.md): the stable recipe against the standard remedies, on the CPU.

    python scripts/stability_study.py stress     # stress protocol (lr 3e-3, guard off, 600 it), seeds 0-9
    python scripts/stability_study.py quality --recipes original cap-1e-2+clip-1e-1   # demo rate, 1500 it, seeds 0-7
    python scripts/stability_study.py results    # docs/results/stability_controls.json, its tables, the plot

``--recipes`` picks entries of ``VARIANTS`` (default: ``CONTROLS``, the original, the cap, gradient-norm
clipping, warm-up and a larger Adam epsilon) and ``--seeds`` other seeds. The stress runs of the first two
recipes on seed 0 are instrumented (per-layer statistics: the diagnosis plot). Each run is stored as JSON under
``--out`` (default ``experiments/stability``) and reused by later calls (delete a file to rerun that run).
``results`` summarises the stored runs into the committed results file (with the command, commit, machine and
every recipe's resolved options) and writes the tables of docs/stability.md from it; ``report`` only rewrites
the tables. Build the demo data first (``python scripts/prepare_demo_data.py``); run from the repository root
with one thread per process (``OMP_NUM_THREADS=1``).
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
from dcls.evaluation import average, evaluate
from dcls.ops.fft import psf2otf
from dcls.ops.imresize import imresize
from dcls.reports.provenance import mean_interval, proportion_interval, provenance, write_results
from dcls.utils.frozen import thaw

ORIGINAL = "options/demo/train_demo_x4.yml"
PLUGINS = "custom_imports=[stability_variants]"  # scripts/stability_variants.py, beside this script
CLAMP = (PLUGINS, "network_G.which_model_G=DCLSStraightThroughClamp")
CAP = ("train.max_update_ratio=0.01",)
FEATURE_INIT = (PLUGINS, "network_G.which_model_G=DCLSFeatureInit", "network_G.setting.feature_init_scale=0.4")
VARIANTS: dict[str, tuple[str, tuple[str, ...]]] = {  # name: (options file, overrides); the two recipes first
    "original": (ORIGINAL, ()),
    "cap-1e-2": (ORIGINAL, CAP),
    # the standard remedies, each on the original recipe
    "clip-1e-1": (ORIGINAL, ("train.grad_clip_norm=0.1",)),
    "clip-1e0": (ORIGINAL, ("train.grad_clip_norm=1.0",)),
    "warmup-100": (ORIGINAL, ("train.warmup_iter=100",)),
    "eps-1e-6": (ORIGINAL, ("train.adam_eps=1e-6",)),
    "eps-1e-4": (ORIGINAL, ("train.adam_eps=1e-4",)),
    "cap-1e-2+clip-1e-1": (ORIGINAL, (*CAP, "train.grad_clip_norm=0.1")),  # = train_demo_x4_stable.yml
    # network variants (plug-ins), not part of the comparison
    "cap-1e-2+straight-through-clamp": (ORIGINAL, (*CAP, *CLAMP)),
    "straight-through-clamp": (ORIGINAL, CLAMP),
    "cap-1e-2+feature-init-0.4": (ORIGINAL, (*CAP, *FEATURE_INIT)),
}
CONTROLS = ("original", "cap-1e-2", "clip-1e-1", "clip-1e0", "warmup-100", "eps-1e-6", "eps-1e-4",
            "cap-1e-2+clip-1e-1")
RECIPES = ("original", "cap-1e-2")
STRESS_LR = 3e-3
COLLAPSE_PSNR_DROP = 3.0  # dB below the best validation (the collapse guard's default margin): not recovered
COLLAPSE_PSNR_FLOOR = 15.0  # dB: a saturated (black/white) output scores 5-10 dB, bicubic upscaling ~24
PROTOCOLS = {  # name: (learning rate, iterations, validation period, default seeds)
    "stress": (STRESS_LR, 600, 100, tuple(range(10))),
    "quality": (2e-4, 1500, 500, tuple(range(8))),
}
QUALITY_CHECKPOINTS = (500, 1000, 1500)
LOSS_WINDOWS = {  # iterations (inclusive) of the training-loss means, by run length
    600: ((1, 50), (51, 300), (551, 600)),
    1500: ((1, 50), (51, 300), (1001, 1500)),
}
REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "docs" / "results" / "stability_controls.json"
DOC = REPO / "docs" / "stability.md"
DOC_MARKERS = ("<!-- results -->\n", "\n<!-- /results -->")


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

    It stops early once the loss is not finite (nothing can recover from NaN weights) or, unless instrumented,
    once a validation is saturated (below ``COLLAPSE_PSNR_FLOOR``: the verdict is then settled).
    """
    torch.set_num_threads(1)
    trainer = build_trainer(options, seed, lr, niter, val_freq, extra)
    probe_ = Probe(trainer.model) if probe else None
    capping = trainer.update_cap is not None
    record: dict[str, Any] = {"options": options, "extra": list(extra), "resolved": thaw(trainer.opt),
                              "seed": seed, "lr": lr, "niter": niter,
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
        saturated = not probe and record["val"] and record["val"][-1][1] < COLLAPSE_PSNR_FLOOR
        if not finite or saturated or trainer.iteration >= niter:  # a saturated run is judged collapsed already
            break
    record["seconds"] = time.time() - start
    record.update(verdict(record))
    return record


def held_at_cap(trainer: Trainer, before: dict[str, torch.Tensor]) -> list[str]:
    """The weight tensors whose last step (from ``before``) was held at the cap of ``trainer``'s recipe."""
    return [name for name, p in trainer.model.named_parameters() if p.ndim > 1 and (p.detach() - before[name]).norm()
            >= 0.999 * trainer.update_cap.max_update_ratio * before[name].norm()]


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


def _load(out: Path, prefix: str) -> list[dict[str, Any]]:
    """Stored runs whose tag starts with ``prefix``, judged by the current :func:`verdict`, by variant and seed."""
    records = [json.loads(p.read_text()) for p in sorted(out.glob(f"{prefix}*.json"))]
    return sorted(({**r, **verdict(r)} for r in records), key=_order)


def _order(record: dict[str, Any]) -> tuple[int, int]:
    """Sort key: the variant's place in ``VARIANTS``, then the seed."""
    return list(VARIANTS).index(record["variant"]), record["seed"]


def collapses(out: Path, variant: str) -> int:
    """How many stored stress runs of ``variant`` collapsed."""
    runs = [r for r in _load(out, f"stress_{_slug(variant)}_s") if r["variant"] == variant]
    diagnosed = out / f"diagnose_{variant}.json"
    if diagnosed.exists():
        runs.append(verdict(json.loads(diagnosed.read_text())))
    return sum(r["collapsed"] for r in runs)


def _finite(value: float) -> float | None:
    """``value``, or None (JSON null) when it is not finite."""
    return value if math.isfinite(value) else None


def failure(record: dict[str, Any]) -> str | None:
    """How a judged run collapsed: "NaN" (a non-finite loss or output), "saturated" (a validation below
    ``COLLAPSE_PSNR_FLOOR``), "drop" (ended ``COLLAPSE_PSNR_DROP`` dB below its best); None if it did not."""
    if not record["collapsed"]:
        return None
    at = dict((int(i), p) for i, p in record["val"]).get(record["collapse_iter"], math.nan)
    if not math.isfinite(at) or not np.isfinite(record["l_pix"]).all():
        return "NaN"
    return "saturated" if at < COLLAPSE_PSNR_FLOOR else "drop"


def summarize_run(record: dict[str, Any]) -> dict[str, Any]:
    """What the results file keeps of one run: the verdict, the validations, the final training loss."""
    finite = bool(np.isfinite(record["l_pix"]).all())
    return {"variant": record["variant"], "seed": record["seed"], "collapsed": record["collapsed"],
            "collapse_iter": record["collapse_iter"], "failure": failure(record),
            "val": [[int(i), _finite(p)] for i, p in record["val"]], "final_psnr_y": _finite(record["final_psnr"]),
            "iterations": len(record["l_pix"]), "seconds": round(record["seconds"], 1),
            "train_loss": {f"{a}-{b}": float(np.mean(record["l_pix"][a - 1:b])) if finite and len(
                record["l_pix"]) >= b else None for a, b in LOSS_WINDOWS[record["niter"]]}}


def bicubic_psnr_y(options: str) -> float:
    """PSNR-Y of MATLAB-bicubic upsampling on the validation set of ``options``, scored as the models are."""
    trainer = build_trainer(options, 0, 2e-4, 1, 1)
    scale = trainer.scale

    def predict(lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return imresize(lr, scale).clamp(0, 1), torch.zeros(1, 1, 1)

    return average(evaluate(predict, trainer.val_loader, scale, full_metrics=False))["psnr_y"]


def _stress_summary(runs: list[dict[str, Any]], bicubic: float) -> dict[str, Any]:
    survivors = [r for r in runs if not r["collapsed"]]
    failures = [r["failure"] for r in runs if r["collapsed"]]
    return {"seeds": [r["seed"] for r in runs], "collapsed": len(failures),
            "collapse_rate": proportion_interval(len(failures), len(runs)),
            "failures": {kind: failures.count(kind) for kind in ("NaN", "saturated", "drop")},
            "final_psnr_y_minus_bicubic": mean_interval([r["final_psnr_y"] - bicubic for r in survivors]),
            "train_loss_last_50": mean_interval([r["train_loss"]["551-600"] for r in survivors])}


def _quality_summary(runs: list[dict[str, Any]], original: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Paired over the seeds the original has: PSNR-Y differences at each validation, training-loss ratios."""
    paired = [r for r in runs if r["seed"] in original]
    summary: dict[str, Any] = {"seeds": [r["seed"] for r in paired], "psnr_y_minus_original": {},
                               "train_loss_vs_original": {}}
    for iteration in QUALITY_CHECKPOINTS:
        diffs = [dict(r["val"])[iteration] - dict(original[r["seed"]]["val"])[iteration] for r in paired]
        summary["psnr_y_minus_original"][str(iteration)] = mean_interval(diffs)
    for window in paired[0]["train_loss"] if paired else ():
        ratios = [r["train_loss"][window] / original[r["seed"]]["train_loss"][window] - 1 for r in paired]
        summary["train_loss_vs_original"][window] = mean_interval(ratios)
    return summary


def collect(out: Path) -> dict[str, Any]:
    """The results file of the controls: every stress and quality run of ``CONTROLS`` summarised, per recipe
    its resolved options, the stress summary (collapses with a 95% interval, learning of the survivors) and
    the quality summary (paired against the original over the same seeds)."""
    stress_runs, quality_runs = _load(out, "diagnose_") + _load(out, "stress_"), _load(out, "quality_")
    stress = [summarize_run(r) for r in stress_runs if r["variant"] in CONTROLS]
    quality = [summarize_run(r) for r in quality_runs if r["variant"] in CONTROLS]
    resolved = {}
    for r in stress_runs + quality_runs:
        resolved.setdefault(r["variant"], {"options": r["options"], "overrides": r["extra"],
                                           "resolved_train": r["resolved"]["train"]})
    bicubic = bicubic_psnr_y(ORIGINAL)
    by_variant = {v: [r for r in stress if r["variant"] == v] for v in CONTROLS}
    quality_by = {v: [r for r in quality if r["variant"] == v] for v in CONTROLS}
    original = {r["seed"]: r for r in quality_by["original"]}
    return {
        **provenance(REPO),
        "protocols": {name: {"lr": lr, "iterations": n, "val_freq": f, "collapse_guard": False}
                      for name, (lr, n, f, _) in PROTOCOLS.items()},
        "collapse_floor_db": COLLAPSE_PSNR_FLOOR, "collapse_drop_db": COLLAPSE_PSNR_DROP,
        "bicubic_psnr_y": bicubic, "recipes": {v: resolved[v] for v in CONTROLS if v in resolved},
        "stress": {v: _stress_summary(runs, bicubic) for v, runs in by_variant.items() if runs},
        "quality": {v: {"final_psnr_y": mean_interval([r["final_psnr_y"] for r in runs]),
                        **(_quality_summary(runs, original) if v != "original" else {})}
                    for v, runs in quality_by.items() if runs},
        "diagnosis": diagnosis_rows(out),
        "runs": stress + quality,
    }


DIAGNOSIS_BEFORE_END = (150, 100, 60, 40, 30, 20, 15, 10, 8, 6, 4, 2, 1, 0)  # table rows: iterations before the last
DIAGNOSIS_COLUMNS = ("out_clamped_fraction", "act_body.1", "act_fusion", "grad_Restorer.upscale",
                     "step_Restorer.body", "step_Restorer.fusion", "P_logit_max")


def diagnosis_rows(out: Path) -> list[dict[str, Any]]:
    """The instrumented original-recipe stress run (seed 0) over its last iterations (``DIAGNOSIS_BEFORE_END``
    before the end: its NaN, or iteration 600): pixel loss and ``DIAGNOSIS_COLUMNS``."""
    path = out / "diagnose_original.json"
    if not path.exists():
        return []
    record = json.loads(path.read_text())
    last = len(record["stats"])
    rows = sorted({last - k for k in DIAGNOSIS_BEFORE_END if last - k >= 1})
    return [{"iteration": it, "l_pix": _finite(record["l_pix"][it - 1]),
             **{k: _finite(record["stats"][it - 1][k]) for k in DIAGNOSIS_COLUMNS}} for it in rows]


def _interval(entry: dict[str, Any], digits: int = 2, scale: float = 1.0, unit: str = "", sign: str = "+") -> str:
    """'mean [low, high]' of a :func:`mean_interval` entry (times ``scale``), or '-' without values; ``sign``
    "+" for differences, "" for plain values."""
    if not entry["n"]:
        return "-"
    mean = f"{scale * entry['mean']:{sign}.{digits}f}{unit}"
    if entry["ci95"] is None:
        return f"{mean} (n=1)"
    low, high = (scale * x for x in entry["ci95"])
    return f"{mean} [{low:{sign}.{digits}f}, {high:{sign}.{digits}f}] (n={entry['n']})"


def report(results: dict[str, Any]) -> str:
    """Markdown tables of the results file (docs/stability.md shows them between its results markers)."""
    lines = ["#### Stress protocol (lr 3e-3, guard off, 600 iterations)", "",
             f"Bicubic upsampling scores {results['bicubic_psnr_y']:.2f} dB PSNR-Y on the same set. Learning "
             "columns: the runs that did not collapse.", "",
             "| recipe | overrides | seeds | collapsed [95% interval] | NaN / saturated / drop "
             "| final PSNR-Y minus bicubic, dB | training loss, last 50 it |", "|---|---|---|---|---|---|---|"]
    for name, summary in results["stress"].items():
        recipe = results["recipes"][name]
        overrides = ", ".join(f"`{o}`" for o in recipe["overrides"]) or f"`{Path(recipe['options']).name}`"
        rate = summary["collapse_rate"]
        f = summary["failures"]
        lines.append(f"| {name} | {overrides} | {len(summary['seeds'])} | {summary['collapsed']}/"
                     f"{len(summary['seeds'])} [{rate['ci95'][0]:.2f}, {rate['ci95'][1]:.2f}] "
                     f"| {f['NaN']} / {f['saturated']} / {f['drop']} "
                     f"| {_interval(summary['final_psnr_y_minus_bicubic'])} "
                     f"| {_interval(summary['train_loss_last_50'], 4, sign='')} |")
    quality = results["quality"]
    if quality:
        checkpoints = list(QUALITY_CHECKPOINTS)
        lines += ["", "#### Quality at the demo learning rate (2e-4, guard off, 1500 iterations), paired with the "
                  "original over the same seeds", "",
                  "| recipe | final PSNR-Y, dB | "
                  + " | ".join(f"minus the original at {c} it, dB" for c in checkpoints)
                  + " | training loss vs the original, it 1001-1500 |", "|---|---|" + "---|" * (len(checkpoints) + 1)]
        for name, summary in quality.items():
            final = summary["final_psnr_y"]
            mean = f"{final['mean']:.2f} (n={final['n']})"
            if name == "original":
                lines.append(f"| {name} | {mean} | " + " | ".join("-" for _ in checkpoints) + " | - |")
                continue
            cells = [_interval(summary["psnr_y_minus_original"][str(c)]) for c in checkpoints]
            loss = summary["train_loss_vs_original"].get("1001-1500")
            lines.append(f"| {name} | {mean} | " + " | ".join(cells) + " | "
                         + (_interval(loss, 1, 100, " %") if loss else "-") + " |")
    if results["diagnosis"]:
        lines += ["", "#### Original recipe, stress protocol, seed 0, around its collapse (instrumented)", "",
                  "| iteration | pixel loss | " + " | ".join(DIAGNOSIS_COLUMNS) + " |",
                  "|---|---|" + "---|" * len(DIAGNOSIS_COLUMNS)]
        for row in results["diagnosis"]:
            cells = ["-" if row[k] is None else f"{row[k]:.3g}" for k in ("l_pix", *DIAGNOSIS_COLUMNS)]
            lines.append(f"| {row['iteration']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_doc(results: dict[str, Any], doc: Path = DOC) -> None:
    """Replace the tables between the results markers of ``doc`` with :func:`report` of ``results``."""
    text = doc.read_text()
    start, end = DOC_MARKERS
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    doc.write_text(head + start + report(results) + end + tail)


PANELS = (  # (title, statistic, log scale)
    ("pixel loss (L1)", "l_pix", True),
    ("output pixels outside [0, 1] (clamped)", "out_clamped_fraction", False),
    ("max |activation| after the DPCAG body", "act_body.1", True),
    ("max logit of the CLS smoothness operator (exp input)", "P_logit_max", True),
    ("Restorer gradient norm (upsampler)", "grad_Restorer.upscale", True),
    ("relative optimizer step of the DPCAG body", "step_Restorer.body", True),
)
COLOURS = {"original": (40, 40, 220), "cap-1e-2": (170, 110, 20)}  # BGR: red, blue


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
    p.add_argument("what", choices=("stress", "quality", "results", "report"))
    p.add_argument("--out", type=Path, default=Path("experiments/stability"), help="folder of the stored runs")
    p.add_argument("--plot", type=Path, default=REPO / "docs" / "stability_diagnosis.png",
                   help="where results draws the plot of the instrumented runs")
    p.add_argument("--recipes", nargs="+", choices=list(VARIANTS), default=list(CONTROLS), metavar="RECIPE",
                   help=f"entries of VARIANTS (default: the controls); one of: {'; '.join(VARIANTS)}")
    p.add_argument("--seeds", type=int, nargs="+", help="seeds (default: the protocol's)")
    p.add_argument("--stop-after", type=int, default=None, metavar="N",
                   help="stress: run no further seed of a recipe that has collapsed on N seeds already (it does "
                        "not prevent collapse; its rate is then reported over the seeds it ran)")
    args = p.parse_args(argv)
    if args.what in PROTOCOLS:
        for seed in args.seeds or PROTOCOLS[args.what][3]:
            for variant in args.recipes:
                if args.what == "stress" and args.stop_after and collapses(args.out, variant) >= args.stop_after:
                    continue
                protocol_run(args.out, args.what, variant, seed)
    if args.what == "results":
        write_results(RESULTS, collect(args.out))
        print(f"wrote {RESULTS}", file=sys.stderr)
        if (args.out / "diagnose_original.json").exists():
            print(f"plot: {plot_diagnosis(args.out, args.plot)}", file=sys.stderr)
    if args.what in ("results", "report"):
        write_doc(json.loads(RESULTS.read_text()))
        print(f"tables written into {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
