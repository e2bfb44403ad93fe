"""Resuming: a run killed at any point and resumed ends with bit-identical weights, with or without loader workers."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dcls.engine import data_stream
from dcls.engine.checkpoint import find_resume_state
from dcls.engine.cli import train_main

KILL_NITER = 40


def _run(argv: list[str], workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        m.chdir(workdir)
        assert train_main(argv) == 0


def _log(experiment: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(experiment.glob("train_*.log")))


@pytest.mark.slow
@pytest.mark.parametrize("degradation", ["gaussian", "realistic"])
def test_killed_run_resumed_with_auto_resume_is_bit_identical(degradation, engine_data, eng, tmp_path,
                                                              monkeypatch) -> None:
    """Reference: 40 iterations in one go (no loader workers). Then the same run with 2 workers as a subprocess,
    SIGKILLed once a checkpoint exists, and resumed with --auto_resume: the final weights must be identical, with
    the paper's degradation and with the realistic one (noise and JPEG drawn from the keyed generator too)."""
    opt = eng.train_options(engine_data, name="killed", train={"niter": KILL_NITER, "val_freq": 20})
    if degradation == "realistic":
        opt["degradation"] = {"type": "realistic", "ksize": 21, "noise": {"probability": 1.0},
                              "jpeg": {"probability": 1.0}}
    reference = tmp_path / "reference"
    reference.mkdir()
    _run(["-opt", str(eng.write_yaml(reference / "o.yml", opt))], reference, monkeypatch)
    want = eng.load_weights(reference / "experiments" / "killed" / "models" / f"{KILL_NITER}_G.pth")

    opt["datasets"]["train"]["n_workers"] = 2
    work = tmp_path / "killed"
    work.mkdir()
    options = eng.write_yaml(work / "o.yml", opt)
    states = work / "experiments" / "killed" / "training_state"
    err = open(tmp_path / "killed_stderr.txt", "w+")  # noqa: SIM115 (closed in finally)
    proc = subprocess.Popen([sys.executable, str(eng.TRAIN_PY), "-opt", str(options)], cwd=work,
                            env=eng.subprocess_env(), stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not any(states.glob("*.state")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert proc.poll() is None, f"the run ended before it could be killed: {err.seek(0) or err.read()[-2000:]}"
        os.killpg(proc.pid, signal.SIGKILL)  # the trainer and its loader workers
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        err.close()
    assert proc.returncode == -signal.SIGKILL
    models = work / "experiments" / "killed" / "models"
    assert not (models / f"{KILL_NITER}_G.pth").exists() and not (models / "latest_G.pth").exists()
    killed_at = max(int(p.stem) for p in states.glob("*.state"))
    assert killed_at < KILL_NITER

    _run(["-opt", str(options), "--auto_resume"], work, monkeypatch)
    assert f"resuming from epoch 0, iter {killed_at}" in _log(work / "experiments" / "killed")
    eng.assert_same_weights(eng.load_weights(models / f"{KILL_NITER}_G.pth"), want)


@pytest.mark.parametrize("workers", [0, 1])
def test_explicit_resume_state_across_epochs_is_bit_identical(workers, engine_data, eng, tmp_path,
                                                              monkeypatch) -> None:
    """Short epochs (4 batches): resume from iteration 6 (epoch 1, batch 2) via path.resume_state."""
    monkeypatch.setattr(data_stream, "MIN_BATCHES_PER_EPOCH", 3)
    opt = eng.train_options(engine_data, logger={"print_freq": 2, "save_checkpoint_freq": 3})
    opt["datasets"]["train"]["n_workers"] = workers
    full = tmp_path / "full"
    full.mkdir()
    options = eng.write_yaml(full / "o.yml", opt)
    _run(["-opt", str(options)], full, monkeypatch)
    experiment = full / "experiments" / "tiny"
    want = {i: eng.load_weights(experiment / "models" / f"{i}_G.pth") for i in (9, 12)}
    state6 = torch.load(experiment / "training_state" / "6.state", weights_only=True)
    assert (state6["epoch"], state6["batch_in_epoch"]) == (1, 2)
    assert torch.load(experiment / "training_state" / "12.state", weights_only=True)["epoch"] == 2

    for i in (9, 12):
        (experiment / "models" / f"{i}_G.pth").unlink()
        (experiment / "training_state" / f"{i}.state").unlink()
    resume = experiment / "training_state" / "6.state"
    _run(["-opt", str(options), "--set", f"path.resume_state={resume}"], full, monkeypatch)
    assert "resuming from epoch 1, iter 6" in _log(experiment)
    for i in (9, 12):
        eng.assert_same_weights(eng.load_weights(experiment / "models" / f"{i}_G.pth"), want[i])
    assert len(list(experiment.glob("options_resume_*.yml"))) == 1


def test_auto_resume_skips_a_truncated_newest_state(finished_run, eng, tmp_path, monkeypatch) -> None:
    want = eng.load_weights(finished_run.experiment / "models" / "12_G.pth")
    work = eng.copy_experiment(finished_run, tmp_path / "run")
    experiment = work / "experiments" / "tiny"
    newest = experiment / "training_state" / "12.state"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    (experiment / "models" / "latest_G.pth").unlink()
    _run(["-opt", str(work / "train_tiny.yml"), "--auto_resume"], work, monkeypatch)
    log = _log(experiment)
    assert "skipping unusable checkpoint" in log and "12.state" in log
    assert "resuming from epoch 0, iter 8" in log
    eng.assert_same_weights(eng.load_weights(experiment / "models" / "12_G.pth"), want)
    assert not list(work.glob("experiments/tiny_archived_*")), "a resumed run must not archive its folder"


def test_find_resume_state_needs_a_loadable_state_and_its_weights(finished_run, tmp_path) -> None:
    experiment = shutil.copytree(finished_run.experiment, tmp_path / "exp")
    states, models = experiment / "training_state", experiment / "models"
    assert find_resume_state(states, models) == (states / "12.state", [])
    (models / "12_G.pth").unlink()  # state without weights
    found, skipped = find_resume_state(states, models)
    assert found == states / "8.state" and len(skipped) == 1 and "12_G.pth" in skipped[0]
    (models / "8_G.pth").write_bytes(b"not a checkpoint")
    found, skipped = find_resume_state(states, models)
    assert found == states / "4.state" and len(skipped) == 2 and "8_G.pth" in skipped[1]
    shutil.copy(states / "4.state", states / "5.state")  # a state whose name and content disagree
    found, skipped = find_resume_state(states, models)
    assert found == states / "4.state" and "holds iteration 4" in skipped[2]
    (states / "4.state").write_bytes(b"")
    assert find_resume_state(states, models)[0] is None
    assert find_resume_state(tmp_path / "absent", models) == (None, [])


def test_auto_resume_without_any_state_starts_afresh(engine_data, eng, tmp_path, monkeypatch) -> None:
    opt = eng.train_options(engine_data, name="fresh", train={"niter": 2, "val_freq": 100},
                            logger={"print_freq": 1, "save_checkpoint_freq": 100})
    _run(["-opt", str(eng.write_yaml(tmp_path / "o.yml", opt)), "--auto_resume"], tmp_path, monkeypatch)
    experiment = tmp_path / "experiments" / "fresh"
    assert "resuming" not in _log(experiment)
    assert (experiment / "models" / "2_G.pth").is_file() and (experiment / "training_state" / "2.state").is_file()
