"""Core benchmark: full x4 setting-1 DCLS forward, the CLS module, and batched degradation synthesis.

Ours is the network as ``dcls.accel.accelerate`` prepares it for inference. The original implementation's
algorithm (the reference network of ``dcls.archs``, with the original's CLS and resize re-expressed in
``_original.py`` for timing only) runs in the same process, round-robin with ours, so the ratio is measured
on the same machine under the same load: the original keeps every feature map NCHW, solves CLS one feature
channel at a time with full complex FFTs, applies channel attention as a product then a sum, upsamples the
whole image at once, and resizes with a Python loop over output rows/columns. The reference network itself
(same weights, no speed-ups) is timed too. CLS is timed on its own (back to back, alternating with the
original's) and inside the model forwards. The model's achieved GFLOP/s is reported next to a plain
64-channel 3x3 convolution's at the same resolution (the faster of its NCHW and channels-last layouts, so the
reference is the best the convolution library does on this machine), counted two ways: the architecture's
convolution and matrix FLOPs over the forward's time (as model-FLOPs utilisation counts: how close the
forward is to running every FLOP of the model at plain-convolution speed), and the FLOPs the forward
executes (fewer: the upsampler runs folded into one convolution, see ``dcls.accel.linear_fold``).

    python benchmarks/bench_core.py [--repeats 5] [--threads N] [--device cpu|cuda] [--quick]
"""

from __future__ import annotations

import argparse
import copy
import statistics
from collections.abc import Callable

import numpy as np
import torch
from _original import SETTING1_X4, LoopDegradation, baseline_model
from _timing import add_process_options, call_times, configure_process, devices, median_times
from torch.utils.flop_counter import FlopCounterMode

from dcls.accel import accelerate
from dcls.archs import DCLS
from dcls.degradation.synthesis import GaussianDegradation


def gflops(fn: Callable[..., object], *args: torch.Tensor) -> float:
    """GFLOP of one call (convolutions and matrix products; 2 FLOP per multiply-add)."""
    with FlopCounterMode(display=False) as counter:
        fn(*args)
    return counter.get_total_flops() / 1e9


def bench_device(device: torch.device, repeats: int, warmup: int) -> dict[str, float]:
    """Times (seconds) and FLOP counts on one device, ours and the original's algorithm side by side."""
    torch.manual_seed(0)
    reference = DCLS(**SETTING1_X4).to(device).eval()
    model = accelerate(copy.deepcopy(reference), device, training=False)
    baseline = baseline_model(reference)
    conv = torch.nn.Conv2d(64, 64, 3, 1, 1).to(device)
    conv_cl = torch.nn.Conv2d(64, 64, 3, 1, 1).to(device, memory_format=torch.channels_last)
    lr = torch.rand(1, 3, 96, 96, device=device)
    feats = torch.rand(1, 64, 96, 96, device=device)
    feats_cl = feats.contiguous(memory_format=torch.channels_last)
    hr = torch.rand(16, 3, 256, 256, device=device)
    deg, deg_base = GaussianDegradation(scale=4), LoopDegradation(scale=4, device=device)
    rng = np.random.default_rng(0)
    with torch.inference_mode():
        kernel = model.Estimator(lr)
        cls_in = model.Restorer.feature_block(model.Restorer.conv_first(lr))  # the layout CLS sees in the model
        cls_in_nchw = cls_in.contiguous()

        def cls_ours() -> torch.Tensor:
            return model.Restorer.head2(cls_in, kernel)

        def cls_base() -> torch.Tensor:
            return baseline.Restorer.head2(cls_in_nchw, kernel)

        fns = {
            "model": lambda: model(lr),
            "model_base": lambda: baseline(lr),
            "model_reference": lambda: reference(lr),
            "conv": lambda: conv(feats),
            "conv_cl": lambda: conv_cl(feats_cl),
            "degradation": lambda: deg(hr, rng),
            "degradation_base": lambda: deg_base(hr, rng),
        }
        r = median_times(fns, device, repeats, warmup)
        # CLS on its own, the two implementations alternating (steady state), and inside whole forwards (where
        # its input was just computed); a call right after an unrelated forward would be neither.
        r.update(median_times({"cls": cls_ours, "cls_base": cls_base}, device, 10 * repeats, warmup))
        with call_times(model.Restorer.head2, device) as ours, call_times(baseline.Restorer.head2, device) as base:
            median_times({"ours": lambda: model(lr), "base": lambda: baseline(lr)}, device, repeats, warmup=0)
        r["cls_in_model"], r["cls_in_model_base"] = statistics.median(ours), statistics.median(base)
        # The architecture's FLOPs (counted on the baseline, which runs every layer as defined) and the ones our
        # forward executes (its folded upsampler does a tenth of the upsampling work).
        r["model_gflop"], r["conv_gflop"] = gflops(model, lr), gflops(conv, feats)
        r["architecture_gflop"] = gflops(baseline, lr)
    return r


def report(device: torch.device, r: dict[str, float]) -> None:
    def line(label: str, key: str) -> None:
        text = f"{label:<46}: {r[key] * 1e3:9.2f} ms"
        base = r.get(f"{key}_base")
        if base:
            text += f"   original algorithm {base * 1e3:9.2f} ms   speed-up x{base / r[key]:.2f}"
        print(text)

    print(f"== {device.type}")
    line(f"DCLS x4 setting1 forward, LR 96x96 ({r['architecture_gflop']:.1f} GFLOP)", "model")
    print(f"{'  reference network (dcls.archs, no speed-ups)':<46}: {r['model_reference'] * 1e3:9.2f} ms")
    line("CLS module (64 ch, 96x96, k=21), back to back", "cls")
    line("  same, inside the model forwards", "cls_in_model")
    line("degradation, 16 HR patches 256x256, x4", "degradation")
    nchw_rate, cl_rate = r["conv_gflop"] / r["conv"], r["conv_gflop"] / r["conv_cl"]
    best = max(nchw_rate, cl_rate)
    print(f"plain 64-ch 3x3 conv, 96x96: NCHW {nchw_rate:.1f} GFLOP/s, channels_last {cl_rate:.1f} GFLOP/s")
    for label, key in (("architecture's", "architecture_gflop"), ("executed", "model_gflop")):
        rate = r[key] / r["model"]
        print(
            f"model at the {label} {r[key]:.1f} GFLOP: {rate:.1f} GFLOP/s, {rate / best:.0%} of the faster conv"
            f" layout ({rate / nchw_rate:.0%} of the NCHW conv)"
        )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs of each function first")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: CPU, and CUDA if present")
    add_process_options(parser)
    parser.add_argument("--quick", action="store_true", help="3 repeats after 1 warm-up run")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.warmup = 3, 1
    print(f"{configure_process(args)}, medians of {args.repeats} runs\n")
    for device in [torch.device(args.device)] if args.device else devices():
        report(device, bench_device(device, args.repeats, args.warmup))


if __name__ == "__main__":
    main()
