"""The page ``dcls-app`` serves (Gradio): drop or pick an image, compare input and SR result with a slider, see
the estimated kernel, download the PNG. Unreadable files and bad settings are reported in one line."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from dcls.api import BlindSR
from dcls.errors import UserError

from .session import process

CSS = "#kernel img { image-rendering: pixelated; }"
THEME_FONTS = ["ui-sans-serif", "system-ui", "sans-serif"]
"""Local fonts only: the page loads nothing from the internet."""


def theme() -> gr.themes.Base:
    """Gradio's default look, with system fonts instead of web fonts."""
    return gr.themes.Default(font=THEME_FONTS, font_mono=["ui-monospace", "monospace"])


def build_page(sr: BlindSR, model_line: str, work_dir: Path, tile: int = 0, ensemble: bool = False) -> gr.Blocks:
    """The page around ``sr``; files to download are written under ``work_dir``."""

    def run(upload: str | None, tile_px: float, use_ensemble: bool) -> tuple:
        if not upload:
            raise gr.Error("choose an image first", print_exception=False)
        try:
            out = process(sr, Path(upload), work_dir, int(tile_px), bool(use_ensemble))
        except UserError as exc:  # named by the file's own name, not the server's copy of it
            message = " ".join(str(exc).replace(upload, Path(upload).name).split())
            raise gr.Error(message, print_exception=False) from None
        except RuntimeError as exc:  # CUDA's OutOfMemoryError and the CPU allocator's failure
            if "memory" not in str(exc):
                raise
            raise gr.Error("out of memory: use tiles of 256 pixels or smaller", print_exception=False) from None
        return (out.before, out.after), out.kernel, str(out.png), out.summary

    with gr.Blocks(title="DCLS blind super-resolution", analytics_enabled=False, delete_cache=(3600, 86400)) as page:
        gr.Markdown(f"## DCLS blind super-resolution\n{model_line}")
        with gr.Row():
            with gr.Column(scale=1, min_width=280):
                upload = gr.File(label="Image (PNG, JPEG, BMP, TIFF, WebP)", file_types=["image"], elem_id="upload")
                tile_px = gr.Slider(0, 1024, value=tile, step=16, label="Tile size in input pixels (0 = whole image)",
                                    elem_id="tile")
                use_ensemble = gr.Checkbox(value=ensemble, label="Self-ensemble (8 flips/rotations, 8x slower)",
                                           elem_id="ensemble")
                button = gr.Button("Super-resolve", variant="primary", elem_id="run")
                kernel = gr.Image(label="Estimated blur kernel", format="png", image_mode=None, interactive=False,
                                  height=200, elem_id="kernel")
                download = gr.File(label="SR image (PNG)", interactive=False, elem_id="download")
            with gr.Column(scale=3):
                compare = gr.ImageSlider(label="Input (left, enlarged) | DCLS (right): drag to compare",
                                         format="png", image_mode=None, interactive=False, max_height=640,
                                         elem_id="compare")
                summary = gr.Markdown(elem_id="summary")
        inputs, outputs = [upload, tile_px, use_ensemble], [compare, kernel, download, summary]
        # A new upload first clears the last results, so that a file that fails leaves none of another's shown.
        upload.upload(lambda: (None, None, None, ""), None, outputs, queue=False).then(run, inputs, outputs)
        button.click(run, inputs, outputs)
    return page
