"""Realistic degradations on the demo model (docs/realistic.md): trains, tests and reports every figure of that page.

    python scripts/realistic_study.py train      # both demo models (Gaussian-only, realistic) per seed, 1500 it each
    python scripts/realistic_study.py evaluate   # PSNR-Y and kernel error on the demo's realistic set and Gaussian8
    python scripts/realistic_study.py report     # the tables of docs/realistic.md from the results file
    python scripts/realistic_study.py figure     # figs/realistic_comparison.png: one noisy, compressed input

The two models differ only in the training degradation: ``options/demo/train_demo_x4.yml`` (Gaussian blur,
the paper's setting 1) and ``options/demo/train_demo_realistic_x4.yml`` (setting 3); same data, network,
schedule, budget and seeds. Each run is ``codes/train.py`` with the seed and its own experiment folder under
``--out`` (default ``experiments/realistic_study``; a finished run is not rerun). Build the data first, from the
repository root: ``python scripts/prepare_demo_data.py`` and ``dcls-realistic --input demo_data/test/HR
--output demo_data/test/Realistic --copies 8``. Run with one thread per process (``OMP_NUM_THREADS=1``), two
runs at a time on two cores. ``evaluate`` writes ``docs/results/realistic_demo.json`` (command, resolved
options, commit, machine).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dcls.config import load_options
from dcls.data import build_dataloader, build_dataset
from dcls.evaluation import InferenceSettings, SuperResolver, average, evaluate
from dcls.inference.model_loading import ModelSpec
from dcls.reports.figures import panel, side_by_side
from dcls.reports.kernel_report import estimate_pairs, find_pairs
from dcls.reports.provenance import mean_interval, provenance, write_results
from dcls.utils.codec import image_to_tensor, tensor_to_image
from dcls.utils.frozen import thaw
from dcls.utils.image_io import atomic_write_bytes, read_image, write_png

REPO = Path(__file__).resolve().parents[1]
REALISTIC = "options/demo/train_demo_realistic_x4.yml"  # noise and JPEG on 20 % of the crops each


def _noise_and_jpeg(probability: float) -> tuple[str, str]:
    """Overrides of the demo file's noise and JPEG probabilities."""
    return f"degradation.noise.probability={probability}", f"degradation.jpeg.probability={probability}"


MODELS: dict[str, tuple[str, tuple[str, ...]]] = {  # name: (options file, overrides); the baseline first
    "gaussian": ("options/demo/train_demo_x4.yml", ()),
    "realistic": (REALISTIC, ()),  # noise and JPEG on 20 % of the crops each
    "realistic_40": (REALISTIC, _noise_and_jpeg(0.4)),  # on 40 %
    "realistic_80": (REALISTIC, _noise_and_jpeg(0.8)),  # on 80 %: the generator's defaults
}
SETS = {  # name: (HR folder, LR folder, kernel folder), relative to the repository root
    "realistic": ("demo_data/test/Realistic/HR/x4", "demo_data/test/Realistic/LR/x4",
                  "demo_data/test/Realistic/kernels/x4"),
    "gaussian8": ("demo_data/test/Gaussian8/HR/x4", "demo_data/test/Gaussian8/LRblur/x4",
                  "demo_data/test/Gaussian8/kernel/x4"),
}
SCALE = 4
RESULTS = REPO / "docs" / "results" / "realistic_demo.json"
DOC = REPO / "docs" / "realistic.md"
def run_dir(out: Path, model: str, seed: int) -> Path:
    return out / f"{model}_s{seed}"


def train_command(out: Path, model: str, seed: int) -> list[str]:
    """The training run of ``model`` and ``seed``: the options file as shipped with the model's overrides, plus
    the seed and the folder."""
    options, overrides = MODELS[model]
    return [sys.executable, str(REPO / "codes" / "train.py"), "-opt", options, "--set", *overrides,
            f"name=study_{model}_s{seed}", f"train.manual_seed={seed}", "use_tb_logger=false",
            f"path.experiments_root={run_dir(out, model, seed)}"]


def train(out: Path, seeds: list[int], models: list[str]) -> None:
    """Train ``models`` for every seed that has no finished run yet."""
    for seed in seeds:
        for model in models:
            if (run_dir(out, model, seed) / "models" / "latest_G.pth").is_file():
                continue
            print(f"training {model} seed {seed} ...", file=sys.stderr, flush=True)
            subprocess.run(train_command(out, model, seed), cwd=REPO, check=True)


def _loader(hr: str, lr: str) -> Any:
    spec = {"name": "set", "mode": "LQGT", "dataroot_GT": str(REPO / hr), "dataroot_LQ": str(REPO / lr),
            "scale": SCALE, "phase": "test", "n_workers": 0}
    return build_dataloader(build_dataset(spec), spec)


def score(checkpoint: Path, network: dict[str, Any]) -> dict[str, dict[str, float]]:
    """PSNR-Y (crop = scale) and mean L1 kernel error (against the LR-space kernel of the true HR kernel, the
    estimator's target) of one checkpoint on every set."""
    model = ModelSpec(checkpoint, SCALE, network["which_model_G"], network["setting"]).build("cpu")
    resolver = SuperResolver(model, SCALE, InferenceSettings(kernel_crop=0), "cpu")
    scores = {}
    for name, (hr, lr, kernels) in SETS.items():
        with torch.no_grad():
            psnr = average(evaluate(resolver, _loader(hr, lr), SCALE, full_metrics=False))["psnr_y"]
        pairs, _ = estimate_pairs(resolver, find_pairs(REPO / lr, REPO / kernels))
        scores[name] = {"psnr_y": psnr, "kernel_l1": float(np.mean([p.l1 for p in pairs])), "images": len(pairs)}
    return scores


def paired(runs: list[dict[str, Any]], set_name: str, key: str, model: str = "realistic") -> dict[str, Any]:
    """Mean of (``model`` - gaussian) over the seeds both have, with its 95% interval (Student's t)."""
    by = {(r["model"], r["seed"]): r["sets"][set_name][key] for r in runs}
    seeds = sorted(s for m, s in by if m == model and ("gaussian", s) in by)
    diffs = [by[model, s] - by["gaussian", s] for s in seeds]
    interval = mean_interval(diffs)
    return {"seeds": seeds, "differences": diffs, "mean": interval["mean"], "ci95": interval["ci95"]}


def paired_all(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """:func:`paired` of every realistic model on every set, as paired[model][set][metric]."""
    return {m: {s: {k: paired(runs, s, k, m) for k in ("psnr_y", "kernel_l1")} for s in SETS}
            for m in list(MODELS)[1:]}


def evaluate_all(out: Path) -> dict[str, Any]:
    """Score every finished run and write the results file (atomically)."""
    runs, options = [], {}
    for model, (options_file, overrides) in MODELS.items():
        opt, _ = load_options(REPO / options_file, is_train=True, overrides=overrides, check_paths=False)
        options[model] = thaw(opt)
        for seed_dir in sorted(out.glob(f"{model}_s*")):
            checkpoint = seed_dir / "models" / "latest_G.pth"
            if checkpoint.is_file():
                seed = int(seed_dir.name.rsplit("_s", 1)[1])
                print(f"scoring {model} seed {seed} ...", file=sys.stderr, flush=True)
                runs.append({"model": model, "seed": seed, "command": train_command(Path("OUT"), model, seed)[1:],
                             "sets": score(checkpoint, opt["network_G"])})
    results = {
        **provenance(REPO), "options": options, "runs": runs,
        "paired": paired_all(runs),
    }
    write_results(RESULTS, results)
    return results


def _interval(entry: dict[str, Any], unit: str, digits: int) -> str:
    if entry["ci95"] is None:
        return f"{entry['mean']:+.{digits}f}{unit} (one seed: no interval)"
    low, high = entry["ci95"]
    return f"{entry['mean']:+.{digits}f}{unit} [{low:+.{digits}f}, {high:+.{digits}f}]"


def report_tables(results: dict[str, Any]) -> str:
    """The markdown tables of docs/realistic.md, from the results file alone."""
    lines = ["| test set | model | seeds | PSNR-Y per seed (dB) | mean | kernel L1 (mean) |",
             "|---|---|---|---|---|---|"]
    for set_name in SETS:
        for model in MODELS:
            runs = sorted((r for r in results["runs"] if r["model"] == model), key=lambda r: r["seed"])
            if not runs:
                continue
            values = [r["sets"][set_name]["psnr_y"] for r in runs]
            kernel = np.mean([r["sets"][set_name]["kernel_l1"] for r in runs]) if runs else math.nan
            lines.append(f"| {set_name} | {model} | {', '.join(str(r['seed']) for r in runs)} | "
                         f"{', '.join(f'{v:.2f}' for v in values)} | {np.mean(values):.2f} | {kernel:.3f} |")
    lines += ["", "| model - gaussian | test set | PSNR-Y (95% interval) | kernel L1 (95% interval) | seeds |",
              "|---|---|---|---|---|"]
    for model in list(MODELS)[1:]:
        for set_name in SETS:
            psnr = results["paired"][model][set_name]["psnr_y"]
            kernel = results["paired"][model][set_name]["kernel_l1"]
            if psnr["seeds"]:
                lines.append(f"| {model} | {set_name} | {_interval(psnr, ' dB', 2)} | {_interval(kernel, '', 3)} | "
                             f"{', '.join(map(str, psnr['seeds']))} |")
    lines += ["", f"Measured at commit `{results['commit'][:7]}` with torch {results['torch']} on {results['cpu']} "
                  f"(`{results['command']}`)."]
    return "\n".join(lines)


def report() -> None:
    """Replace the tables between the markers of docs/realistic.md with those of the results file."""
    text = DOC.read_text(encoding="utf-8")
    start, end = "<!-- realistic-results -->\n", "\n<!-- /realistic-results -->"
    head, rest = text.split(start)
    _, tail = rest.split(end)
    tables = report_tables(json.loads(RESULTS.read_text()))
    atomic_write_bytes(DOC, f"{head}{start}{tables}{end}{tail}".encode())


def figure(out: Path, seed: int, name: str | None, models: tuple[str, ...] = ("gaussian", "realistic")) -> Path:
    """One input of the realistic set with noise and JPEG, beside both models' outputs and the HR image."""
    record = json.loads((REPO / "demo_data/test/Realistic/degradations_x4.json").read_text())
    noisy = [Path(i["image"]).stem for i in record["images"]
             if i["noise_type"] != "none" and i["jpeg_quality"] is not None]
    name = name or noisy[0]
    hr_dir, lr_dir, _ = SETS["realistic"]
    lr, hr = read_image(REPO / lr_dir / f"{name}.png"), read_image(REPO / hr_dir / f"{name}.png")
    opt, _ = load_options(REPO / MODELS["gaussian"][0], is_train=True, check_paths=False)
    panels = [panel(lr, "LR input (noise, JPEG)", 256)]
    for model in models:
        checkpoint = run_dir(out, model, seed) / "models" / "latest_G.pth"
        net = ModelSpec(checkpoint, SCALE, "DCLS", opt["network_G"]["setting"]).build("cpu")
        sr, _ = SuperResolver(net, SCALE, InferenceSettings(kernel_crop=0), "cpu")(image_to_tensor(lr)[None])
        panels.append(panel(tensor_to_image(sr[0]), f"trained on {model}", 256))
    panels.append(panel(hr, "HR", 256))
    path = REPO / "figs" / "realistic_comparison.png"
    write_png(path, side_by_side(panels))
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("train", "evaluate", "report", "figure"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--models", nargs="+", choices=tuple(MODELS), default=list(MODELS), help="train: which")
    parser.add_argument("--out", type=Path, default=REPO / "experiments" / "realistic_study")
    parser.add_argument("--image", help="figure: the image of the realistic set (default: the first noisy, JPEG one)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.command == "train":
        train(args.out, args.seeds, args.models)
    elif args.command == "evaluate":
        evaluate_all(args.out)
    elif args.command == "report":
        report()
    else:
        print(figure(args.out, args.seeds[0], args.image))
    return 0


if __name__ == "__main__":
    sys.exit(main())
