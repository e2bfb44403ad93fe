"""Measure the README's set-up figures on this machine: `bash demo.sh` on a fresh clone of the committed HEAD.

It clones the repository's HEAD into a temporary folder (nothing uncommitted, no .venv, no demo_data), runs
``bash demo.sh`` there under a wall-clock timer with this shell's virtual environment out of the way, reads the
``DEMO RESULT: PSNR-Y model=<x> bicubic=<y>`` line, measures the disk use of the clone's ``.venv`` and
``demo_data``, and writes them with the command, the commit and the machine (torch, CPU, threads, Python) to a
JSON results file (atomically), which the README quotes through fig markers (``scripts/docs_figures.py``).
CPU-heavy: the whole demo, installation included (minutes).

    python scripts/measure_setup.py [--output docs/results/setup_demo.json] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dcls.reports.provenance import cpu_model, write_results

ROOT = Path(__file__).resolve().parents[1]
COMMAND = "bash demo.sh"
RESULT_LINE = re.compile(r"^DEMO RESULT: PSNR-Y model=(?P<model>[-+\d.]+) bicubic=(?P<bicubic>[-+\d.]+)\s*$", re.M)
# Variables that would point the clone's demo at this checkout's environment instead of its own.
ENV_DROP = ("VIRTUAL_ENV", "DCLS_VENV", "DCLS_ROOT", "PYTHONPATH", "PYTHONHOME", "DEMO_RETRAIN", "CONDA_PREFIX")


def parse_demo_result(output: str) -> dict[str, float]:
    """The PSNR-Y of model and bicubic from demo.sh's output (its last DEMO RESULT line); ValueError without one."""
    matches = list(RESULT_LINE.finditer(output))
    if not matches:
        raise ValueError("demo.sh printed no 'DEMO RESULT: PSNR-Y model=<x> bicubic=<y>' line")
    last = matches[-1]
    return {"model": float(last["model"]), "bicubic": float(last["bicubic"])}


def disk_mib(path: Path) -> float:
    """Disk use of a folder as ``du`` counts it (allocated blocks, each hard-linked file once), in MiB."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += getattr(st, "st_blocks", 0) * 512 or st.st_size
    return round(total / 2**20, 1)


def clean_env() -> dict[str, str]:
    """This process's environment without the active virtual environment, so the clone builds its own."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_DROP}
    venv = os.environ.get("VIRTUAL_ENV")
    if venv:
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                      if Path(p).resolve() != (Path(venv) / "bin").resolve())
    return env


def run_demo(clone: Path, log: Path) -> tuple[int, float, str]:
    """Run demo.sh in ``clone``, echoing and logging its output; (exit status, wall seconds, output)."""
    start = time.monotonic()
    with log.open("w", encoding="utf-8") as sink:
        proc = subprocess.Popen(["bash", "demo.sh"], cwd=clone, env=clean_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            sys.stdout.write(line)
            sink.write(line)
            lines.append(line)
        status = proc.wait()
    return status, time.monotonic() - start, "".join(lines)


def venv_facts(clone: Path) -> dict[str, Any]:
    """torch and Python versions and torch's thread count, as the clone's own environment reports them."""
    python = clone / ".venv" / "bin" / "python"
    code = ("import json, platform, torch; print(json.dumps({'torch': torch.__version__, "
            "'python': platform.python_version(), 'torch_threads': torch.get_num_threads()}))")
    out = subprocess.run([str(python), "-c", code], cwd=clone, env=clean_env(), check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Clone, run the demo, measure, write the results file; 1 if the demo fails or prints no result."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "results" / "setup_demo.json",
                        help="results file (default: docs/results/setup_demo.json)")
    parser.add_argument("--repo", type=Path, default=ROOT, help="repository to clone (default: this one)")
    parser.add_argument("--keep", action="store_true", help="keep the clone (its path is printed)")
    args = parser.parse_args(argv)

    commit = subprocess.run(["git", "-C", str(args.repo), "rev-parse", "HEAD"], check=True, capture_output=True,
                            text=True).stdout.strip()
    workdir = Path(tempfile.mkdtemp(prefix="dcls-setup-"))
    clone = workdir / "dcls"
    try:
        subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(args.repo), str(clone)], check=True)
        subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", "--detach", commit], check=True)
        print(f"[measure_setup] {COMMAND} in a fresh clone of {commit[:12]}: {clone}", flush=True)
        status, seconds, output = run_demo(clone, workdir / "demo.log")
        if status != 0:
            print(f"[measure_setup] demo.sh exited with {status}; nothing written (log: {workdir / 'demo.log'})",
                  file=sys.stderr)
            args.keep = True
            return 1
        try:
            psnr = parse_demo_result(output)
        except ValueError as e:
            print(f"[measure_setup] {e}; nothing written", file=sys.stderr)
            args.keep = True
            return 1
        facts = venv_facts(clone)
        results = {
            "generated_by": "python scripts/measure_setup.py",
            "command": COMMAND,
            "commit": commit,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "torch": facts["torch"],
            "python": facts["python"],
            "cpu": cpu_model(),
            "cpu_threads": os.cpu_count(),
            "torch_threads": facts["torch_threads"],
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "1 (demo.sh's default on a CPU)"),
            "platform": platform.platform(),
            "demo_seconds": round(seconds, 1),
            "venv_mib": disk_mib(clone / ".venv"),
            "demo_data_mib": disk_mib(clone / "demo_data"),
            "demo_psnr_y": psnr,
        }
        write_results(args.output, results)
        print(f"[measure_setup] wrote {args.output}: {seconds:.0f} s, PSNR-Y {psnr}")
        return 0
    finally:
        if args.keep:
            print(f"[measure_setup] clone kept in {clone}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
