"""``scripts/plot_kernels.py``: estimated vs ground-truth blur kernels of a benchmark, as a PNG sheet.

A benchmark folder of LR images is paired by file name with its ground-truth kernels (``.npy``, as
``generate_mod_blur_LR_bic.py`` and ``generate_div2krk.py`` write them); the model estimates each LR image's
kernel (as inference does: whole image, or its central crop when large) and the sheet shows, per image,
the estimate above the ground truth on one colour scale, with their L1 distance. DCLS estimates the blur
in LR space (what remains of the HR blur after downsampling, docs/method.md §3), so the ground truth is shown
as that LR-space kernel (:func:`dcls.losses.lr_space_kernel`), the target the estimator is trained on.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from dcls.errors import InputError, UserError
from dcls.evaluation import InferenceSettings, SuperResolver
from dcls.inference.files import collect_inputs
from dcls.inference.model_loading import add_model_arguments, spec_from_namespace
from dcls.losses import lr_space_kernel
from dcls.utils.codec import decode
from dcls.utils.device import choose_device
from dcls.utils.image_io import read_image, write_png
from dcls.utils.kernel_vis import kernel_grid


@dataclass
class KernelPair:
    name: str
    estimated: np.ndarray
    truth: np.ndarray

    @property
    def l1(self) -> float | None:
        """Sum of absolute differences (0 = identical, at most 2 for non-negative kernels), or None for
        kernels of different sizes."""
        if self.estimated.shape != self.truth.shape:
            return None
        return float(np.abs(self.estimated - self.truth).sum())


def default_kernel_dir(lr_dir: Path) -> Path | None:
    """Ground-truth kernel folder of the known benchmark layouts: Gaussian8 ``LRblur/xS`` -> ``kernel/xS``,
    DIV2KRK ``lr_xS`` -> ``gt_k_xS``, dcls-realistic ``LR/xS`` -> ``kernels/xS``."""
    lr_dir = lr_dir.resolve()
    if lr_dir.parent.name == "LRblur":
        return lr_dir.parent.parent / "kernel" / lr_dir.name
    if lr_dir.parent.name == "LR":
        return lr_dir.parent.parent / "kernels" / lr_dir.name
    if lr_dir.name.startswith("lr_x"):
        return lr_dir.parent / f"gt_k_{lr_dir.name[3:]}"
    return None


def find_pairs(lr_dir: Path, kernel_dir: Path) -> list[tuple[Path, Path]]:
    """(LR image, kernel .npy) pairs sharing a file stem; InputError when there is none."""
    kernels = {p.stem: p for p in kernel_dir.glob("*.npy")}
    pairs = [(img, kernels[img.stem]) for img in collect_inputs([lr_dir]) if img.stem in kernels]
    if not pairs:
        raise InputError(f"no LR image in {lr_dir} has a kernel <same name>.npy in {kernel_dir}")
    return pairs


def estimate_pairs(resolver: SuperResolver, pairs: Sequence[tuple[Path, Path]]) -> tuple[list[KernelPair], list[str]]:
    """The resolver's kernel for each (LR image, kernel .npy) pair; unreadable images reported and listed."""
    results, failed = [], []
    for image_path, kernel_file in tqdm(pairs, unit="image", desc="estimating kernels"):
        try:
            lr = decode(read_image(image_path)).rgb
        except ValueError as exc:  # an unreadable file (ImageReadError), an unsupported layout, ...
            failed.append(str(image_path))
            tqdm.write(f"skipped {image_path}: {exc}", file=sys.stderr)
            continue
        estimated = resolver.estimate_kernel(lr)[0, 0].double().cpu().numpy()
        truth = torch.from_numpy(np.load(kernel_file, allow_pickle=False)).double()
        target = lr_space_kernel(truth, resolver.scale, estimated.shape[-1]).numpy()
        results.append(KernelPair(image_path.stem, estimated, target))
    return results, failed


def kernel_sheet(pairs: Sequence[KernelPair], columns: int = 8, cell: int = 6) -> np.ndarray:
    """BGR uint8 sheet: blocks of ``columns`` images, estimated kernels above ground truth, named with L1."""
    blocks = []
    for first in range(0, len(pairs), columns):
        chunk = pairs[first : first + columns]
        labels = [f"{p.name}\nL1 {p.l1:.3f}" if p.l1 is not None else p.name for p in chunk]
        blocks.append(kernel_grid([[p.estimated for p in chunk], [p.truth for p in chunk]],
                                  ["estimated", "true, LR space"], labels, cell))
    width = max(b.shape[1] for b in blocks)
    blocks = [np.pad(b, ((0, 0), (0, width - b.shape[1]), (0, 0)), constant_values=255) for b in blocks]
    return np.concatenate(blocks, axis=0)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Draw a model's estimated blur kernels next to a benchmark's "
                                "ground-truth kernels (PNG), and print their L1 distances.")
    add_model_arguments(p)
    p.add_argument("--lr_dir", required=True, help="benchmark LR images, e.g. .../Set5/LRblur/x4 or DIV2KRK/lr_x4")
    p.add_argument("--kernel_dir", help="ground-truth kernels <name>.npy (default: from the benchmark layout)")
    p.add_argument("--output", default="results/kernels.png", help="PNG to write (default results/kernels.png)")
    p.add_argument("--max_images", type=int, default=0, help="only the first N pairs (0 = all)")
    p.add_argument("--columns", type=int, default=8, help="images per block of the sheet")
    p.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda if available, else cpu)")
    p.add_argument("--kernel_crop", type=int, default=512, help="estimate on the central crop of this size")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; 0 on success, 1 when an image could not be read, 2 for bad arguments."""
    args = build_parser().parse_args(argv)
    lr_dir = Path(args.lr_dir)
    try:
        kernel_dir = Path(args.kernel_dir) if args.kernel_dir else default_kernel_dir(lr_dir)
        if kernel_dir is None:
            raise InputError(f"cannot tell where the kernels of {lr_dir} are: give --kernel_dir")
        pairs = find_pairs(lr_dir, kernel_dir)[: args.max_images or None]
        if args.columns < 1:
            raise InputError("--columns must be at least 1")
        spec = spec_from_namespace(args, str(lr_dir))
        device = choose_device(args.device)
        resolver = SuperResolver(spec.build(device), spec.scale, InferenceSettings(kernel_crop=args.kernel_crop),
                                 device)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    results, failed = estimate_pairs(resolver, pairs)
    if results:
        write_png(Path(args.output), kernel_sheet(results, args.columns))
        for pair in results:
            print(f"{pair.name:40s} L1 {pair.l1:.4f}" if pair.l1 is not None else f"{pair.name:40s} (sizes differ)")
        distances = [p.l1 for p in results if p.l1 is not None]
        if distances:
            print(f"mean kernel L1 over {len(distances)} images: {np.mean(distances):.4f}")
        print(f"kernel sheet: {args.output}")
    if failed:
        print(f"failed ({len(failed)}): {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
