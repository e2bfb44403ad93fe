"""What the page does with one upload, without Gradio: super-resolve it with the chosen settings, write the PNG
to download (the file ``dcls-sr`` writes) and make the 8-bit pictures the browser shows."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dcls.api import BlindSR, load_image
from dcls.evaluation import InferenceSettings


@dataclass(frozen=True)
class PageOutput:
    """One upload's results, as the page shows them."""

    before: np.ndarray  # the input enlarged to the SR size (nearest neighbour: its pixels stay visible), 8-bit
    after: np.ndarray  # the SR image, 8-bit
    kernel: np.ndarray  # the estimated kernel's picture, RGB
    png: Path  # the SR image at full depth, as dcls-sr writes it
    summary: str  # one line: sizes, time, device, settings


def for_display(image: np.ndarray) -> np.ndarray:
    """An image of the API (grey / grey + alpha / RGB / RGBA; uint8, uint16 or float) as 8-bit RGB or RGBA."""
    if image.dtype == np.uint8:
        pixels = image
    else:
        peak = 1.0 if np.issubdtype(image.dtype, np.floating) else float(np.iinfo(image.dtype).max)
        pixels = np.rint(image.astype(np.float32) * np.float32(255.0 / peak)).astype(np.uint8)
    planes = pixels.reshape(*pixels.shape[:2], -1)
    grey_to_rgb = {1: [0, 0, 0], 2: [0, 0, 0, 1], 3: [0, 1, 2], 4: [0, 1, 2, 3]}[planes.shape[2]]
    return np.ascontiguousarray(planes[:, :, grey_to_rgb])


def enlarge(image: np.ndarray, scale: int) -> np.ndarray:
    """``image`` with every pixel repeated ``scale`` x ``scale`` times."""
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def process(sr: BlindSR, upload: Path, work_dir: Path, tile: int, ensemble: bool) -> PageOutput:
    """Super-resolve the uploaded file; UserError (one line) for an unreadable file or bad settings. Tiles
    overlap by ``dcls-sr``'s default, or by half a tile for tiles smaller than twice that."""
    overlap = min(InferenceSettings.tile_overlap, tile // 2)
    model = sr.with_settings(tile=tile, tile_overlap=overlap, ensemble=ensemble)
    image = load_image(upload)
    start = time.perf_counter()
    result = model.upscale(image)
    seconds = time.perf_counter() - start
    png = Path(tempfile.mkdtemp(dir=work_dir)) / f"{upload.stem}_x{sr.scale}.png"
    result.save(png)
    (h, w), (sh, sw) = image.shape[:2], result.image.shape[:2]
    how = f"tiles of {tile} px" if tile else "whole image"
    summary = (f"**{upload.name}**: {w}x{h} -> {sw}x{sh} (x{sr.scale}) in {seconds:.1f} s on {sr.device}, "
               f"{how}{', self-ensemble' if ensemble else ''}; kernel {result.kernel.shape[0]}x"
               f"{result.kernel.shape[1]} (LR pixels)")
    return PageOutput(enlarge(for_display(image), sr.scale), for_display(result.image), result.kernel_picture(), png,
                      summary)
