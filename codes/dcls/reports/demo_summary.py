"""The demo's last step: bicubic upsampling of the same LR test images as the baseline, and a table of the
model's PSNR/SSIM-Y (from ``test.py``'s ``metrics.json``) next to it, ending with the ``DEMO RESULT`` line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dcls.metrics import calculate_psnr, calculate_ssim
from dcls.ops.imresize import imresize
from dcls.utils.image_io import image_keys, list_images, read_image


def bicubic_upscale(lr_bgr_u8: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB-bicubic upsampling of an 8-bit image, rounded back to 8 bit (the usual SR baseline)."""
    return np.clip(np.rint(imresize(lr_bgr_u8, scale)), 0, 255).astype(np.uint8)


def bicubic_rows(lr_dir: Path, hr_dir: Path, scale: int, crop_border: int) -> list[dict[str, Any]]:
    """PSNR-Y / SSIM-Y of bicubic upsampling for every LR image that has an HR image of the same name."""
    hr = image_keys(list_images(hr_dir))
    rows = []
    for name, lr_path in image_keys(list_images(lr_dir)).items():
        if name not in hr:
            continue
        up, gt = bicubic_upscale(read_image(lr_path, color=True), scale), read_image(hr[name], color=True)
        rows.append({"name": name, "psnr_y": calculate_psnr(up, gt, crop_border, test_y_channel=True),
                     "ssim_y": calculate_ssim(up, gt, crop_border, test_y_channel=True)})
    if not rows:
        raise FileNotFoundError(f"no LR image in {lr_dir} has an HR image of the same name in {hr_dir}")
    return rows


_COLUMNS = (("bicubic PSNR-Y", 14), ("DCLS PSNR-Y", 12), ("gain", 6), ("bicubic SSIM-Y", 15), ("DCLS SSIM-Y", 12))


def _table_line(label: str, bicubic: dict[str, float], model: dict[str, float]) -> str:
    values = (f"{bicubic['psnr_y']:.2f}", f"{model['psnr_y']:.2f}", f"{model['psnr_y'] - bicubic['psnr_y']:+.2f}",
              f"{bicubic['ssim_y']:.4f}", f"{model['ssim_y']:.4f}")
    return f"{label:28s}" + "".join(f" {v:>{w}s}" for v, (_, w) in zip(values, _COLUMNS))


def summary_table(model: list[dict[str, Any]], bicubic: list[dict[str, Any]]) -> tuple[str, float, float]:
    """Text table per image (bicubic vs model, PSNR-Y and SSIM-Y) with averages over the images both have;
    returns (table, model mean PSNR-Y, bicubic mean PSNR-Y)."""
    ours = {r["name"]: r for r in model}
    base = {r["name"]: r for r in bicubic if r["name"] in ours}
    if not base:
        raise ValueError("the model's results and the bicubic baseline share no image name")
    header = f"{'image':28s}" + "".join(f" {title:>{w}s}" for title, w in _COLUMNS)
    rule = "-" * len(header)
    mean_b = {k: float(np.mean([r[k] for r in base.values()])) for k in ("psnr_y", "ssim_y")}
    mean_m = {k: float(np.mean([ours[n][k] for n in base])) for k in ("psnr_y", "ssim_y")}
    lines = [header, rule, *(_table_line(n, base[n], ours[n]) for n in base), rule,
             _table_line(f"average ({len(base)} images)", mean_b, mean_m)]
    return "\n".join(lines), mean_m["psnr_y"], mean_b["psnr_y"]


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table and ``DEMO RESULT: PSNR-Y model=<x> bicubic=<y>``; 1 if the model does not beat bicubic."""
    p = argparse.ArgumentParser(description="Compare a test.py run with bicubic upsampling of the same LR images.")
    p.add_argument("--metrics", required=True, help="metrics.json written by codes/test.py")
    p.add_argument("--set", dest="set_name", required=True, help="test set name inside metrics.json")
    p.add_argument("--lr_dir", required=True, help="the set's LR images (e.g. .../Gaussian8/LRblur/x4)")
    p.add_argument("--hr_dir", required=True, help="the set's HR images (e.g. .../Gaussian8/HR/x4)")
    args = p.parse_args(argv)
    try:
        metrics = json.loads(Path(args.metrics).read_text())
        run = metrics["sets"][args.set_name]
        scale, crop = int(metrics["scale"]), int(metrics["crop_border"])
        baseline = bicubic_rows(Path(args.lr_dir), Path(args.hr_dir), scale, crop)
        table, model_psnr, bicubic_psnr = summary_table(run["images"], baseline)
    except (OSError, KeyError, ValueError) as exc:
        print(f"error: cannot summarise the demo: {exc}", file=sys.stderr)
        return 2
    print(f"\nGaussian8 x{scale} demo test set '{args.set_name}' (Y channel, {crop}-pixel border ignored)\n{table}\n")
    beats = model_psnr > bicubic_psnr
    if not beats:
        print("the trained model does NOT beat bicubic upsampling", file=sys.stderr)
    print(f"DEMO RESULT: PSNR-Y model={model_psnr:.2f} bicubic={bicubic_psnr:.2f}")
    return 0 if beats else 1
