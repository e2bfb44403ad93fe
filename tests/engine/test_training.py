"""What one CPU training run leaves behind: bare weights, training states, options, log, TensorBoard, validation."""

from __future__ import annotations

import math

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from dcls.archs import build_network
from dcls.config import load_options

ITERS = (4, 8, 12)


def test_weights_are_bare_state_dicts_that_load_strictly(finished_run) -> None:
    models = finished_run.experiment / "models"
    assert sorted(p.name for p in models.iterdir()) == sorted([f"{i}_G.pth" for i in ITERS] + ["latest_G.pth"])
    opt, _ = load_options(finished_run.experiment / "options.yml", is_train=True)
    previous = None
    for name in [f"{i}_G.pth" for i in ITERS]:
        state = torch.load(models / name, map_location="cpu", weights_only=True)
        assert all(isinstance(v, torch.Tensor) for v in state.values())
        assert not any(k.startswith("module.") for k in state)
        assert all(torch.isfinite(v).all() for v in state.values())
        build_network(**opt["network_G"]).load_state_dict(state, strict=True)
        if previous is not None:
            assert any(not torch.equal(previous[k], state[k]) for k in state), f"{name}: weights did not change"
        previous = state
    latest = torch.load(models / "latest_G.pth", weights_only=True)
    assert all(torch.equal(latest[k], previous[k]) for k in latest)


def test_a_training_state_every_save_checkpoint_freq(finished_run) -> None:
    states = finished_run.experiment / "training_state"
    assert sorted(p.name for p in states.iterdir()) == sorted(f"{i}.state" for i in ITERS)
    for i in ITERS:
        state = torch.load(states / f"{i}.state", map_location="cpu", weights_only=True)
        assert state["iter"] == i and state["seed"] == 0
        assert state["batch_in_epoch"] == i  # 100 batches per epoch: still the first one
        assert len(state["optimizers"]) == 1 and len(state["schedulers"]) == 1
        assert len(state["optimizers"][0]["param_groups"]) == 2  # Restorer, Estimator
        assert {"python", "numpy", "torch"} <= set(state["rng"])
        assert state["network"] == {"scale": 4, "kernel_size": 21, "nf": 8}
    assert torch.load(states / "12.state", weights_only=True)["best_iter"] in (6, 12)


def test_options_are_copied_into_the_experiment_and_rerun_as_they_are(finished_run, monkeypatch) -> None:
    copied = finished_run.experiment / "options.yml"
    assert "options of this run, from" in copied.read_text().splitlines()[0]
    monkeypatch.chdir(finished_run.workdir)  # the run's working folder: the default path.root
    original, _ = load_options(finished_run.options, is_train=True)
    again, ignored = load_options(copied, is_train=True)
    assert again == original and not ignored


def test_log_file_has_losses_validation_and_checkpoints(finished_run) -> None:
    logs = list(finished_run.experiment.glob("train_tiny_*.log"))
    assert len(logs) == 1
    text = logs[0].read_text()
    assert text.count("l_pix: ") == 6 and text.count("l_ker: ") == 6  # print_freq 2
    validations = [line for line in text.splitlines() if "# Validation # PSNR:" in line]
    assert len(validations) == 2 and all("Best PSNR:" in line for line in validations)
    assert validations[-1].rstrip().endswith(("Iter: 6", "Iter: 12"))
    for i in ITERS:
        assert f"saved checkpoint of iter {i}" in text
    assert "finished at iter 12" in text and "collapse-guard events: 0" in text
    assert "Traceback" not in finished_run.stderr


def test_tensorboard_events_hold_losses_learning_rates_and_psnr(finished_run) -> None:
    events = list((finished_run.experiment / "tb_logger").glob("events.out.tfevents.*"))
    assert len(events) == 1
    acc = EventAccumulator(str(events[0]))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train/l_pix", "train/l_ker", "train/lr_G", "train/lr_E", "val/psnr_y"} <= tags
    assert [e.step for e in acc.Scalars("train/l_pix")] == [2, 4, 6, 8, 10, 12]
    psnr = acc.Scalars("val/psnr_y")
    assert [e.step for e in psnr] == [6, 12] and all(math.isfinite(e.value) and e.value > 0 for e in psnr)
    assert acc.Scalars("train/lr_G")[0].value == pytest.approx(4e-4)
    assert {"val/LR", "val/SR", "val/GT", "train/kernels"} <= set(acc.Tags()["images"])


def test_validation_writes_sr_and_kernel_pictures_per_validation(finished_run) -> None:
    for i in (6, 12):
        folder = finished_run.experiment / "val_images" / str(i)
        kernels = sorted(folder.glob("*_kernel.png"))
        images = sorted(set(folder.glob("*.png")) - set(kernels))
        assert len(kernels) == len(images) == 16  # 2 photographs x 8 Gaussian8 kernels


def test_nothing_is_written_into_the_repository(finished_run, eng) -> None:
    assert finished_run.experiment.is_dir()
    assert not (eng.REPO / "experiments" / "tiny").exists()
