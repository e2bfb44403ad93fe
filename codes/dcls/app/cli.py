"""``dcls-app``: serve the page of :mod:`dcls.app.page` on this computer for a trained model."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from dcls.api import BlindSR
from dcls.archs.spec import describe
from dcls.errors import UserError
from dcls.evaluation import InferenceSettings
from dcls.inference.model_loading import add_model_arguments, spec_from_namespace
from dcls.utils.device import choose_device
from dcls.utils.logger import setup_logger


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="A local web page to try DCLS on your own images (needs the app extra: pip install 'dcls[app]'). "
        "Give the model as an options file (-opt) or as --checkpoint with --scale and --setting, as for dcls-sr.",
    )
    add_model_arguments(p)
    run = p.add_argument_group("page")
    run.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda if available, else cpu)")
    run.add_argument("--tile", type=int, default=0, help="initial tile size in input pixels; 0 = whole image")
    run.add_argument("--ensemble", action="store_true", help="start with the self-ensemble switched on")
    run.add_argument("--kernel_crop", type=int, default=512,
                     help="estimate the kernel on the central crop of this size (0 = whole image)")
    run.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1: reachable from this computer only)")
    run.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    run.add_argument("--open", action="store_true", help="open the page in the default browser")
    return p


def _gradio_page() -> ModuleType:
    """:mod:`dcls.app.page`, or a UserError saying how to install Gradio."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        from dcls.app import page
    except ImportError as exc:
        raise UserError(f"the web page needs Gradio ({exc}): pip install 'dcls[app]'") from None
    return page


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the page until interrupted; 2 for bad arguments, a missing model or a missing Gradio."""
    args = build_parser().parse_args(argv)
    setup_logger(None)  # the weights loaded and the speed-ups used, on the screen
    try:
        page = _gradio_page()
        InferenceSettings(args.tile, kernel_crop=args.kernel_crop).validate()
        device = choose_device(args.device)
        spec = spec_from_namespace(args, ".")
        sr = BlindSR(spec.build(device), spec.scale, device=device, kernel_crop=args.kernel_crop)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    model_line = f"Model: {describe({**spec.kwargs, 'upscale': spec.scale})}, weights `{spec.checkpoint.name}`"
    with tempfile.TemporaryDirectory(prefix="dcls-app-") as work_dir:
        blocks = page.build_page(sr, model_line, Path(work_dir), args.tile, args.ensemble)
        print(f"DCLS page on http://{args.host}:{args.port} ({device}); Ctrl+C to stop", flush=True)
        blocks.launch(server_name=args.host, server_port=args.port, inbrowser=args.open, theme=page.theme(),
                      css=page.CSS, footer_links=[], quiet=True)
    return 0
