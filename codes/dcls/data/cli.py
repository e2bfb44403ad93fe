"""Command lines of the data-preparation tools (``dcls-create-lmdb``, ``dcls-gaussian8``, ``dcls-div2krk``,
``dcls-realistic``, ``dcls-demo-data``; ``scripts/*.py`` are the same commands run from a checkout).

Each prints a summary line on success, or ``<command>: error: ...`` and exits with status 1 for bad input or data
(status 2 for bad arguments, as argparse).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Callable

from ..errors import UserError
from ..utils.image_io import ImageReadError, list_images
from .demo_data import prepare_demo_data
from .div2krk import NOISE_LEVEL, generate_div2krk
from .gaussian8 import generate_gaussian8
from .lmdb_io import create_lmdb
from .realistic import generate_realistic, options_file_degradation

USER_ERRORS = (ImageReadError, FileExistsError, FileNotFoundError, KeyError, ValueError, RuntimeError)


def run_tool(prog: str, action: Callable[[], str]) -> int:
    """Run ``action`` and print the summary it returns (exit 0); bad input or data: ``prog: error: ...`` (1)."""
    try:
        summary = action()
    except USER_ERRORS as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    print(summary)
    return 0


def _parser(description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)


def _common_outputs(parser: argparse.ArgumentParser, overwrite_help: str) -> None:
    parser.add_argument("--overwrite", action="store_true", help=overwrite_help)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def create_lmdb_main(argv: Sequence[str] | None = None) -> int:
    """Pack a folder (or glob) of images into an LMDB the datasets read. Keys are the images' base names;
    metadata goes to ``X.lmdb/meta_info.json``."""
    parser = _parser("Pack a folder (or glob) of images into an LMDB the datasets read (keys: base names; "
                     "metadata in X.lmdb/meta_info.json).")
    parser.add_argument("--input", "-input", "-input_dir", required=True, help="image folder (recursive) or glob")
    parser.add_argument("--output", "-output", required=True, help="the LMDB to create (a path ending in .lmdb)")
    parser.add_argument(
        "--compress-level",
        type=int,
        default=0,
        choices=range(10),
        metavar="{0..9}",
        help="0: raw pixels (fastest to read, default); 1-9: PNG with that zlib level (smaller, slower to read)",
    )
    _common_outputs(parser, "replace an existing LMDB at --output")
    args = parser.parse_args(argv)

    def run() -> str:
        paths = list_images(args.input)
        records = create_lmdb(
            paths, args.output, compress_level=args.compress_level, overwrite=args.overwrite, progress=not args.quiet
        )
        return f"wrote {len(records)} images to {args.output}"

    return run_tool(parser.prog, run)


def gaussian8_main(argv: Sequence[str] | None = None) -> int:
    """Make the Gaussian8 benchmark (setting 1) from HR images, as the original DCLS script
    ``generate_mod_blur_LR_bic.py``."""
    parser = _parser("Make the Gaussian8 benchmark (setting 1) from HR images, as the original DCLS script "
                     "generate_mod_blur_LR_bic.py: writes OUT_DIR/{HR,LRblur,LR,Bic,kernel}/xS and, with --lmdb, "
                     "OUT_DIR/xSHRblur.lmdb and OUT_DIR/xSLRblur.lmdb.")
    parser.add_argument("--input", "-input", "-input_dir", required=True, help="HR image folder or glob")
    parser.add_argument("--output", "-output", "-output_dir", required=True, help="benchmark folder to write")
    parser.add_argument("--scale", "-scale", type=int, required=True, choices=(2, 3, 4))
    parser.add_argument("--lmdb", action="store_true", help="also write xSHRblur.lmdb and xSLRblur.lmdb")
    _common_outputs(parser, "replace existing xS outputs of OUT_DIR")
    args = parser.parse_args(argv)

    def run() -> str:
        count = generate_gaussian8(
            args.input, args.output, args.scale, make_lmdb=args.lmdb, overwrite=args.overwrite, progress=not args.quiet
        )
        return f"Gaussian8 x{args.scale}: {count} images -> {args.output}"

    return run_tool(parser.prog, run)


def div2krk_main(argv: Sequence[str] | None = None) -> int:
    """Make a DIV2KRK-style benchmark (setting 2, KernelGAN's protocol: see :mod:`dcls.data.div2krk`)."""
    parser = _parser("Make a DIV2KRK-style benchmark (setting 2, KernelGAN's protocol): writes "
                     "OUT_DIR/{gt,lr_x2,lr_x4,gt_k_x2,gt_k_x4} (kernels as .npy plus a PNG picture).")
    parser.add_argument("--input", "-input", "-input_dir", required=True, help="HR image folder or glob")
    parser.add_argument("--output", "-output", "-output_dir", required=True, help="benchmark folder to write")
    parser.add_argument("--seed", "-seed", type=int, default=0, help="random seed of the kernels (default 0)")
    parser.add_argument(
        "--noise-level", type=float, default=NOISE_LEVEL, help=f"multiplicative kernel noise (default {NOISE_LEVEL})"
    )
    parser.add_argument("--lmdb", action="store_true", help="also write HRblur.lmdb, x2LRblur.lmdb, x4LRblur.lmdb")
    _common_outputs(parser, "replace existing outputs in OUT_DIR")
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

    return run_tool(parser.prog, run)


def realistic_main(argv: Sequence[str] | None = None) -> int:
    """Make a benchmark of realistic degradations (random blur, downsampler, noise and JPEG per image: see
    :mod:`dcls.data.realistic`), the same files for the same images, seed and options."""
    parser = _parser("Make a benchmark of realistic degradations: every HR image gets its own random blur, "
                     "downsampler, noise and JPEG compression, drawn from the seed and its index in name order. "
                     "Writes OUT_DIR/{HR,LR,kernels}/xS, OUT_DIR/degradations_xS.json (every image's degradation) "
                     "and, with --lmdb, OUT_DIR/xSHR.lmdb and OUT_DIR/xSLR.lmdb.")
    parser.add_argument("--input", "-input", "-input_dir", required=True, help="HR image folder or glob")
    parser.add_argument("--output", "-output", "-output_dir", required=True, help="benchmark folder to write")
    parser.add_argument("--scale", "-scale", type=int, default=4, choices=(2, 3, 4), help="default 4")
    parser.add_argument("--seed", "-seed", type=int, default=0, help="random seed of the degradations (default 0)")
    parser.add_argument("--options", "-opt", metavar="FILE",
                        help="YAML options file whose degradation section (type: realistic) sets the degradations "
                             "(default: the realistic degradation's defaults)")
    parser.add_argument("--copies", type=int, default=1,
                        help="degradations per HR image, named d<k>_<name> (default 1: the image's own name)")
    parser.add_argument("--lmdb", action="store_true", help="also write xSHR.lmdb and xSLR.lmdb")
    _common_outputs(parser, "replace existing xS outputs of OUT_DIR")
    args = parser.parse_args(argv)
    if args.copies < 1:
        parser.error(f"--copies {args.copies}: must be at least 1")
    try:
        list_images(args.input)  # a missing or empty HR folder is a bad argument, before any work
        degradation = options_file_degradation(args.options, args.scale) if args.options else {}
    except (FileNotFoundError, UserError) as exc:
        parser.error(str(exc))

    def run() -> str:
        count = generate_realistic(args.input, args.output, args.scale, args.seed, degradation, make_lmdb=args.lmdb,
                                   overwrite=args.overwrite, progress=not args.quiet, copies=args.copies)
        return f"Realistic x{args.scale} (seed {args.seed}): {count} images -> {args.output}"

    return run_tool(parser.prog, run)


def demo_data_main(argv: Sequence[str] | None = None) -> int:
    """Build the demo data set offline from photographs bundled with scikit-image (no download); a complete
    earlier build is reused."""
    parser = _parser("Build the demo data set offline from photographs bundled with scikit-image (no download). "
                     "A complete earlier build is reused.")
    parser.add_argument("--output", "-output", default="demo_data", help="folder to build (default: demo_data)")
    parser.add_argument("--scales", type=int, nargs="+", default=[4], choices=(2, 3, 4), help="Gaussian8 scales")
    parser.add_argument("--force", action="store_true", help="replace even a folder that is no demo build")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    def run() -> str:
        built = prepare_demo_data(args.output, tuple(args.scales), force=args.force, progress=not args.quiet)
        return f"{'built' if built else 'reusing'} demo data in {args.output}"

    return run_tool(parser.prog, run)
