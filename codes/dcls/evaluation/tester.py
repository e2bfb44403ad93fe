"""Evaluation of a trained model on the test sets of an options file (what ``codes/test.py`` runs).

For every set: SR images and estimated-kernel pictures in ``results/<name>/<set>/``, per-image and
average PSNR/SSIM (RGB and Y, border ``crop_border``) in the log, ``<set>.csv`` and ``metrics.json``. With
mixed precision (``amp`` bf16/fp16) every set is also evaluated in float32, and the PSNR-Y difference is
logged and written to ``metrics.json``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..data import build_dataloader, build_dataset
from ..errors import ConfigError
from ..modeling import build_model
from ..utils.image_io import atomic_write_bytes
from .predictor import InferenceSettings, SuperResolver
from .scoring import METRICS, average, evaluate

logger = logging.getLogger("dcls")


def write_csv(path: Path, rows: list[dict[str, Any]], avg: dict[str, float]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["image", *METRICS])
    for row in [*rows, {"name": "average", **avg}]:
        writer.writerow([row["name"], *(f"{row[k]:.6f}" if k in row else "" for k in METRICS)])
    atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))


def _format(row: dict[str, Any]) -> str:
    parts = [f"{k.upper()}: {row[k]:.6f}" for k in METRICS if k in row]
    return "; ".join(parts)


def run_tests(opt: Mapping[str, Any], device: torch.device, ensemble: bool = False, amp: str = "off") -> dict[str, Any]:
    """Evaluate every test set; return (and write) the per-set results."""
    results_root = Path(opt["path"]["results_root"])
    paths = opt["path"]
    model = build_model(opt["network_G"], device, weights=paths["pretrain_model_G"], strict=paths["strict_load"],
                        accelerate=opt["accel"])
    resolver = SuperResolver(model, opt["scale"], InferenceSettings(ensemble=ensemble, kernel_crop=0, amp=amp),
                             device)
    float32 = SuperResolver(model, opt["scale"], InferenceSettings(ensemble=ensemble, kernel_crop=0), device)
    suffix = opt["suffix"] or ""
    summary: dict[str, Any] = {
        "name": opt["name"], "scale": opt["scale"], "crop_border": opt["crop_border"], "ensemble": ensemble,
        "checkpoint": opt["path"]["pretrain_model_G"], "amp": amp, "sets": {},
    }
    for phase, ds_opt in sorted(opt["datasets"].items()):
        try:
            loader = build_dataloader(build_dataset(ds_opt), ds_opt)
        except (ValueError, KeyError, FileNotFoundError) as exc:
            raise ConfigError(f"datasets.{phase}: {exc}") from None
        set_name = ds_opt["name"]
        logger.info("Testing [%s] (%d images)...", set_name, len(loader.dataset))
        rows = evaluate(resolver, loader, opt["crop_border"], save_dir=results_root / set_name, suffix=suffix,
                        desc=set_name)
        for row in rows:
            logger.info("img: %-20s %s", row["name"], _format(row) or "(no GT)")
        avg = average(rows)
        if avg:
            logger.info("---- Average for %s: %s", set_name, _format(avg))
            write_csv(results_root / f"{set_name}.csv", rows, avg)
        summary["sets"][set_name] = {"images": rows, "average": avg}
        if amp != "off" and avg:
            reference = average(evaluate(float32, loader, opt["crop_border"], full_metrics=False))
            difference = avg["psnr_y"] - reference["psnr_y"]
            logger.info("---- %s on %s: PSNR-Y %.4f dB, float32 %.4f dB, difference %+.4f dB", amp, set_name,
                        avg["psnr_y"], reference["psnr_y"], difference)
            summary["sets"][set_name]["float32_psnr_y"] = reference["psnr_y"]
            summary["sets"][set_name]["amp_psnr_y_difference"] = difference
    text = json.dumps(summary, indent=2)
    atomic_write_bytes(results_root / "metrics.json", text.encode("utf-8"))
    return summary
