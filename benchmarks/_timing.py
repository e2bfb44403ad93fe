"""Timing helpers shared by the benchmarks: warm-up, synchronised round-robin repeats, medians."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_times(
    fns: dict[str, Callable[[], object]], device: torch.device, repeats: int = 5, warmup: int = 2
) -> dict[str, float]:
    """Median wall time (s) of each function over ``repeats`` runs after ``warmup`` untimed runs.

    The functions run round-robin, so a candidate and its baseline see the same machine load.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    synchronize(device)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


@contextmanager
def call_times(module: torch.nn.Module, device: torch.device) -> Iterator[list[float]]:
    """Wall time (s) of each call of ``module`` while the context is open, e.g. inside a whole forward."""
    times: list[float] = []
    start: list[float] = []

    def before(*_: object) -> None:
        synchronize(device)
        start.append(time.perf_counter())

    def after(*_: object) -> None:
        synchronize(device)
        times.append(time.perf_counter() - start.pop())

    hooks = [module.register_forward_pre_hook(before), module.register_forward_hook(after)]
    try:
        yield times
    finally:
        for hook in hooks:
            hook.remove()


def devices() -> list[torch.device]:
    """CPU always, CUDA too when present."""
    return [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])


def add_process_options(parser: argparse.ArgumentParser) -> None:
    """--threads, shared by the model benchmarks."""
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")


def configure_process(args: argparse.Namespace) -> str:
    """Apply the process options (threads; cuDNN autotuning as the original's train.py); describe them."""
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = True
    return f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
