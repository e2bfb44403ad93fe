"""The original DCLS-SR code's algorithms, re-expressed on modern torch for timing only (never for results).

Each function keeps the original's structure where that structure costs time: a Python loop over feature
channels with full complex 3-D FFTs and OTFs built by slice copies into zero tensors (CLS, kernel
reformulation), a sort for the 41st-largest kernel value, a Python loop over output rows and columns in the
bicubic resize with one batched matrix-vector product each (and a device-to-host read of the start index),
and numpy kernel synthesis. Spectra are handled as the original handles them: real and imaginary parts in a
last dimension of 2 (its 3-D real-input FFT with ``onesided=False``, from the pre-1.8 API, mapped to
``torch.fft`` as in the golden reference), combined by slice arithmetic into zero tensors.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from dcls.archs import CLS, DCLS
from dcls.archs.spec import published_config, recognise
from dcls.degradation.synthesis import batch_blur

SETTING1_X4 = published_config(setting=1, scale=4)
"""The published x4 setting-1 model."""

FFT_DIMS = (-3, -2, -1)  # the original's 3-D transforms over (1 channel, H, W)


def _rfft3(x: torch.Tensor) -> torch.Tensor:
    """The original's 3-D forward transform (old API, ``onesided=False``): full spectrum, real/imag last."""
    return torch.view_as_real(torch.fft.fftn(x, dim=FFT_DIMS))


def _irfft3(x: torch.Tensor) -> torch.Tensor:
    """The original's 3-D inverse transform (old API, ``onesided=False``) of such a spectrum: its real part."""
    return torch.fft.ifftn(torch.view_as_complex(x.contiguous()), dim=FFT_DIMS).real


def _full_otf(ker: torch.Tensor, size: torch.Size) -> torch.Tensor:
    """The original's psf2otf: the kernel's four quadrants copied circularly into a zero tensor, 3-D FFT."""
    psf = torch.zeros(size, device=ker.device, dtype=ker.dtype)
    c = ker.shape[-1] // 2 + 1
    psf[..., :c, :c] = ker[..., c - 1 :, c - 1 :]
    psf[..., :c, -(c - 1) :] = ker[..., c - 1 :, : c - 1]
    psf[..., -(c - 1) :, :c] = ker[..., : c - 1, c - 1 :]
    psf[..., -(c - 1) :, -(c - 1) :] = ker[..., : c - 1, : c - 1]
    return _rfft3(psf)


def _window_psf(psf: torch.Tensor, size: torch.Size) -> torch.Tensor:
    """The k x k window around the origin of a circular psf, by four quadrant copies into a zero tensor."""
    ker = torch.zeros(size, device=psf.device, dtype=psf.dtype)
    c = size[-1] // 2 + 1
    ker[..., c - 1 :, c - 1 :] = psf[..., :c, :c]
    ker[..., c - 1 :, : c - 1] = psf[..., :c, -(c - 1) :]
    ker[..., : c - 1, c - 1 :] = psf[..., -(c - 1) :, :c]
    ker[..., : c - 1, : c - 1] = psf[..., -(c - 1) :, -(c - 1) :]
    return ker


def _solve_one_channel(img: torch.Tensor, kernel: torch.Tensor, grad_kernel: torch.Tensor) -> torch.Tensor:
    """The original's CLS solve of one channel, with its real/imaginary slice arithmetic into zero tensors."""
    ker_f, ker_p = _full_otf(kernel, img.shape), _full_otf(grad_kernel, img.shape)
    denominator = ker_f[..., 0] * ker_f[..., 0] + ker_f[..., 1] * ker_f[..., 1]
    denominator = denominator + ker_p[..., 0] * ker_p[..., 0] + ker_p[..., 1] * ker_p[..., 1]
    inv_ker_f = torch.zeros_like(ker_f)
    inv_ker_f[..., 0] = ker_f[..., 0] / denominator
    inv_ker_f[..., 1] = -ker_f[..., 1] / denominator
    img_f = _rfft3(img)
    deblur_f = torch.zeros_like(inv_ker_f)
    deblur_f[..., 0] = inv_ker_f[..., 0] * img_f[..., 0] - inv_ker_f[..., 1] * img_f[..., 1]
    deblur_f[..., 1] = inv_ker_f[..., 0] * img_f[..., 1] + inv_ker_f[..., 1] * img_f[..., 0]
    return _irfft3(deblur_f)


def per_channel_cls(feats: torch.Tensor, kernel: torch.Tensor, grad_kernel: torch.Tensor) -> torch.Tensor:
    """The original's CLS: a Python loop over channels, each solved as above, results copied into zeros."""
    ks = kernel.shape[-1]
    padded = F.pad(feats, (ks, ks, ks, ks), mode="replicate")
    out = torch.zeros_like(feats)
    for c in range(padded.shape[1]):
        deblurred = _solve_one_channel(padded[:, c : c + 1], kernel, grad_kernel[:, c : c + 1])
        out[:, c : c + 1] = deblurred[..., ks:-ks, ks:-ks]
    return out


class LoopCLS(CLS):
    """CLS module with the original's per-channel solve, for the baseline model."""

    def forward(self, x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        feats = self.reduce_feature(x)
        grad_kernel = torch.exp(self.grad_filter(feats))
        grad_kernel = grad_kernel - grad_kernel.mean(dim=(2, 3), keepdim=True)
        return self.expand_feature(per_channel_cls(feats, kernel, grad_kernel))


def baseline_model(model: DCLS) -> DCLS:
    """The reference network of ``model`` (same weights, device and mode, every module as ``dcls.archs``
    defines it: the original's algorithm) with the original's CLS, which loops over feature channels."""
    config = recognise(model.state_dict())
    first = next(model.parameters())
    baseline = DCLS(**config).to(first.device).train(model.training)
    baseline.load_state_dict({k: v.contiguous() for k, v in model.state_dict().items()})
    baseline.Restorer.head2.__class__ = LoopCLS
    return baseline


def _cubic(x: torch.Tensor) -> torch.Tensor:
    ax = x.abs()
    return (1.5 * ax**3 - 2.5 * ax**2 + 1) * (ax <= 1).to(x) + (-0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2) * (
        (ax > 1) & (ax <= 2)
    ).to(x)


def _taps(in_len: int, out_len: int, scale: float) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """Per output sample: cubic weights over a window, the window's start in the extended signal, extensions."""
    width = 4.0 / scale if scale < 1 else 4.0
    u = torch.linspace(1, out_len, out_len) / scale + 0.5 * (1 - 1 / scale)
    n_taps = math.ceil(width) + 2
    idx = torch.floor(u - width / 2)[:, None] + torch.arange(n_taps, dtype=torch.float32)
    w = scale * _cubic((u[:, None] - idx) * scale) if scale < 1 else _cubic(u[:, None] - idx)
    w = w / w.sum(1, keepdim=True)
    zero_cols = (w == 0).sum(0)
    if zero_cols[0]:
        idx, w = idx[:, 1:], w[:, 1:]
    if zero_cols[-1]:
        idx, w = idx[:, :-1], w[:, :-1]
    head, tail = int(-idx.min() + 1), int(idx.max() - in_len)
    return w.contiguous(), (idx + head - 1).long(), head, tail


def _extend(x: torch.Tensor, dim: int, head: int, tail: int) -> torch.Tensor:
    """Symmetric extension along ``dim``, built by copies into a fresh tensor."""
    n = x.shape[dim]
    shape = list(x.shape)
    shape[dim] = n + head + tail
    out = x.new_empty(shape)
    out.narrow(dim, head, n).copy_(x)
    out.narrow(dim, 0, head).copy_(x.narrow(dim, 0, head).flip(dim))
    if tail > 0:
        out.narrow(dim, head + n, tail).copy_(x.narrow(dim, n - tail, tail).flip(dim))
    return out


def _loop_resize_last(x: torch.Tensor, out_len: int, scale: float) -> torch.Tensor:
    """One axis of the original's resize, the last of (n, a, length): one bmm per output sample."""
    weights, index, head, tail = _taps(x.shape[-1], out_len, scale)
    weights, index = weights.to(x.device), index.to(x.device)
    ext = _extend(x, 2, head, tail)
    out = x.new_empty(*x.shape[:2], out_len)
    taps = weights.shape[1]
    for j in range(out_len):
        start = int(index[j, 0])  # a device-to-host read per output sample, as the original
        out[:, :, j] = ext[:, :, start : start + taps].bmm(weights[j][None, :, None].repeat(x.shape[0], 1, 1))[..., 0]
    return out


def loop_imresize(img: torch.Tensor, scale: float) -> torch.Tensor:
    """The original's batched MATLAB bicubic resize: one bmm per output row, then one per output column."""
    b, c, h, w = img.shape
    out_h, out_w = math.ceil(h * scale), math.ceil(w * scale)
    rows = _loop_resize_last(img.reshape(b * c, h, w).transpose(1, 2), out_h, scale).transpose(1, 2)
    return _loop_resize_last(rows, out_w, scale).reshape(b, c, out_h, out_w)


def numpy_kernels(batch: int, size: int, sig_min: float, sig_max: float, rng: np.random.Generator) -> torch.Tensor:
    """Isotropic random kernels built in numpy on a grid repeated per sample, as the original."""
    sigma = rng.uniform(sig_min, sig_max, (batch, 1, 1))
    ax = np.arange(-size // 2 + 1.0, size // 2 + 1.0)
    xx, yy = np.meshgrid(ax, ax)
    xx, yy = xx[None].repeat(batch, 0), yy[None].repeat(batch, 0)
    kernel = np.exp(-(xx**2 + yy**2) / (2.0 * sigma**2))
    return torch.FloatTensor(kernel / np.sum(kernel, (1, 2), keepdims=True))


class LoopDegradation:
    """The original's SRMDPreprocessing in setting 1 (no noise), followed by its 8-bit quantisation."""

    def __init__(self, scale: int, device: torch.device, kernel_size: int = 21, code_length: int = 10) -> None:
        self.scale, self.kernel_size = scale, kernel_size
        self.pca = torch.rand(kernel_size**2, code_length, device=device)

    def __call__(self, hr: torch.Tensor, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(quantised LR input, blurred LR, clean LR)."""
        b = hr.shape[0]
        kernels = numpy_kernels(b, self.kernel_size, 0.2, 4.0, rng).to(hr.device)
        blurred = batch_blur(hr, kernels)
        torch.bmm(kernels.view(b, 1, -1), self.pca.expand(b, *self.pca.shape))  # the PCA kernel code
        lr_blured, lr = loop_imresize(blurred, 1 / self.scale), loop_imresize(hr, 1 / self.scale)
        return (lr_blured * 255).round() / 255, lr_blured, lr


def zeroize_by_sort(k: torch.Tensor, n: int = 40) -> torch.Tensor:
    """Negligible-value removal with a full sort for the (n+1)-th largest value, as the original."""
    pc = k.shape[-1] // 2 + 1
    k_sorted, _ = torch.sort(k.flatten(start_dim=1))
    filtered = torch.clamp(k - 0.75 * k_sorted[:, -n - 1].view(-1, 1, 1, 1), min=0, max=1.0)
    filtered[:, :, pc, pc] += 1e-20
    return filtered / torch.sum(filtered, dim=(2, 3), keepdim=True)


class LoopCorrectionLoss(nn.Module):
    """The original's kernel loss: reformulated LR kernel solved one image channel at a time."""

    def __init__(self, eps: float = 1e-20) -> None:
        super().__init__()
        self.eps = eps
        self.l1 = nn.L1Loss()

    def forward(self, k_pred: torch.Tensor, lr_blured: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        kernels = []
        mask = torch.ones_like(k_pred)
        for c in range(lr_blured.shape[1]):
            blur_f, img_f = _rfft3(lr_blured[:, c : c + 1]), _rfft3(lr[:, c : c + 1])
            denominator = img_f[..., 0] * img_f[..., 0] + img_f[..., 1] * img_f[..., 1] + self.eps
            inv_denominator = torch.zeros_like(img_f)
            inv_denominator[..., 0] = img_f[..., 0] / denominator
            inv_denominator[..., 1] = -img_f[..., 1] / denominator
            ratio = torch.zeros_like(blur_f)
            ratio[..., 0] = inv_denominator[..., 0] * blur_f[..., 0] - inv_denominator[..., 1] * blur_f[..., 1]
            ratio[..., 1] = inv_denominator[..., 0] * blur_f[..., 1] + inv_denominator[..., 1] * blur_f[..., 0]
            k_c = _window_psf(_irfft3(ratio), k_pred.shape)
            kernels.append(k_c.clone())
            mask = mask * k_c
        k_correct = torch.cat(kernels, dim=1).mean(dim=1, keepdim=True) * (mask > 0)
        return self.l1(k_pred, zeroize_by_sort(k_correct, n=40))
