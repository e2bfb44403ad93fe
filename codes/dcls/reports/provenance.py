"""What a results file under docs/results records besides its figures: the command, the commit and the machine
(torch, CPU, threads), so that every quoted figure can be traced and rerun; and the paired statistics the
studies report (mean difference with its 95% interval)."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..utils.image_io import atomic_write_bytes


def commit(repo: Path) -> str:
    """The checked-out commit of ``repo`` ("unknown" outside a git checkout), with "+dirty" for local changes."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    if not head:
        return "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                           capture_output=True, text=True).stdout.strip()
    return head + ("+dirty" if dirty else "")


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor()
    return next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")),
                platform.processor())


def provenance(repo: Path) -> dict[str, Any]:
    """The command line of this process, the commit, and the machine it ran on."""
    return {"command": " ".join(["python", *sys.argv]), "commit": commit(repo), "torch": torch.__version__,
            "python": platform.python_version(), "cpu": cpu_model(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "threads": os.environ.get("OMP_NUM_THREADS", "default")}


def write_results(path: Path, results: dict[str, Any]) -> None:
    """Write ``results`` as indented JSON, atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(results, indent=1) + "\n").encode("utf-8"))


# two-sided 97.5% quantiles of Student's t for 1-30 degrees of freedom (no scipy dependency)
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def mean_interval(values: list[float]) -> dict[str, Any]:
    """Mean of ``values`` with its 95% t-interval (None for fewer than 2 values; beyond 30 the normal 1.96)."""
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    mean = float(x.mean()) if n else math.nan
    if n < 2:
        return {"n": n, "mean": mean, "ci95": None}
    half = (T_975[n - 2] if n - 1 <= len(T_975) else 1.96) * float(x.std(ddof=1)) / math.sqrt(n)
    return {"n": n, "mean": mean, "ci95": [mean - half, mean + half]}


def proportion_interval(successes: int, n: int) -> dict[str, Any]:
    """``successes`` of ``n`` with the Wilson score 95% interval of the rate (sensible at 0 or n of n)."""
    if n == 0:
        return {"n": 0, "rate": math.nan, "ci95": None}
    z, rate = 1.96, successes / n
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return {"n": n, "rate": rate, "ci95": [max(0.0, centre - half), min(1.0, centre + half)]}
