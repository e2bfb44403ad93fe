"""Fourier-domain pieces of DCLS: psf <-> otf, the constrained least squares solve, kernel reformulation.

Everything is batched over samples and channels in single calls (real FFTs: all signals are real, so
the half spectrum carries everything and halves the work).
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch


@lru_cache(maxsize=64)
@torch.inference_mode(False)
def _dft_factors(n: int, taps: int, half: bool, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(frequencies, taps) matrix ``exp(-2 pi i f (t - taps//2) / n)``; phases reduced exactly in float64.

    Made outside inference mode even when first asked for inside it: the cached matrix is reused by later
    calls, and autograd cannot save an inference tensor for backward."""
    freqs = torch.arange(n // 2 + 1 if half else n, dtype=torch.float64)
    offsets = torch.arange(taps, dtype=torch.float64) - taps // 2
    phase = torch.remainder(freqs[:, None] * offsets[None, :], n) * (-2 * math.pi / n)
    return torch.polar(torch.ones_like(phase), phase).to(device=device, dtype=dtype)


def psf2otf(psf: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Half-spectrum OTF of (..., k, k) kernels for an (H, W) signal, i.e. ``rfft2`` of the kernel
    zero-filled to (H, W) with its centre element ``[k//2, k//2]`` moved circularly to ``[0, 0]``.

    Computed as the direct DFT of the k x k taps, ``E_H @ psf @ E_W^T``: for k much smaller than H and W
    that is two small matrix products instead of an FFT per (mostly zero) kernel plane. They run in
    complex128 (then rounded once), which is more accurate than the FFT and immune to TF32 matmuls.
    """
    kh, kw = psf.shape[-2:]
    out_dtype = torch.complex128 if psf.dtype == torch.float64 else torch.complex64
    acc = out_dtype if psf.device.type == "mps" else torch.complex128  # MPS has no float64
    rows = _dft_factors(size[0], kh, False, psf.device, acc)
    cols = _dft_factors(size[1], kw, True, psf.device, acc)
    return (rows @ psf.to(acc) @ cols.t()).to(out_dtype)


def otf2psf(otf: torch.Tensor, signal_size: tuple[int, int], kernel_size: int) -> torch.Tensor:
    """Inverse of :func:`psf2otf`: the (..., k, k) window of the real inverse FFT around the origin."""
    psf = torch.fft.irfft2(otf, s=signal_size)
    psf = torch.roll(psf, shifts=(kernel_size // 2, kernel_size // 2), dims=(-2, -1))
    return psf[..., :kernel_size, :kernel_size]


def cls_deconv(img: torch.Tensor, kernel: torch.Tensor, grad_kernel: torch.Tensor, crop: int = 0) -> torch.Tensor:
    """Constrained least squares deconvolution ``IFFT(conj(K) FFT(img) / (|K|^2 + |P|^2))``.

    ``img`` (B, C, H, W), already padded; ``kernel`` (B, 1 or C, k, k), the blur; ``grad_kernel``
    (B, C, p, p), the smoothness operator P. Broadcasts over channels; returns the real (B, C, H, W),
    or with ``crop`` its centre (B, C, H - 2 crop, W - 2 crop): the inverse transform's last stage then
    runs on the kept rows only (same values, less work).
    """
    size = img.shape[-2:]
    ker_f = psf2otf(kernel, size)
    p_f = psf2otf(grad_kernel, size)
    inverse_denominator = (p_f.real**2 + p_f.imag**2 + (ker_f.real**2 + ker_f.imag**2)).reciprocal_()
    # complex * real products only: a complex / real division promotes the real operand (slower)
    spectrum = torch.fft.rfft2(img).mul_(ker_f.conj() * inverse_denominator)
    if not crop:
        return torch.fft.irfft2(spectrum, s=size)
    rows = torch.fft.ifft(spectrum, dim=-2)[..., crop:-crop, :]
    return torch.fft.irfft(rows, n=size[-1], dim=-1)[..., crop:-crop]


def blur_kernel_from_images(blurred: torch.Tensor, sharp: torch.Tensor, kernel_size: int, eps: float) -> torch.Tensor:
    """Per-channel kernel mapping ``sharp`` to ``blurred`` by Fourier division (the LR-space reformulation).

    ``FFT(blurred) conj(FFT(sharp)) / (|FFT(sharp)|^2 + eps)``, inverse FFT, k x k window around the
    origin: (B, C, h, w) images -> (B, C, k, k) kernels.
    """
    size = blurred.shape[-2:]
    sharp_f = torch.fft.rfft2(sharp)
    ratio = torch.fft.rfft2(blurred) * sharp_f.conj() / (sharp_f.real**2 + sharp_f.imag**2 + eps)
    return otf2psf(ratio, size, kernel_size)
