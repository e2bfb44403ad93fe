"""Distributed runs on the CPU (2 ranks, gloo, under torchrun) that are stopped or lose a worker.

- a stop signal sent to ONE rank stops every rank after the same step, with one checkpoint of that iteration,
  and every rank exits with status 75; ``--auto_resume`` then continues to the end;
- under ``torchrun --max-restarts 1``, a worker killed with SIGKILL makes torchrun restart the job, which resumes
  by itself from the newest checkpoint and ends with the final weights, as an uninterrupted run does.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from dcls.engine.preemption import EXIT_PREEMPTED

pytestmark = pytest.mark.slow

STOP_NITER = 16
RESTART_NITER = 8


def _log(experiment: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(experiment.glob("train_*.log")))


def _logged_iterations(experiment: Path) -> int:
    return len(re.findall(r"iter:\s+\d+,", _log(experiment)))


def _worker_pids(agent: int) -> dict[int, int]:
    """{rank: pid} of torchrun's worker processes (its children whose environment names a RANK)."""
    workers = {}
    for task in Path(f"/proc/{agent}/task").iterdir():
        for pid in (task / "children").read_text().split():
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            ranks = [int(v.split(b"=", 1)[1]) for v in environ if v.startswith(b"RANK=")]
            if ranks:
                workers[ranks[0]] = int(pid)
    return workers


def _launch(eng, options: Path, cwd: Path, output: Path, *extra: str) -> subprocess.Popen:
    cmd = eng.torchrun("--nproc_per_node=2", *extra, eng.TRAIN_PY, "-opt", options, "--launcher", "pytorch")
    return subprocess.Popen(cmd, cwd=cwd, env=eng.subprocess_env(), stdout=open(output, "w"),  # noqa: SIM115
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _run_until(proc: subprocess.Popen, condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, f"the run ended before {what}"
    assert condition(), f"timed out waiting for {what}"


def _wait(proc: subprocess.Popen, timeout: float) -> int:
    try:
        return proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:  # torchrun's workers run in sessions of their own: end them first
            for pid in _worker_pids(proc.pid).values():
                os.kill(pid, signal.SIGKILL)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def _options(eng, engine_data, name: str, niter: int, save_freq: int) -> dict:
    return eng.train_options(engine_data, name=name, train={"niter": niter, "val_freq": 1000},
                             logger={"print_freq": 1, "save_checkpoint_freq": save_freq})


def test_a_signal_to_one_rank_stops_every_rank_after_the_same_step(engine_data, eng, tmp_path) -> None:
    options = eng.write_yaml(tmp_path / "o.yml", _options(eng, engine_data, "dist_stop", STOP_NITER, 1000))
    experiment = tmp_path / "experiments" / "dist_stop"
    output = tmp_path / "torchrun.txt"
    proc = _launch(eng, options, tmp_path, output)
    try:
        _run_until(proc, lambda: _logged_iterations(experiment) >= 3, 90, "iteration 3")
        os.kill(_worker_pids(proc.pid)[1], signal.SIGUSR1)
        _wait(proc, 60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    text = output.read_text()
    assert not re.search(r'File ".*/codes/', text), "no worker may end with a traceback"
    # rank 1 received the signal; rank 0 stopped because rank 1 had been asked, after the same iteration
    stopped = {int(r or 0): (name, int(it)) for r, name, it in
               re.findall(r"(?:\[rank (\d)\] )?\S+ \S+: stopped by (.+?) at iter (\d+)", text)}
    assert stopped.keys() == {0, 1}, text[-4000:]
    at = stopped[1][1]
    assert stopped == {0: ("another rank's signal", at), 1: ("SIGUSR1", at)}
    assert 3 <= at < STOP_NITER
    assert f"stopped by another rank's signal at iter {at}" in _log(experiment)
    # torchrun reports each worker's exit status: both the documented 75
    assert sorted(map(int, re.findall(r"exitcode\s*:\s*(-?\d+) \(pid", text))) == [EXIT_PREEMPTED] * 2, text[-4000:]
    assert [p.name for p in (experiment / "training_state").iterdir()] == [f"{at}.state"]
    assert sorted(p.name for p in (experiment / "models").iterdir()) == [f"{at}_G.pth"]
    assert torch.load(experiment / "training_state" / f"{at}.state", weights_only=True)["iter"] == at

    resumed = subprocess.run(
        eng.torchrun("--nproc_per_node=2", eng.TRAIN_PY, "-opt", options, "--launcher", "pytorch", "--auto_resume"),
        cwd=tmp_path, env=eng.subprocess_env(), capture_output=True, text=True, timeout=90)
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-4000:]
    log = _log(experiment)
    assert f"resuming from epoch 0, iter {at}" in log and f"finished at iter {STOP_NITER}" in log
    assert _logged_iterations(experiment) == STOP_NITER, "every iteration is trained exactly once"
    weights = eng.load_weights(experiment / "models" / f"{STOP_NITER}_G.pth")
    assert all(torch.isfinite(v).all() for v in weights.values())


def test_torchrun_restarts_a_killed_worker_and_the_job_resumes_by_itself(engine_data, eng, tmp_path) -> None:
    opt = _options(eng, engine_data, "dist_restart", RESTART_NITER, 2)
    reference = tmp_path / "reference"
    reference.mkdir()
    ref_options = eng.write_yaml(reference / "o.yml", opt)
    ref = subprocess.run(eng.torchrun("--nproc_per_node=2", eng.TRAIN_PY, "-opt", ref_options, "--launcher", "pytorch"),
                         cwd=reference, env=eng.subprocess_env(), capture_output=True, text=True, timeout=90)
    assert ref.returncode == 0, (ref.stdout + ref.stderr)[-4000:]

    work = tmp_path / "killed"
    work.mkdir()
    options = eng.write_yaml(work / "o.yml", opt)
    experiment = work / "experiments" / "dist_restart"
    output = tmp_path / "torchrun.txt"
    proc = _launch(eng, options, work, output, "--max-restarts=1", "--monitor-interval=0.05")
    try:
        _run_until(proc, lambda: (experiment / "training_state" / "2.state").is_file(), 90, "the checkpoint of iter 2")
        os.kill(_worker_pids(proc.pid)[1], signal.SIGKILL)
        assert _wait(proc, 60) == 0, output.read_text()[-4000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    log = _log(experiment)
    resumed_at = re.findall(r"resuming from epoch 0, iter (\d+)", log)
    assert len(resumed_at) == 1 and 2 <= int(resumed_at[0]) < RESTART_NITER, log[-3000:]
    assert f"finished at iter {RESTART_NITER}" in log
    models = experiment / "models"
    ref_models = reference / "experiments" / "dist_restart" / "models"
    for name in (f"{RESTART_NITER}_G.pth", "latest_G.pth"):
        eng.assert_same_weights(eng.load_weights(models / name), eng.load_weights(ref_models / name))
