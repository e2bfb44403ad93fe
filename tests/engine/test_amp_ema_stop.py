"""Mixed precision, EMA weights and stop signals through train.py/test.py on the CPU (tiny data).

- ``train.amp: bf16`` with ``train.ema_decay: 0.999`` trains and writes finite EMA weights that test.py loads;
- a bf16 run lands within 0.2 dB PSNR-Y of the float32 run on the tiny validation set after 24 iterations;
- SIGKILL plus ``--auto_resume`` ends bit-identical, EMA weights included;
- SIGTERM at iteration >= 10 (checkpoints every 1000) stops within 90 s with a training state of that
  iteration and exit status 75, and the resumed run ends bit-identical to an uninterrupted one;
- a checkpoint write that fails (full disk) leaves the previous checkpoint intact and stops with one line.
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dcls import weights as weights_module
from dcls.engine import cli
from dcls.engine.cli import train_main
from dcls.engine.preemption import EXIT_PREEMPTED

AMP_EMA = {"amp": "bf16", "ema_decay": 0.999}
NUMERICS_NITER = 24  # the fixed number of iterations of the bf16-vs-float32 comparison
STOP_NITER = 40


def _train(eng, tmp_path: Path, opt: dict, monkeypatch: pytest.MonkeyPatch, *extra: str) -> int:
    with monkeypatch.context() as m:
        m.chdir(tmp_path)
        return train_main(["-opt", str(eng.write_yaml(tmp_path / f"{opt['name']}.yml", opt)), *extra])


def _uninterrupted_models(eng, tmp_path: Path, opt: dict, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The models folder of the same run trained without interruption (in ``tmp_path/reference``)."""
    reference = tmp_path / "reference"
    reference.mkdir()
    assert _train(eng, reference, opt, monkeypatch) == 0
    return reference / "experiments" / opt["name"] / "models"


def _log(experiment: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(experiment.glob("train_*.log")))


def _val_psnr(experiment: Path) -> list[float]:
    return [float(v) for v in re.findall(r"# Validation # PSNR: ([-\d.]+)", _log(experiment))]


def test_bf16_with_ema_trains_writes_ema_weights_that_test_py_loads(engine_data, eng, tmp_path, monkeypatch) -> None:
    opt = eng.train_options(engine_data, name="amp_ema", train={"niter": 8, "manual_seed": 0, "val_freq": 4,
                                                                **AMP_EMA})
    assert _train(eng, tmp_path, opt, monkeypatch) == 0
    experiment = tmp_path / "experiments" / "amp_ema"
    log = _log(experiment)
    assert "mixed precision bf16; EMA decay 0.999" in log and "validation on the EMA weights" in log
    models = experiment / "models"
    trained, ema = eng.load_weights(models / "8_G.pth"), eng.load_weights(models / "8_G_ema.pth")
    assert trained.keys() == ema.keys()
    assert all(v.dtype != torch.bfloat16 and torch.isfinite(v).all() for v in [*trained.values(), *ema.values()])
    assert all(ema[k].dtype == torch.float32 for k in ema if ema[k].is_floating_point())
    assert any(not torch.equal(trained[k], ema[k]) for k in trained), "EMA weights must differ from the trained ones"
    assert (models / "latest_G_ema.pth").is_file() and (models / "4_G_ema.pth").is_file()
    assert torch.load(experiment / "training_state" / "8.state", weights_only=True)["ema_decay"] == 0.999

    test_opt = eng.eval_options(engine_data, models / "8_G_ema.pth", name="ema_test")
    monkeypatch.chdir(tmp_path)
    assert cli.test_main(["-opt", str(eng.write_yaml(tmp_path / "t.yml", test_opt))]) == 0
    average = json.loads((tmp_path / "results" / "ema_test" / "metrics.json").read_text())["sets"]["g8"]["average"]
    assert 0 < average["psnr_y"] < 100  # EMA at decay 0.999 after 8 steps: still near the initial weights


def test_bf16_lands_within_0p2_db_of_float32(engine_data, eng, tmp_path, monkeypatch) -> None:
    """Same seed and data: after NUMERICS_NITER iterations the bf16-autocast run's validation PSNR-Y is within
    0.2 dB of the float32 run's, and every logged loss is finite."""
    psnr = {}
    for amp in ("off", "bf16"):
        opt = eng.train_options(engine_data, name=f"numerics_{amp}", train={
            "niter": NUMERICS_NITER, "manual_seed": 3, "val_freq": NUMERICS_NITER, "amp": amp},
            logger={"print_freq": 1, "save_checkpoint_freq": NUMERICS_NITER})
        assert _train(eng, tmp_path, opt, monkeypatch) == 0
        experiment = tmp_path / "experiments" / f"numerics_{amp}"
        losses = [float(v) for v in re.findall(r"l_(?:pix|ker): ([-+\deE.naif]+)", _log(experiment))]
        assert len(losses) == 2 * NUMERICS_NITER and all(map(torch.isfinite, torch.tensor(losses)))
        assert "collapse guard" not in _log(experiment)
        psnr[amp] = _val_psnr(experiment)[-1]
    assert abs(psnr["bf16"] - psnr["off"]) <= 0.2, psnr


def _popen_train(eng, options: Path, cwd: Path, stderr: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(eng.TRAIN_PY), "-opt", str(options), *extra], cwd=cwd,
                            env=eng.subprocess_env(), stdout=subprocess.DEVNULL, stderr=open(stderr, "w"),  # noqa: SIM115
                            start_new_session=True)


def _wait_for(condition, proc: subprocess.Popen, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, f"the run ended before {what}"
    assert condition(), f"timed out waiting for {what}"


@pytest.mark.slow
def test_sigkilled_bf16_ema_run_resumes_bit_identical_with_ema(engine_data, eng, tmp_path, monkeypatch) -> None:
    niter = 16
    opt = eng.train_options(engine_data, name="killed_ema", train={"niter": niter, "val_freq": 8, **AMP_EMA})
    ref_models = _uninterrupted_models(eng, tmp_path, opt, monkeypatch)

    work = tmp_path / "killed"
    work.mkdir()
    options = eng.write_yaml(work / "o.yml", opt)
    states = work / "experiments" / "killed_ema" / "training_state"
    proc = _popen_train(eng, options, work, tmp_path / "stderr.txt")
    try:
        _wait_for(lambda: any(states.glob("*.state")), proc, 120, "a checkpoint was written")
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed_at = max(int(p.stem) for p in states.glob("*.state"))
    assert killed_at < niter
    assert _train(eng, work, opt, monkeypatch, "--auto_resume") == 0
    models = work / "experiments" / "killed_ema" / "models"
    assert f"resuming from epoch 0, iter {killed_at}" in _log(work / "experiments" / "killed_ema")
    for name in (f"{niter}_G.pth", f"{niter}_G_ema.pth"):
        eng.assert_same_weights(eng.load_weights(models / name), eng.load_weights(ref_models / name))


@pytest.mark.slow
def test_sigterm_saves_the_current_iteration_and_resumes_bit_identical(engine_data, eng, tmp_path,
                                                                      monkeypatch) -> None:
    opt = eng.train_options(engine_data, name="term", train={"niter": STOP_NITER, "val_freq": 1000, **AMP_EMA},
                            logger={"print_freq": 1, "save_checkpoint_freq": 1000})
    ref_models = _uninterrupted_models(eng, tmp_path, opt, monkeypatch)

    work = tmp_path / "stopped"
    work.mkdir()
    options = eng.write_yaml(work / "o.yml", opt)
    experiment = work / "experiments" / "term"
    proc = _popen_train(eng, options, work, tmp_path / "stderr.txt")
    try:
        _wait_for(lambda: "iter:      10," in _log(experiment), proc, 120, "iteration 10")
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)  # the trainer only: its loader workers are its own business
        proc.wait(timeout=90)
        assert time.monotonic() - sent < 90
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert proc.returncode == EXIT_PREEMPTED, (tmp_path / "stderr.txt").read_text()[-3000:]
    stopped_at = int(re.search(r"stopped by SIGTERM at iter (\d+)", _log(experiment)).group(1))
    assert 10 <= stopped_at < STOP_NITER
    assert sorted(p.name for p in (experiment / "training_state").iterdir()) == [f"{stopped_at}.state"]
    assert (experiment / "models" / f"{stopped_at}_G_ema.pth").is_file()

    assert _train(eng, work, opt, monkeypatch, "--auto_resume") == 0
    assert f"resuming from epoch 0, iter {stopped_at}" in _log(experiment)
    for name in (f"{STOP_NITER}_G.pth", f"{STOP_NITER}_G_ema.pth"):
        eng.assert_same_weights(eng.load_weights(experiment / "models" / name), eng.load_weights(ref_models / name))


def test_stop_signal_in_process_returns_75_after_saving(engine_data, eng, tmp_path, monkeypatch) -> None:
    """SIGUSR1 raised at iteration 3 (from inside the step): the run saves iteration 3 and returns 75."""
    from dcls.engine.trainer import Trainer

    synthesize = Trainer.synthesize

    def signalling(self: Trainer, hr: torch.Tensor):
        if self.iteration == 3:
            signal.raise_signal(signal.SIGUSR1)
        return synthesize(self, hr)

    monkeypatch.setattr(Trainer, "synthesize", signalling)
    opt = eng.train_options(engine_data, name="usr1", logger={"print_freq": 1, "save_checkpoint_freq": 1000})
    before = signal.getsignal(signal.SIGUSR1)
    assert _train(eng, tmp_path, opt, monkeypatch) == EXIT_PREEMPTED
    assert signal.getsignal(signal.SIGUSR1) is before, "the previous handler must be restored"
    experiment = tmp_path / "experiments" / "usr1"
    assert "stopped by SIGUSR1 at iter 3" in _log(experiment)
    assert [p.name for p in (experiment / "training_state").iterdir()] == ["3.state"]
    assert not (experiment / "models" / "latest_G.pth").exists()


def test_full_disk_during_a_save_keeps_the_previous_checkpoint(engine_data, eng, tmp_path, monkeypatch,
                                                             capsys) -> None:
    writes = []
    real_write = weights_module.atomic_write_bytes

    def filling(path, data):
        writes.append(Path(path).name)
        if Path(path).name == "8_G.pth":
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(weights_module, "atomic_write_bytes", filling)
    opt = eng.train_options(engine_data, name="full")
    assert _train(eng, tmp_path, opt, monkeypatch) == 2
    stderr = capsys.readouterr().err
    errors = re.findall(r"error: .*", stderr)
    assert len(errors) == 1, stderr[-2000:]
    err = errors[0]
    assert err.startswith("error: cannot write the checkpoint of iter 8") and "no space left on device" in err
    assert "previous checkpoint is intact (iter 4)" in err
    experiment = tmp_path / "experiments" / "full"
    assert sorted(p.name for p in (experiment / "models").iterdir()) == ["4_G.pth"]
    assert sorted(p.name for p in (experiment / "training_state").iterdir()) == ["4.state"]
    eng.load_weights(experiment / "models" / "4_G.pth")
    torch.load(experiment / "training_state" / "4.state", weights_only=True)


def test_test_py_and_inference_with_amp_report_the_difference_to_float32(finished_run, engine_data, eng, tmp_path,
                                                                         monkeypatch, capsys) -> None:
    from dcls.inference.cli import main as inference_main

    checkpoint = finished_run.experiment / "models" / "12_G.pth"
    monkeypatch.chdir(tmp_path)
    options = eng.write_yaml(tmp_path / "t.yml", eng.eval_options(engine_data, checkpoint, name="amp_test"))
    assert cli.test_main(["-opt", str(options), "--amp", "bf16"]) == 0
    metrics = json.loads((tmp_path / "results" / "amp_test" / "metrics.json").read_text())
    g8 = metrics["sets"]["g8"]
    assert metrics["amp"] == "bf16"
    assert g8["amp_psnr_y_difference"] == pytest.approx(g8["average"]["psnr_y"] - g8["float32_psnr_y"])
    assert abs(g8["amp_psnr_y_difference"]) < 0.5
    log = next((tmp_path / "results" / "amp_test").glob("test_*.log")).read_text()
    assert "bf16 on g8: PSNR-Y" in log and "difference" in log

    capsys.readouterr()
    assert inference_main(["-opt", str(options), "--checkpoint", str(checkpoint), "--input", str(engine_data.g8_lr),
                           "--output", str(tmp_path / "sr"), "--amp", "bf16", "--device", "cpu"]) == 0
    found = re.search(r"bf16 output of (\S+) against float32: PSNR ([\d.]+) dB", capsys.readouterr().out)
    assert found and float(found.group(2)) > 30
    assert len(list((tmp_path / "sr").glob("*_x4.png"))) == 16


def test_a_stopped_command_line_run_ignores_later_stop_signals_until_it_exits() -> None:
    """train.py (``process_ends``): once the run stopped, on this rank's signal or another rank's, the launcher's
    closing SIGTERM must not kill the process on its way out with status 75; a run that did not stop restores."""
    from dcls.engine.preemption import STOP_SIGNALS, stop_on_signals

    before = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    try:
        with stop_on_signals(ignore_after_stop=True):
            pass
        assert {sig: signal.getsignal(sig) for sig in STOP_SIGNALS} == before
        with stop_on_signals(ignore_after_stop=True) as request:
            request.stopped = True  # what Trainer.stop records, also on a rank that received no signal
        assert all(signal.getsignal(sig) == signal.SIG_IGN for sig in STOP_SIGNALS)
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
