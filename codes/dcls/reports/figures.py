"""The README's pictures (``scripts/make_figs.py``): an LR / bicubic / DCLS / HR comparison on a demo test image
and the estimated vs ground-truth kernels of the demo's Gaussian8 set, drawn with OpenCV from a trained model."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from dcls.errors import UserError
from dcls.evaluation import InferenceSettings, SuperResolver
from dcls.inference.model_loading import add_model_arguments, spec_from_namespace
from dcls.metrics import calculate_psnr
from dcls.reports.demo_summary import bicubic_upscale
from dcls.reports.kernel_report import estimate_pairs, find_pairs, kernel_sheet
from dcls.utils.codec import decode, tensor_to_image
from dcls.utils.device import choose_device
from dcls.utils.image_io import read_image, write_png

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def detailed_window(hr: np.ndarray, size: int, step: int) -> tuple[int, int]:
    """Top-left corner (multiple of ``step``) of the ``size`` x ``size`` window of ``hr`` with the most
    gradient energy: the crop where super-resolution has something to show."""
    grey = cv2.cvtColor(hr, cv2.COLOR_BGR2GRAY).astype(np.float32)
    energy = np.abs(cv2.Sobel(grey, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    box = cv2.boxFilter(energy, -1, (size, size), anchor=(0, 0), normalize=False, borderType=cv2.BORDER_CONSTANT)
    h, w = grey.shape
    valid = box[: h - size + 1 : step, : w - size + 1 : step]
    y, x = np.unravel_index(np.argmax(valid), valid.shape)
    return int(y) * step, int(x) * step


def panel(img: np.ndarray, title: str, width: int) -> np.ndarray:
    """``img`` (BGR uint8) scaled (nearest) to ``width`` with a white caption strip above it: one picture of a
    comparison figure."""
    scaled = cv2.resize(img, (width, round(img.shape[0] * width / img.shape[1])), interpolation=cv2.INTER_NEAREST)
    strip = np.full((24, width, 3), 255, np.uint8)
    cv2.putText(strip, title, (4, 17), _FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([strip, scaled], axis=0)


def comparison_figure(lr: np.ndarray, sr: np.ndarray, hr: np.ndarray, scale: int, crop: int = 96,
                      width: int = 256) -> np.ndarray:
    """Side by side crops of LR (pixels enlarged), bicubic, DCLS and HR, titled with whole-image PSNR-Y."""
    bicubic = bicubic_upscale(lr, scale)
    y, x = detailed_window(hr, crop, scale)
    window = (slice(y, y + crop), slice(x, x + crop))
    lr_window = (slice(y // scale, (y + crop) // scale), slice(x // scale, (x + crop) // scale))

    def psnr(img: np.ndarray) -> str:
        return f"{calculate_psnr(img, hr, scale, test_y_channel=True):.2f} dB"

    return side_by_side([panel(lr[lr_window], f"LR input (x{scale})", width),
                         panel(bicubic[window], f"bicubic {psnr(bicubic)}", width),
                         panel(sr[window], f"DCLS {psnr(sr)}", width), panel(hr[window], "HR", width)])


def side_by_side(panels: list[np.ndarray]) -> np.ndarray:
    """Panels of one height in a row, 4 white pixels apart."""
    gap = np.full((panels[0].shape[0], 4, 3), 255, np.uint8)
    return np.concatenate([p for item in panels for p in (item, gap)][:-1], axis=1)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Regenerate figs/: demo comparison and kernel pictures.")
    add_model_arguments(p)
    p.add_argument("--benchmark", default="demo_data/test/Gaussian8",
                   help="Gaussian8 folder with HR/xS, LRblur/xS and kernel/xS (default: the demo's)")
    p.add_argument("--image", default="sig2.6_astronaut", help="LR/HR file stem of the comparison picture")
    p.add_argument("--output_dir", default="figs", help="where the PNGs go (default figs/)")
    p.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda if available, else cpu)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Write ``demo_comparison.png`` and ``demo_kernels.png``; 2 for bad arguments or missing inputs."""
    args = build_parser().parse_args(argv)
    out = Path(args.output_dir)
    try:
        spec = spec_from_namespace(args, args.benchmark)
        s = spec.scale
        lr_dir, hr_dir = Path(args.benchmark) / "LRblur" / f"x{s}", Path(args.benchmark) / "HR" / f"x{s}"
        lr = read_image(lr_dir / f"{args.image}.png", color=True)
        hr = read_image(hr_dir / f"{args.image}.png", color=True)
        pairs = find_pairs(lr_dir, Path(args.benchmark) / "kernel" / f"x{s}")
        device = choose_device(args.device)
        resolver = SuperResolver(spec.build(device), s, InferenceSettings(), device)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with torch.inference_mode():
        sr, _ = resolver(decode(lr).rgb)
    write_png(out / "demo_comparison.png", comparison_figure(lr, tensor_to_image(sr), hr, s))
    kernels, _ = estimate_pairs(resolver, pairs)
    write_png(out / "demo_kernels.png", kernel_sheet(kernels, columns=8))
    print(f"wrote {out / 'demo_comparison.png'} and {out / 'demo_kernels.png'}")
    return 0
