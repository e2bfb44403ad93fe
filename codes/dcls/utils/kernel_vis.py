"""Blur kernels as pictures: one kernel as a colour-mapped PNG, or labelled grids of kernels side by side."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_FONT_SCALE = 0.4
_GAP = 4
_LINE_H = 14
_BACKGROUND = 255


def _as_array(kernel: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(kernel, torch.Tensor):
        kernel = kernel.detach().float().cpu().numpy()
    kernel = np.asarray(kernel, dtype=np.float64)
    kernel = kernel.reshape(kernel.shape[-2:]) if kernel.ndim > 2 else kernel
    if kernel.ndim != 2:
        raise ValueError(f"a kernel must be 2-D, got shape {kernel.shape}")
    return kernel


def kernel_to_image(kernel: np.ndarray | torch.Tensor, cell: int = 8, vmax: float | None = None) -> np.ndarray:
    """BGR uint8 picture of a (k, k) kernel (extra leading dims of size 1 allowed): each tap a ``cell`` x
    ``cell`` square, colour-mapped (inferno) from 0 to ``vmax`` (default: the kernel's own maximum)."""
    k = _as_array(kernel)
    top = float(k.max()) if vmax is None else vmax
    scaled = np.clip(k / top, 0.0, 1.0) if top > 0 else np.zeros_like(k)
    grey = np.round(scaled * 255).astype(np.uint8)
    grey = np.repeat(np.repeat(grey, cell, axis=0), cell, axis=1)
    return cv2.applyColorMap(grey, cv2.COLORMAP_INFERNO)


def _fit(text: str, width: int) -> str:
    """``text`` shortened at the end (marked with '..') so that it is at most ``width`` pixels wide."""
    def wide(t: str) -> bool:
        return cv2.getTextSize(t, _FONT, _FONT_SCALE, 1)[0][0] > width

    if not wide(text):
        return text
    while len(text) > 1 and wide(text + ".."):
        text = text[:-1]
    return text + ".."


def _put_text(canvas: np.ndarray, text: str, x: int, y: int) -> None:
    cv2.putText(canvas, text, (x, y), _FONT, _FONT_SCALE, (0, 0, 0), 1, cv2.LINE_AA)


def kernel_grid(
    rows: Sequence[Sequence[np.ndarray | torch.Tensor]],
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    cell: int = 8,
) -> np.ndarray:
    """BGR uint8 grid of kernels: ``rows`` (e.g. estimated, ground truth) by columns (e.g. images), with
    one colour scale per column so that the kernels of one image compare directly; optional labels
    (column labels may span several lines, separated by newlines)."""
    arrays = [[_as_array(k) for k in row] for row in rows]
    if not arrays or not all(arrays):
        raise ValueError("kernel_grid needs at least one kernel per row")
    side = max(48, max(k.shape[0] for row in arrays for k in row) * cell)
    n_cols = max(len(row) for row in arrays)
    label_w = max((cv2.getTextSize(t, _FONT, _FONT_SCALE, 1)[0][0] + 8 for t in row_labels or []), default=0)
    lines = max((len(t.split("\n")) for t in col_labels or []), default=0)
    header_h = 6 + _LINE_H * lines
    width = label_w + n_cols * (side + _GAP) + _GAP
    height = header_h + len(arrays) * (side + _GAP) + _GAP
    canvas = np.full((height, width, 3), _BACKGROUND, np.uint8)
    col_max = [max(float(row[c].max()) for row in arrays if c < len(row)) for c in range(n_cols)]
    for c, text in enumerate(col_labels or []):
        for i, line in enumerate(text.split("\n")):
            _put_text(canvas, _fit(line, side), label_w + _GAP + c * (side + _GAP), _LINE_H * (i + 1))
    for r, row in enumerate(arrays):
        y = header_h + _GAP + r * (side + _GAP)
        if row_labels:
            _put_text(canvas, row_labels[r], 4, y + side // 2)
        for c, k in enumerate(row):
            img = kernel_to_image(k, cell, col_max[c])
            top = y + (side - img.shape[0]) // 2
            left = label_w + _GAP + c * (side + _GAP) + (side - img.shape[1]) // 2
            canvas[top : top + img.shape[0], left : left + img.shape[1]] = img
    return canvas
