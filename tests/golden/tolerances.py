"""The golden tolerances, in one place; tests/golden/TOLERANCES.md derives each from the original's own spread.

The spread of a quantity is the larger of: the largest difference between two float32 runs of the original
implementation (thread counts, instruction sets, convolution backends, memory layouts, the equivalent FFT call, the
stored reference; golden and published model sizes), and twice the largest distance of one from a float64 run of the
same code. Each tolerance is ``SAFETY_FACTOR`` times that spread, never below twice what this repository's code needs
(nor, for the float64 metrics, below 1e-11), rounded up to one significant digit;
``scripts/derive_golden_tolerances.py`` measures all of it (tests/golden/tolerance_spreads.json). Tolerances are
relative to the size of the reference, so that they hold for other cases, weights and model sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

SAFETY_FACTOR = 4
"""Each tolerance is at least this multiple of the largest spread measured for its quantity."""


@dataclass(frozen=True)
class Tolerance:
    """A bound on a difference from a reference: ``rel`` times the reference's max abs (its L2 norm where ``l2``,
    the difference then measured in L2 too), and never below the absolute ``floor``."""

    name: str
    rel: float
    floor: float = 0.0
    l2: bool = False

    def error(self, got: torch.Tensor, want: torch.Tensor) -> float:
        """The measured difference: max abs, or L2 norm where ``l2``; infinite for a shape mismatch."""
        if got.shape != want.shape:
            return float("inf")
        diff = got.detach().double() - want.detach().double()
        return (diff.norm() if self.l2 else diff.abs().max()).item() if diff.numel() else 0.0

    def bound(self, want: torch.Tensor) -> float:
        """The largest difference from ``want`` that passes."""
        want = want.detach().double()
        scale = (want.norm() if self.l2 else want.abs().max()).item() if want.numel() else 0.0
        return max(self.rel * scale, self.floor)


FORWARD_SR = Tolerance("forward.sr", rel=8e-5)
"""Network output: spread 1.8e-5 of max abs (published x4 size, channels-last run vs float64, twice)."""

FORWARD_KERNEL = Tolerance("forward.kernel", rel=1e-4)
"""Estimated kernel: spread 2.3e-5 (the Estimator's chain of large convolutions; x4 k31, channels-last vs float64)."""

FORWARD_FEATURES = Tolerance("forward.feature_block_out", rel=3e-6)
"""Restorer features before the CLS module: spread 7.1e-7."""

FORWARD_CLS = Tolerance("forward.cls_out", rel=7e-6)
"""CLS module output from the stored features and kernel: spread 1.7e-6."""

CLS_FILTER = Tolerance("cls_filter.out", rel=2e-5)
"""One-channel CLS solve: spread 2.9e-6."""

KERNELS = Tolerance("kernels", rel=4e-7)
"""Gaussian kernels, computed in float64 and stored in float32: spread 8.5e-8 (the float32 rounding)."""

BATCH_BLUR = Tolerance("batch_blur.out", rel=2e-5)
"""Blur by per-sample kernels: spread 2.8e-6."""

IMRESIZE = Tolerance("imresize", rel=5e-6)
"""MATLAB bicubic resize, CHW and HWC: spread 1.0e-6."""

CORRECTION_LOSS = Tolerance("correction_loss.loss", rel=6e-6)
"""Kernel-correction L1 loss: spread 1.3e-6 of its value."""

CORRECTION_KERNEL = Tolerance("correction_loss.k_correct", rel=4e-5)
"""Corrected (reformulated) kernel: spread 9.8e-6."""

TRAIN_PIXEL_LOSS = Tolerance("train_step.l_pix", rel=8e-7)
"""Training step pixel L1 loss: spread 1.9e-7 of its value (published x4 size)."""

TRAIN_KERNEL_LOSS = Tolerance("train_step.l_ker", rel=7e-5)
"""Training step kernel loss: spread 1.5e-5 of its value (the Estimator's kernel feeds it)."""

TRAIN_CORRECTION_KERNEL = Tolerance("train_step.k_correct", rel=3e-4)
"""Training step corrected kernel: spread 6.8e-5."""

TRAIN_GRADS = Tolerance("train_step.grads", rel=8e-2, floor=1e-12, l2=True)
"""Each parameter's gradient, relative L2 error: spread 1.8e-2 (published x4 size: LeakyReLU inputs within rounding of
zero take the other branch on some CPUs); the floor is for gradients that are zero by construction, zero in every
run."""

PSNR = Tolerance("metrics.psnr", rel=1e-11)
"""PSNR, float64 throughout: no run of the original differs; the float64 floor, n * 2**-53 for sums of 1e5 terms."""

SSIM = Tolerance("metrics.ssim", rel=1e-11)
"""SSIM, float64 throughout: spread 1.1e-13; the float64 floor."""

GAUSSIAN8_MAX_LEVELS = 1
"""Gaussian8 benchmark images (uint8): a float32 difference can move a value across a rounding boundary by one level."""

GAUSSIAN8_MAX_FRACTION = 3e-3
"""Gaussian8: the fraction of values allowed to differ by that level: spread 5.8e-4."""
