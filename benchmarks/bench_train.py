"""Training throughput: iterations/s of one full DCLS training iteration, ours against the original code's.

One iteration = degradation synthesis (random kernels, blur, bicubic x4 downsampling of blurred and clean
HR, quantisation) + forward + pixel and kernel-correction losses + backward + Adam step, at batch 4 of
128x128 HR patches (LR 32x32) with the full x4 setting-1 model. The original's iteration (see
``_original.py``: per-channel CLS and kernel loss, row/column-loop resize, numpy kernels) runs in the same
process from the same weights, round-robin with ours, so the ratio is measured under the same load.

    python benchmarks/bench_train.py [--repeats 5] [--threads N] [--device cpu|cuda] [--quick] [--reference]

The last column is the original's time per iteration over the row's: above 1, the row is faster.
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable

import numpy as np
import torch
from _original import SETTING1_X4, LoopCorrectionLoss, LoopDegradation, baseline_model
from _timing import add_process_options, configure_process, devices, median_times

from dcls.accel import accelerate
from dcls.archs import DCLS
from dcls.degradation.synthesis import Degradation
from dcls.losses import CorrectionLoss, build_pixel_loss
from dcls.step import build_optimizer, train_step

LEARNING_RATE = 4e-4


def our_iteration(model: DCLS, hr: torch.Tensor, seed: int) -> Callable[[], None]:
    """One training iteration of this package: :class:`Degradation` then :func:`train_step`."""
    degradation = Degradation(scale=4, ksize=21, sig_min=0.2, sig_max=4.0)
    optimizer = build_optimizer(model, LEARNING_RATE, LEARNING_RATE)
    pixel_loss, kernel_loss = build_pixel_loss("l1"), CorrectionLoss(eps=1e-20)
    rng = np.random.default_rng(seed)

    def step() -> None:
        train_step(model, optimizer, hr, degradation(hr, rng), pixel_loss, kernel_loss)

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed iterations per implementation (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations first")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: CPU, and CUDA if present")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--gt-size", type=int, default=128)
    add_process_options(parser)
    parser.add_argument("--quick", action="store_true", help="3 repeats after 1 warm-up iteration")
    parser.add_argument("--reference", action="store_true",
                        help="also time the reference network (dcls.archs) without the speed-up layer")
    args = parser.parse_args()
    if args.gt_size // 4 < SETTING1_X4["kernel_size"]:
        parser.error(f"--gt-size {args.gt_size}: the LR patch must be at least the kernel size (GT >= 84)")
    if args.quick:
        args.repeats, args.warmup = 3, 1
    print(f"{configure_process(args)}, medians of {args.repeats} iterations")
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
