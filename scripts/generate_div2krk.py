"""Make a DIV2KRK-style benchmark (setting 2, KernelGAN's protocol: see dcls/data/div2krk.py for every choice
and its source): ``python scripts/generate_div2krk.py --input HR_DIR --output OUT_DIR --seed 0 [--lmdb]``
writes OUT_DIR/{gt,lr_x2,lr_x4,gt_k_x2,gt_k_x4} (kernels as .npy plus a PNG picture)."""

from __future__ import annotations

import argparse
import sys

from dcls.data.cli import run_tool
from dcls.data.div2krk import NOISE_LEVEL, generate_div2krk


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", "-input", "-input_dir", required=True, help="HR image folder or glob")
    parser.add_argument("--output", "-output", "-output_dir", required=True, help="benchmark folder to write")
    parser.add_argument("--seed", "-seed", type=int, default=0, help="random seed of the kernels (default 0)")
    parser.add_argument(
        "--noise-level", type=float, default=NOISE_LEVEL, help=f"multiplicative kernel noise (default {NOISE_LEVEL})"
    )
    parser.add_argument("--lmdb", action="store_true", help="also write HRblur.lmdb, x2LRblur.lmdb, x4LRblur.lmdb")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs in OUT_DIR")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if not 0.0 <= args.noise_level < 1.0:
        parser.error("--noise-level must be in [0, 1)")

    def run() -> str:
        count = generate_div2krk(
            args.input,
            args.output,
            seed=args.seed,
            noise_level=args.noise_level,
            make_lmdb=args.lmdb,
            overwrite=args.overwrite,
            progress=not args.quiet,
        )
        return f"DIV2KRK-style benchmark: {count} images -> {args.output}"

    return run_tool("generate_div2krk", run)


if __name__ == "__main__":
    sys.exit(main())
