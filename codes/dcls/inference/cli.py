"""``inference.py``: super-resolve a folder or a list of image files with a trained DCLS model."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from dcls.errors import UserError
from dcls.evaluation import InferenceSettings, SuperResolver
from dcls.inference.files import collect_inputs, kernel_path, plan_outputs
from dcls.inference.model_loading import add_model_arguments, spec_from_namespace
from dcls.inference.pipeline import super_resolve_array
from dcls.metrics import calculate_psnr
from dcls.utils.codec import decode, read_upright, tensor_to_image
from dcls.utils.device import choose_device
from dcls.utils.image_io import write_png
from dcls.utils.kernel_vis import kernel_to_image
from dcls.utils.logger import close_logger, setup_logger


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Blind super-resolution of your own images with DCLS. Give the model either as an options "
        "file (-opt) or as --checkpoint with --scale and --setting.",
    )
    add_model_arguments(p)
    io = p.add_argument_group("files")
    io.add_argument("-input_dir", "--input_dir", "--input", dest="input", nargs="+", required=True,
                    metavar="PATH", help="image folder(s) and/or image files (PNG, JPEG, BMP, PPM/PGM, TIFF, WebP)")
    io.add_argument("-output_dir", "--output_dir", "--output", dest="output", default="results/inference",
                    help="folder for <name>_x<scale>.png (default: results/inference)")
    io.add_argument("--save_kernel", action="store_true", help="also save the estimated kernel as <name>_kernel.png")
    run = p.add_argument_group("running")
    run.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda if available, else cpu)")
    run.add_argument("--tile", type=int, default=0, help="tile size in input pixels; 0 = whole image (default)")
    run.add_argument("--tile_overlap", type=int, default=16, help="overlap between tiles in input pixels")
    run.add_argument("--tile_batch", type=int, default=4, help="tiles restored together")
    run.add_argument("--kernel_crop", type=int, default=512,
                     help="estimate the kernel on the central crop of this size (0 = whole image)")
    run.add_argument("--ensemble", action="store_true", help="average the 8 flips/rotations (8x slower)")
    run.add_argument("--amp", choices=("bf16", "fp16"), default="off",
                     help="mixed precision (autocast); the first image is also run in float32 to report the "
                          "PSNR of the output against float32's")
    return p


def super_resolve_file(resolver: SuperResolver, src: Path, dst: Path, save_kernel: bool) -> None:
    """Read ``src``, super-resolve it and write ``dst`` (and its kernel picture) atomically."""
    sr, kernel = super_resolve_array(resolver, read_upright(src))
    write_png(dst, sr)
    if save_kernel:
        write_png(kernel_path(dst), kernel_to_image(kernel))


def amp_psnr_to_float32(resolver: SuperResolver, src: Path) -> float:
    """PSNR (dB, 8-bit RGB) of the mixed-precision output of ``src`` against the float32 output."""
    image = decode(read_upright(src)).rgb
    float32 = SuperResolver(resolver.model, resolver.scale, dataclasses.replace(resolver.settings, amp="off"),
                            resolver.device)
    return calculate_psnr(tensor_to_image(resolver(image)[0][0]), tensor_to_image(float32(image)[0][0]))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; 0 when every image was written, 1 when some failed, 2 for bad arguments. The
    weights loaded and the speed-ups used are logged to the screen."""
    args = build_parser().parse_args(argv)
    setup_logger(None)
    try:
        return _super_resolve_all(args)
    finally:
        close_logger()


def _super_resolve_all(args: argparse.Namespace) -> int:
    try:
        settings = InferenceSettings(args.tile, args.tile_overlap, args.tile_batch, args.ensemble, args.kernel_crop,
                                     args.amp)
        settings.validate()
        device = choose_device(args.device)
        spec = spec_from_namespace(args, args.input[0])
        inputs = collect_inputs(args.input)
        outputs = plan_outputs(inputs, Path(args.output), spec.scale)
        model = spec.build(device)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    resolver = SuperResolver(model, spec.scale, settings, device)
    failed: list[str] = []
    for src, dst in zip(tqdm(inputs, unit="image", desc=f"x{spec.scale} on {device}"), outputs):
        try:
            super_resolve_file(resolver, src, dst, args.save_kernel)
        except ValueError as exc:  # an unreadable file (ImageReadError), an unsupported layout, ...
            failed.append(str(src))
            tqdm.write(f"skipped {src}: {exc}", file=sys.stderr)
        except RuntimeError as exc:  # CUDA's OutOfMemoryError and the CPU allocator's failure
            if "memory" not in str(exc):
                raise
            failed.append(str(src))
            tqdm.write(f"skipped {src}: out of memory; try --tile 256 (or smaller)", file=sys.stderr)
    print(f"{len(inputs) - len(failed)} of {len(inputs)} images written to {args.output}")
    written = [src for src in inputs if str(src) not in failed]
    if args.amp != "off" and written:
        print(f"{args.amp} output of {written[0].name} against float32: "
              f"PSNR {amp_psnr_to_float32(resolver, written[0]):.2f} dB")
    if failed:
        print(f"failed ({len(failed)}): {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
