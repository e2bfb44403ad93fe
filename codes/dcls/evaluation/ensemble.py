"""The eight flips/rotations of the square (x8 self-ensemble) applied to images and blur kernels alike.

A blur kernel transforms exactly like the image it blurs, so the kernel estimated once on the original
image is transformed with each view instead of being re-estimated (the views then agree on the blur).
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class View(NamedTuple):
    """One element of the dihedral group: transpose H/W, then flip rows, then flip columns."""

    transpose: bool
    flip_rows: bool
    flip_cols: bool

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        if self.transpose:
            x = x.transpose(-2, -1)
        if self.flip_rows:
            x = x.flip(-2)
        if self.flip_cols:
            x = x.flip(-1)
        return x

    def invert(self, x: torch.Tensor) -> torch.Tensor:
        if self.flip_cols:
            x = x.flip(-1)
        if self.flip_rows:
            x = x.flip(-2)
        if self.transpose:
            x = x.transpose(-2, -1)
        return x


IDENTITY = View(False, False, False)
ALL_VIEWS = tuple(View(t, r, c) for t in (False, True) for r in (False, True) for c in (False, True))
