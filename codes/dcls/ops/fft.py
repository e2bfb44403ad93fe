"""Fourier-domain pieces of DCLS: psf <-> otf, the constrained least squares solve, kernel reformulation.

Everything is batched over samples and channels in single ``torch.fft`` calls (real FFTs: all signals
are real, so the half spectrum carries everything and halves the work).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def psf2otf(psf: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Half-spectrum OTF of (..., k, k) kernels for an (H, W) signal: zero-fill, move the centre
    element ``[k//2, k//2]`` circularly to ``[0, 0]``, then ``rfft2``."""
    kh, kw = psf.shape[-2:]
    padded = F.pad(psf, (0, size[1] - kw, 0, size[0] - kh))
    padded = torch.roll(padded, shifts=(-(kh // 2), -(kw // 2)), dims=(-2, -1))
    return torch.fft.rfft2(padded)


def otf2psf(otf: torch.Tensor, signal_size: tuple[int, int], kernel_size: int) -> torch.Tensor:
    """Inverse of :func:`psf2otf`: the (..., k, k) window of the real inverse FFT around the origin."""
    psf = torch.fft.irfft2(otf, s=signal_size)
    psf = torch.roll(psf, shifts=(kernel_size // 2, kernel_size // 2), dims=(-2, -1))
    return psf[..., :kernel_size, :kernel_size]


def cls_deconv(img: torch.Tensor, kernel: torch.Tensor, grad_kernel: torch.Tensor) -> torch.Tensor:
    """Constrained least squares deconvolution ``IFFT(conj(K) FFT(img) / (|K|^2 + |P|^2))``.

    ``img`` (B, C, H, W), already padded; ``kernel`` (B, 1 or C, k, k), the blur; ``grad_kernel``
    (B, C, p, p), the smoothness operator P. Broadcasts over channels; returns the real (B, C, H, W).
    """
    size = img.shape[-2:]
    ker_f = psf2otf(kernel, size)
    p_f = psf2otf(grad_kernel, size)
    denominator = ker_f.real**2 + ker_f.imag**2 + p_f.real**2 + p_f.imag**2
    return torch.fft.irfft2(ker_f.conj() / denominator * torch.fft.rfft2(img), s=size)


def blur_kernel_from_images(blurred: torch.Tensor, sharp: torch.Tensor, kernel_size: int, eps: float) -> torch.Tensor:
    """Per-channel kernel mapping ``sharp`` to ``blurred`` by Fourier division (the LR-space reformulation).

    ``FFT(blurred) conj(FFT(sharp)) / (|FFT(sharp)|^2 + eps)``, inverse FFT, k x k window around the
    origin: (B, C, h, w) images -> (B, C, k, k) kernels.
    """
    size = blurred.shape[-2:]
    sharp_f = torch.fft.rfft2(sharp)
    ratio = torch.fft.rfft2(blurred) * sharp_f.conj() / (sharp_f.real**2 + sharp_f.imag**2 + eps)
    return otf2psf(ratio, size, kernel_size)
