"""Make the Gaussian8 benchmark (setting 1) from HR images, as the original DCLS script of the same name:
``python scripts/generate_mod_blur_LR_bic.py --input HR_DIR --output OUT_DIR --scale 4 [--lmdb]`` writes
OUT_DIR/{HR,LRblur,LR,Bic,kernel}/x4 and, with --lmdb, OUT_DIR/x4HRblur.lmdb and OUT_DIR/x4LRblur.lmdb."""

from __future__ import annotations

import argparse
import sys

from dcls.data.cli import run_tool
from dcls.data.gaussian8 import generate_gaussian8


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", "-input", "-input_dir", required=True, help="HR image folder or glob")
    parser.add_argument("--output", "-output", "-output_dir", required=True, help="benchmark folder to write")
    parser.add_argument("--scale", "-scale", type=int, required=True, choices=(2, 3, 4))
    parser.add_argument("--lmdb", action="store_true", help="also write xSHRblur.lmdb and xSLRblur.lmdb")
    parser.add_argument("--overwrite", action="store_true", help="replace existing xS outputs of OUT_DIR")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    def run() -> str:
        count = generate_gaussian8(
            args.input, args.output, args.scale, make_lmdb=args.lmdb, overwrite=args.overwrite, progress=not args.quiet
        )
        return f"Gaussian8 x{args.scale}: {count} images -> {args.output}"

    return run_tool("generate_mod_blur_LR_bic", run)


if __name__ == "__main__":
    sys.exit(main())
