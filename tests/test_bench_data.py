"""``benchmarks/bench_data.py`` measures the training loader at a chosen batch and worker counts on the CPU and
prints samples/s beside what training at the 24-hour goal consumes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_loader_benchmark_reports_samples_per_second_beside_the_goal() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "codes"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_data.py"), "--batch", "4", "--workers",
                           "0", "1", "--storage", "raw", "--images", "2", "--batches", "2", "--repeats", "1"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = re.findall(r"^\| raw \| (\d) \| ([\d.]+) \| (\d+) \| ([\d.]+)x \|$", proc.stdout, flags=re.MULTILINE)
    assert [r[0] for r in rows] == ["0", "1"], proc.stdout
    for _workers, batches, samples, _ratio in rows:
        assert float(batches) > 0 and abs(int(samples) - 4 * float(batches)) <= 1
    assert rows[0][3] == "1.00"
    assert "batch 4 of 256x256 crops" in proc.stdout
    assert "consumes 23 samples/s; 3x that is 70 samples/s" in proc.stdout  # 5.8 it/s x 4
