"""Core benchmark: full x4 setting-1 DCLS forward, the CLS module, and batched degradation synthesis.

For each, the original implementation's algorithm (re-expressed here for timing only) runs in the
same process, so the ratio is measured on the same machine: the original solves CLS one feature
channel at a time with full complex FFTs, and resizes with a Python loop over output rows/columns.
The model's achieved GFLOP/s is reported next to a plain 64-channel 3x3 convolution's.

    python benchmarks/bench_core.py [--repeats 5] [--threads N]
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch
import torch.nn.functional as F
from _timing import devices, median_times
from torch.utils.flop_counter import FlopCounterMode

from dcls.archs import DCLS
from dcls.archs.dcls_arch import CLS
from dcls.degradation.kernels import random_kernels
from dcls.degradation.synthesis import Degradation, batch_blur, quantize
from dcls.ops.imresize import resize_matrix

SETTING1_X4 = {"nf": 64, "nb": 10, "ng": 5, "in_nc": 3, "upscale": 4, "input_para": 256, "kernel_size": 21}


def per_channel_cls(feats: torch.Tensor, kernel: torch.Tensor, grad_kernel: torch.Tensor) -> torch.Tensor:
    """The original's CLS solve: a Python loop over channels, full complex FFTs, psf built by slicing."""
    ks = kernel.shape[-1]
    padded = F.pad(feats, (ks, ks, ks, ks), mode="replicate")
    out = torch.zeros_like(feats)
    for c in range(padded.shape[1]):
        img = padded[:, c : c + 1]
        ker_f = _full_otf(kernel, img.shape)
        p_f = _full_otf(grad_kernel[:, c : c + 1], img.shape)
        inv = ker_f.conj() / (ker_f.abs() ** 2 + p_f.abs() ** 2)
        out[:, c : c + 1] = torch.fft.ifftn(inv * torch.fft.fftn(img, dim=(-3, -2, -1)), dim=(-3, -2, -1)).real[
            ..., ks:-ks, ks:-ks
        ]
    return out


def _full_otf(ker: torch.Tensor, size: torch.Size) -> torch.Tensor:
    psf = torch.zeros(size)
    c = ker.shape[-1] // 2 + 1
    psf[..., :c, :c] = ker[..., c - 1 :, c - 1 :]
    psf[..., :c, -(c - 1) :] = ker[..., c - 1 :, : c - 1]
    psf[..., -(c - 1) :, :c] = ker[..., : c - 1, c - 1 :]
    psf[..., -(c - 1) :, -(c - 1) :] = ker[..., : c - 1, : c - 1]
    return torch.fft.fftn(psf, dim=(-3, -2, -1))


class LoopCLS(CLS):
    """CLS module with the original's per-channel solve, for the baseline model."""

    def forward(self, x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        feats = self.reduce_feature(x)
        grad_kernel = torch.exp(self.grad_filter(feats))
        grad_kernel = grad_kernel - grad_kernel.mean(dim=(2, 3), keepdim=True)
        return self.expand_feature(per_channel_cls(feats, kernel, grad_kernel))


def row_loop_imresize(img: torch.Tensor, scale: float) -> torch.Tensor:
    """The original's resize structure: one small matmul per output row, then per output column."""
    h, w = img.shape[-2:]
    m_h = resize_matrix(h, math.ceil(h * scale), scale)
    m_w = resize_matrix(w, math.ceil(w * scale), scale)
    out_1 = torch.stack([torch.einsum("k,...kw->...w", m_h[i], img) for i in range(m_h.shape[0])], dim=-2)
    return torch.stack([out_1 @ m_w[j] for j in range(m_w.shape[0])], dim=-1)


def loop_degradation(hr: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    kernels = random_kernels(hr.shape[0], 21, 0.2, 4.0, rng=rng)
    blurred = batch_blur(hr, kernels)
    row_loop_imresize(hr, 1 / 4)
    return quantize(row_loop_imresize(blurred, 1 / 4))


def gflops(fn, *args) -> float:
    with FlopCounterMode(display=False) as counter:
        fn(*args)
    return counter.get_total_flops() / 1e9


def bench_device(device: torch.device, repeats: int) -> dict[str, float]:
    """Times (seconds) and FLOP counts on one device; baselines only on the CPU."""
    model = DCLS(**SETTING1_X4).to(device).eval()
    baseline = DCLS(**SETTING1_X4).to(device).eval()
    baseline.load_state_dict(model.state_dict())
    baseline.Restorer.head2.__class__ = LoopCLS
    model_nhwc = DCLS(**SETTING1_X4).to(device).eval()
    model_nhwc.load_state_dict(model.state_dict())
    model_nhwc = model_nhwc.to(memory_format=torch.channels_last)
    conv = torch.nn.Conv2d(64, 64, 3, 1, 1).to(device)
    lr = torch.rand(1, 3, 96, 96, device=device)
    lr_nhwc = lr.contiguous(memory_format=torch.channels_last)
    feats = torch.rand(1, 64, 96, 96, device=device)
    hr = torch.rand(16, 3, 256, 256, device=device)
    deg = Degradation(scale=4)
    on_cpu = device.type == "cpu"
    rng = np.random.default_rng(0)
    with torch.inference_mode():
        kernel = model.Estimator(lr)
        fns = {
            "model": lambda: model(lr),
            "model_nhwc": lambda: model_nhwc(lr_nhwc),
            "conv": lambda: conv(feats),
            "cls": lambda: model.Restorer.head2(feats, kernel),
            "degradation": lambda: deg(hr, rng),
        }
        if on_cpu:
            fns["model_base"] = lambda: baseline(lr)
            fns["cls_base"] = lambda: baseline.Restorer.head2(feats, kernel)
            fns["degradation_base"] = lambda: loop_degradation(hr, rng)
        r = median_times(fns, device, repeats)
        r["model_gflop"], r["conv_gflop"] = gflops(model, lr), gflops(conv, feats)
    return r


def report(device: torch.device, r: dict[str, float]) -> None:
    def line(label: str, key: str) -> None:
        text = f"{label:<42}: {r[key] * 1e3:9.2f} ms"
        base = r.get(f"{key}_base")
        if base:
            text += f"   original algorithm {base * 1e3:9.2f} ms   speed-up x{base / r[key]:.2f}"
        print(text)

    print(f"== {device.type}")
    line(f"DCLS x4 setting1 forward, LR 96x96 ({r['model_gflop']:.1f} GFLOP)", "model")
    print(f"{'  same, channels_last memory format':<42}: {r['model_nhwc'] * 1e3:9.2f} ms")
    line("CLS module (64 ch, 96x96, k=21)", "cls")
    line("degradation, 16 HR patches 256x256, x4", "degradation")
    model_rate, conv_rate = r["model_gflop"] / min(r["model"], r["model_nhwc"]), r["conv_gflop"] / r["conv"]
    print(f"model (faster layout) {model_rate:.1f} GFLOP/s vs plain 64-ch 3x3 conv {conv_rate:.1f} GFLOP/s", end="")
    print(f": ratio {model_rate / conv_rate:.0%}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, medians of {args.repeats} runs\n")
    for device in devices():
        report(device, bench_device(device, args.repeats))


if __name__ == "__main__":
    main()
