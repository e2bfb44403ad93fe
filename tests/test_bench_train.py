"""``benchmarks/bench_train.py --preset paper --quick`` runs on the CPU and reports every option beside the original."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_paper_preset_quick_runs_on_the_cpu() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "codes"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_train.py"), "--preset", "paper", "--quick",
                           "--device", "cpu"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {m.group(1): m.groups()[1:] for m in re.finditer(
        r"^\| cpu \| ([^|]+?) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| n/a \(CPU\) \| ([\d.]+) \| x([\d.]+) \|$",
        proc.stdout, flags=re.MULTILINE)}
    assert set(rows) == {"original", "float32", "TF32", "bf16", "fp16", "bf16 + channels-last"}, proc.stdout
    for its, samples, ms, hours, _ratio in rows.values():
        assert float(its) > 0 and abs(float(samples) - 2 * float(its)) < 0.02 * float(samples) + 0.01
        assert abs(float(hours) - 500_000 * float(ms) / 1e3 / 3600) < 0.05 * float(hours) + 0.1
    assert rows["original"][-1] == "1.00"
    assert "torch.compile left out" in proc.stdout
