"""Run a model over an LR(/GT) data set: SR images, estimated kernels, and per-image PSNR/SSIM."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ..metrics import calculate_psnr, evaluate_pair
from ..utils.codec import tensor_to_image
from ..utils.image_io import IMAGE_EXTENSIONS, write_png
from ..utils.kernel_vis import kernel_to_image

Predict = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
METRICS = ("psnr", "ssim", "psnr_y", "ssim_y")


def image_name(label: str) -> str:
    """A file-name stem for a dataset label (a file path, or an LMDB key that may contain dots)."""
    name = Path(label).name
    return Path(name).stem if Path(name).suffix.lower() in IMAGE_EXTENSIONS else name


def evaluate(predict: Predict, loader: Iterable[dict[str, Any]], crop_border: int, *, full_metrics: bool = True,
             save_dir: str | Path | None = None, suffix: str = "", desc: str | None = None) -> list[dict[str, Any]]:
    """One row per image: its name and, when the set has GT, PSNR/SSIM on RGB and Y (or only PSNR-Y).

    With ``save_dir``, the SR image is written as ``<name><suffix>.png`` and the estimated kernel as
    ``<name><suffix>_kernel.png`` beside it. With ``desc``, a progress bar of that title is shown.
    """
    rows = []
    for data in tqdm(loader, desc=desc, unit="image", leave=False, disable=desc is None):
        name = image_name(data["LQ_path"][0])
        sr, kernel = predict(data["LQ"])
        sr_img = tensor_to_image(sr[0])
        row: dict[str, Any] = {"name": name}
        if "GT" in data:
            gt_img = tensor_to_image(data["GT"][0])
            if full_metrics:
                row.update(evaluate_pair(sr_img, gt_img, crop_border))
            else:
                row["psnr_y"] = calculate_psnr(sr_img, gt_img, crop_border, test_y_channel=True)
        if save_dir is not None:
            write_png(Path(save_dir) / f"{name}{suffix}.png", sr_img)
            write_png(Path(save_dir) / f"{name}{suffix}_kernel.png", kernel_to_image(kernel))
        rows.append(row)
    return rows


def average(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Mean of every metric present in ``rows``."""
    keys = [k for k in METRICS if rows and all(k in r for r in rows)]
    return {k: float(np.mean([r[k] for r in rows])) for k in keys}
