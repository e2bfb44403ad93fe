"""Timing helpers shared by the benchmarks: warm-up, synchronised round-robin repeats, medians."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

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


def devices() -> list[torch.device]:
    """CPU always, CUDA too when present."""
    return [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
