"""Tiled restoration: overlapping LR tiles, one shared kernel, feathered blending of the SR tiles.

Memory is bounded by the tile size (times the tile batch) instead of the image size, and because every
tile is restored with the same kernel, neighbouring tiles agree up to border effects, which the linear
feathering over the overlap hides.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

Restorer = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of the fewest tiles of size ``tile`` that cover ``[0, length)`` with at least
    ``overlap`` shared pixels between neighbours, spread evenly; all tiles have the same size (batchable)."""
    if length <= tile:
        return [0]
    if tile <= overlap:
        raise ValueError(f"tile ({tile}) must be larger than the overlap ({overlap})")
    steps = math.ceil((length - tile) / (tile - overlap))
    return [round(i * (length - tile) / steps) for i in range(steps + 1)]


def feather_ramp(length: int, ramp: int) -> torch.Tensor:
    """1-D weights: linear rise over ``ramp`` samples at both ends, 1 in the middle, never 0."""
    idx = torch.arange(length, dtype=torch.float32)
    edge = torch.minimum(idx + 1, length - idx) / (ramp + 1)
    return edge.clamp(max=1.0)


def feather_window(height: int, width: int, ramp: int) -> torch.Tensor:
    """2-D separable feathering window (1, 1, height, width)."""
    return (feather_ramp(height, ramp)[:, None] * feather_ramp(width, ramp)[None, :])[None, None]


def restore_tiled(
    restorer: Restorer,
    lr: torch.Tensor,
    kernel: torch.Tensor,
    scale: int,
    tile: int,
    overlap: int,
    batch_size: int = 4,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Super-resolve ``lr`` (1, C, H, W) tile by tile with ``restorer(tiles, kernels)``.

    ``kernel`` (1, 1, k, k) is shared by every tile. Tiles run on ``device`` (default: ``kernel``'s device)
    while the image and the blended result stay on ``lr``'s device, so a large image can live in host
    memory while only tiles visit the accelerator. Tiles are ``tile`` x ``tile`` LR pixels (clipped to
    the image), overlap by ``overlap`` pixels, are restored ``batch_size`` at a time, and are blended in
    SR space with a window that ramps linearly across the overlap.
    """
    if lr.shape[0] != 1:
        raise ValueError("restore_tiled expects one image (batch size 1)")
    _, _, h, w = lr.shape
    th, tw = min(tile, h), min(tile, w)
    boxes = [(y, x) for y in tile_starts(h, th, overlap) for x in tile_starts(w, tw, overlap)]
    device = kernel.device if device is None else torch.device(device)
    window = feather_window(th * scale, tw * scale, overlap * scale).to(lr.device, lr.dtype)
    out = lr.new_zeros(1, lr.shape[1], h * scale, w * scale)
    weight = lr.new_zeros(1, 1, h * scale, w * scale)
    for first in range(0, len(boxes), batch_size):
        chunk = boxes[first : first + batch_size]
        tiles = torch.cat([lr[..., y : y + th, x : x + tw] for y, x in chunk]).to(device)
        sr_tiles = restorer(tiles, kernel.to(device).expand(len(chunk), -1, -1, -1)).to(lr.device)
        for (y, x), sr_tile in zip(chunk, sr_tiles):
            region = (..., slice(y * scale, (y + th) * scale), slice(x * scale, (x + tw) * scale))
            out[region] += sr_tile * window[0]
            weight[region] += window[0]
    return out.div_(weight)
