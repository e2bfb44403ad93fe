"""train.py and test.py on CUDA: a single-device run, a one-process NCCL run under torchrun, and testing.

Skipped without CUDA (marker ``gpu``); the CPU runs of the same code are in the other modules.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch

from dcls.engine import cli

pytestmark = pytest.mark.gpu

NITER = 8


def _cuda_options(eng, engine_data, name: str) -> dict:
    opt = eng.train_options(engine_data, name=name, train={"niter": NITER, "val_freq": 4},
                            logger={"print_freq": 2, "save_checkpoint_freq": 4})
    opt["device"] = "cuda"
    return opt


def _check_experiment(experiment: Path, eng, processes: int) -> None:
    log = next(experiment.glob("train_*.log")).read_text()
    assert f"device cuda:0, {processes} process(es)" in log
    assert log.count("# Validation # PSNR:") == 2 and f"finished at iter {NITER}" in log
    weights = eng.load_weights(experiment / "models" / f"{NITER}_G.pth")
    assert all(v.device.type == "cpu" and torch.isfinite(v).all() for v in weights.values())
    assert not any(k.startswith("module.") for k in weights)


def test_train_and_test_on_cuda(engine_data, eng, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    options = eng.write_yaml(tmp_path / "o.yml", _cuda_options(eng, engine_data, "cuda_run"))
    assert cli.train_main(["-opt", str(options)]) == 0
    experiment = tmp_path / "experiments" / "cuda_run"
    _check_experiment(experiment, eng, processes=1)

    test_opt = eng.eval_options(engine_data, experiment / "models" / f"{NITER}_G.pth", name="cuda_test")
    test_opt["device"] = "cuda"
    assert cli.test_main(["-opt", str(eng.write_yaml(tmp_path / "t.yml", test_opt))]) == 0
    metrics = json.loads((tmp_path / "results" / "cuda_test" / "metrics.json").read_text())
    average = metrics["sets"]["g8"]["average"]
    assert set(average) == {"psnr", "ssim", "psnr_y", "ssim_y"} and average["psnr_y"] > 0


def test_torchrun_nccl_on_one_gpu(engine_data, eng, tmp_path) -> None:
    options = eng.write_yaml(tmp_path / "o.yml", _cuda_options(eng, engine_data, "nccl_run"))
    cmd = eng.torchrun("--nproc_per_node=1", eng.TRAIN_PY, "-opt", options, "--launcher", "pytorch")
    proc = subprocess.run(cmd, cwd=tmp_path, env=eng.subprocess_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    _check_experiment(tmp_path / "experiments" / "nccl_run", eng, processes=1)


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision_with_ema_on_cuda(amp, engine_data, eng, tmp_path, monkeypatch) -> None:
    """bf16/fp16 autocast (fp16 with its gradient scaler), EMA weights, channels-last: finite float32 checkpoints."""
    monkeypatch.chdir(tmp_path)
    opt = _cuda_options(eng, engine_data, f"cuda_{amp}")
    opt["train"].update(amp=amp, ema_decay=0.999, channels_last=True)
    assert cli.train_main(["-opt", str(eng.write_yaml(tmp_path / "o.yml", opt))]) == 0
    experiment = tmp_path / "experiments" / f"cuda_{amp}"
    _check_experiment(experiment, eng, processes=1)
    ema = eng.load_weights(experiment / "models" / f"{NITER}_G_ema.pth")
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in ema.values() if v.is_floating_point())
    state = torch.load(experiment / "training_state" / f"{NITER}.state", weights_only=True)
    assert bool(state["scaler"]) == (amp == "fp16")
