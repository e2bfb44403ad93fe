"""Training throughput: iterations/s of one full DCLS training iteration, ours against the original code's.

One iteration = degradation synthesis (random kernels, blur, bicubic x4 downsampling of blurred and clean
HR, quantisation) + forward + pixel and kernel-correction losses + backward + Adam step, at batch 4 of
128x128 HR patches (LR 32x32) with the full x4 setting-1 model. The original's iteration (see
``_original.py``: per-channel CLS and kernel loss, row/column-loop resize, numpy kernels) runs in the same
process from the same weights, round-robin with ours, so the ratio is measured under the same load.

    python benchmarks/bench_train.py [--repeats 5] [--threads N] [--device cpu|cuda] [--quick] [--reference]

The last column is the original's time per iteration over the row's: above 1, the row is faster.

``--preset paper`` times the paper's setting instead: batch 64 of 256x256 HR patches (LR 64), or one GPU's
share of it (``--gpus N``: batch 64/N per GPU), with each execution option side by side in one run: the
original's algorithm, this implementation in float32, with TF32, bf16 and fp16 autocast, channels-last
(bf16) and ``torch.compile`` (bf16). It reports iterations/s, samples/s, peak GPU memory and the hours of the
500k-iteration schedule at that speed. ``--quick`` checks the plumbing on a CPU in seconds: a reduced
network (``QUICK_NETWORK``), batch 2 of 84x84 patches, two timed iterations, no ``torch.compile`` (its
compilation alone takes minutes there); its figures say nothing about the paper's setting.

    python benchmarks/bench_train.py --preset paper [--gpus 1] [--quick] [--device cuda] [--no-compile]
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from _original import SETTING1_X4, LoopCorrectionLoss, LoopDegradation, baseline_model
from _timing import add_process_options, configure_process, devices, median_times

from dcls.accel import accelerate
from dcls.accel.execution import compile_network, tune_backend
from dcls.archs import DCLS
from dcls.degradation.synthesis import GaussianDegradation
from dcls.losses import build_loss_terms
from dcls.step import apply_update, build_optimizer, compute_losses

LEARNING_RATE = 4e-4
PAPER_BATCH, PAPER_GT, PAPER_NITER = 64, 256, 500_000
QUICK_BATCH, QUICK_GT = 2, 84
QUICK_NETWORK = {**SETTING1_X4, "nf": 16, "nb": 1, "ng": 1, "input_para": 16}


def our_iteration(model: DCLS, hr: torch.Tensor, seed: int, amp: str = "off",
                  tf32: bool | None = None) -> Callable[[], None]:
    """One training iteration of this package: :class:`GaussianDegradation`, then the original's loss terms
    (:func:`compute_losses`) and the update (:func:`apply_update`), with ``amp`` autocast, a gradient scaler for
    fp16, and TF32 allowed or not on CUDA."""
    degradation = GaussianDegradation(scale=4, ksize=21, sig_min=0.2, sig_max=4.0)
    optimizer = build_optimizer(model, LEARNING_RATE, LEARNING_RATE)
    terms = build_loss_terms(None)
    scaler = torch.amp.GradScaler(hr.device.type, enabled=amp == "fp16")
    rng = np.random.default_rng(seed)

    def step() -> None:
        tune_backend(hr.device, fixed_shapes=True, tf32=tf32)
        out = compute_losses(model, hr, degradation(hr, rng), terms, amp=amp)
        apply_update(optimizer, out.total, scaler)

    return step


def original_iteration(model: DCLS, hr: torch.Tensor, seed: int) -> Callable[[], None]:
    """One training iteration as the original code runs it (re-expressed in ``_original.py``)."""
    degradation = LoopDegradation(scale=4, device=hr.device)
    optimizer = build_optimizer(model, LEARNING_RATE, LEARNING_RATE)
    pixel_loss, kernel_loss = torch.nn.L1Loss(), LoopCorrectionLoss(eps=1e-20)
    rng = np.random.default_rng(seed)

    def step() -> None:
        lr_img, lr_blured, lr = degradation(hr, rng)
        sr, kernel = model(lr_img)
        total = kernel_loss(kernel, lr_blured, lr) + pixel_loss(sr, hr)
        optimizer.zero_grad()
        total.backward()
        optimizer.step()

    return step


def bench_device(
    device: torch.device, batch: int, gt_size: int, repeats: int, warmup: int, reference: bool = False
) -> dict[str, float]:
    """Median seconds per iteration of ours and the original's (and of the reference network if asked)."""
    torch.manual_seed(0)
    plain = DCLS(**SETTING1_X4).to(device).train()
    hr = torch.rand(batch, 3, gt_size, gt_size, device=device)
    fns = {"ours": our_iteration(accelerate(copy.deepcopy(plain), device, training=True), hr, seed=0)}
    if reference:
        fns["reference"] = our_iteration(copy.deepcopy(plain), hr, seed=0)
    fns["original"] = original_iteration(baseline_model(plain), hr, seed=0)
    return median_times(fns, device, repeats, warmup)


@dataclass(frozen=True)
class Variant:
    """One execution option of the paper preset."""

    label: str
    amp: str = "off"
    tf32: bool = False
    channels_last: bool | None = None
    compiled: bool = False


PAPER_VARIANTS = (
    Variant("float32"),
    Variant("TF32", tf32=True),
    Variant("bf16", amp="bf16", tf32=True),
    Variant("fp16", amp="fp16", tf32=True),
    Variant("bf16 + channels-last", amp="bf16", tf32=True, channels_last=True),
    Variant("bf16 + compile", amp="bf16", tf32=True, compiled=True),
)


def peak_memory(fn: Callable[[], None], device: torch.device) -> float | None:
    """Peak GPU memory (GiB) of one call, None on the CPU."""
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) / 2**30


def bench_paper(device: torch.device, batch: int, gt_size: int, repeats: int, warmup: int,
                variants: tuple[Variant, ...], network: dict) -> dict[str, tuple[float, float | None]]:
    """Median seconds per iteration and peak GPU memory of the original's algorithm and of each variant."""
    torch.manual_seed(0)
    plain = DCLS(**network).to(device).train()
    hr = torch.rand(batch, 3, gt_size, gt_size, device=device)
    fns: dict[str, Callable[[], None]] = {"original": original_iteration(baseline_model(plain), hr, seed=0)}
    for v in variants:
        model = accelerate(copy.deepcopy(plain), device, training=True, channels_last=v.channels_last)
        step = our_iteration(model, hr, seed=0, amp=v.amp, tf32=v.tf32)
        if v.compiled:
            compiled = compile_network(model)
            step = our_iteration(compiled, hr, seed=0, amp=v.amp, tf32=v.tf32)
        fns[v.label] = step
    memory = {}
    for name, fn in list(fns.items()):
        try:
            memory[name] = peak_memory(fn, device)
        except torch.OutOfMemoryError:
            print(f"{name}: out of GPU memory at batch {batch}; left out", flush=True)
            del fns[name]
            torch.cuda.empty_cache()
    tune_backend(device, fixed_shapes=True, tf32=False)
    times = median_times(fns, device, repeats, warmup)
    return {name: (times[name], memory[name]) for name in times}


def report_paper(args: argparse.Namespace) -> None:
    """The paper preset: one table per device, the original first."""
    per_gpu = args.batch // args.gpus
    variants = tuple(v for v in PAPER_VARIANTS if not (v.compiled and args.no_compile))
    network = QUICK_NETWORK if args.quick else SETTING1_X4
    size = "quick check, reduced network (nf 16, nb 1, ng 1)" if args.quick else "x4 setting1 DCLS"
    print(f"{size} training iteration, batch {per_gpu} per GPU ({args.batch} in all over {args.gpus}), "
          f"GT {args.gt_size} (LR {args.gt_size // 4}); hours for {PAPER_NITER:,d} iterations at that speed\n")
    print("| device | implementation | it/s | samples/s | ms/it | peak GPU memory | hours for 500k "
          "| speed vs original |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for device in [torch.device(args.device)] if args.device else devices()[-1:]:
        results = bench_paper(device, per_gpu, args.gt_size, args.repeats, args.warmup, variants, network)
        base = results["original"][0] if "original" in results else float("nan")
        for name, (seconds, memory) in results.items():
            mem = "n/a (CPU)" if memory is None else f"{memory:.1f} GiB"
            print(f"| {device.type} | {name} | {1 / seconds:.3f} | {per_gpu / seconds:.2f} | {seconds * 1e3:.1f} | "
                  f"{mem} | {PAPER_NITER * seconds / 3600:.1f} | x{base / seconds:.2f} |", flush=True)
    if args.no_compile:
        print("\ntorch.compile left out (--no-compile or --quick)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed iterations per implementation (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations first")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: CPU, and CUDA if present")
    parser.add_argument("--batch", type=int, default=None, help="default: 4 (64 with --preset paper)")
    parser.add_argument("--gt-size", type=int, default=None, help="default: 128 (256 with --preset paper)")
    add_process_options(parser)
    parser.add_argument("--quick", action="store_true", help="3 repeats after 1 warm-up iteration (paper preset: "
                        "batch 2 of 84x84, 2 repeats, no compile)")
    parser.add_argument("--reference", action="store_true",
                        help="also time the reference network (dcls.archs) without the speed-up layer")
    parser.add_argument("--preset", choices=["paper"], default=None,
                        help="paper: the paper's batch with every execution option side by side")
    parser.add_argument("--gpus", type=int, default=1, help="paper preset: GPUs sharing the batch (time one share)")
    parser.add_argument("--no-compile", action="store_true", help="paper preset: leave torch.compile out")
    args = parser.parse_args()
    paper = args.preset == "paper"
    if args.quick and paper:
        args.batch, args.gt_size, args.no_compile = args.batch or QUICK_BATCH, args.gt_size or QUICK_GT, True
        args.repeats, args.warmup = 2, 1
    elif args.quick:
        args.repeats, args.warmup = 3, 1
    args.batch = args.batch or (PAPER_BATCH if paper else 4)
    args.gt_size = args.gt_size or (PAPER_GT if paper else 128)
    if args.gt_size // 4 < SETTING1_X4["kernel_size"]:
        parser.error(f"--gt-size {args.gt_size}: the LR patch must be at least the kernel size (GT >= 84)")
    if args.gpus < 1 or args.batch % args.gpus:
        parser.error(f"--gpus {args.gpus}: must divide the batch ({args.batch})")
    print(f"{configure_process(args)}, medians of {args.repeats} iterations")
    if paper:
        report_paper(args)
        return
    print(f"x4 setting1 DCLS training iteration, batch {args.batch}, GT {args.gt_size} (LR {args.gt_size // 4})\n")
    print("| device | implementation | it/s | ms/it | speed vs original |")
    print("| --- | --- | --- | --- | --- |")
    for device in [torch.device(args.device)] if args.device else devices():
        r = bench_device(device, args.batch, args.gt_size, args.repeats, args.warmup, args.reference)
        for name, seconds in r.items():
            ratio = r["original"] / seconds
            print(f"| {device.type} | {name} | {1 / seconds:.3f} | {seconds * 1e3:.1f} | x{ratio:.2f} |", flush=True)


if __name__ == "__main__":
    main()
