"""test.py on a Gaussian8 x4 set made from photographs, with a checkpoint the trainer saved."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dcls.archs import DCLS
from dcls.engine import cli
from dcls.metrics import calculate_psnr, calculate_ssim
from dcls.utils.image_io import read_image

N_IMAGES = 16  # 2 photographs x 8 kernels


def _run_test(eng, engine_data, workdir: Path, checkpoint: Path, *extra: str, name: str = "tiny_test",
              monkeypatch: pytest.MonkeyPatch) -> Path:
    workdir.mkdir(exist_ok=True)
    options = eng.write_yaml(workdir / f"{name}.yml", eng.eval_options(engine_data, checkpoint, name=name))
    with monkeypatch.context() as m:
        m.chdir(workdir)
        assert cli.test_main(["-opt", str(options), *extra]) == 0
    return workdir / "results" / name


@pytest.fixture(scope="module")
def tested(finished_run, engine_data, eng, tmp_path_factory) -> Path:
    """results/ of test.py on the finished run's 12_G.pth."""
    mp = pytest.MonkeyPatch()
    try:
        with eng.one_thread():
            return _run_test(eng, engine_data, tmp_path_factory.mktemp("tested"),
                             finished_run.experiment / "models" / "12_G.pth", monkeypatch=mp)
    finally:
        mp.undo()


def test_writes_sr_images_kernel_pictures_csv_and_metrics(tested: Path) -> None:
    images = sorted((tested / "g8").glob("*.png"))
    kernels = [p for p in images if p.name.endswith("_kernel.png")]
    srs = [p for p in images if not p.name.endswith("_kernel.png")]
    assert len(srs) == len(kernels) == N_IMAGES
    for sr in srs:
        assert read_image(sr).shape == (64, 64, 3)
        assert read_image(sr.with_name(f"{sr.stem}_kernel.png")).ndim >= 2
    assert (tested / "g8.csv").is_file() and (tested / "metrics.json").is_file()
    assert len(list(tested.glob("test_tiny_test_*.log"))) == 1


def test_metrics_are_the_golden_definitions_on_the_saved_png_and_gt(tested: Path, engine_data) -> None:
    summary = json.loads((tested / "metrics.json").read_text())
    assert summary["scale"] == 4 and summary["crop_border"] == 4 and summary["ensemble"] is False
    rows = summary["sets"]["g8"]["images"]
    assert len(rows) == N_IMAGES
    for row in rows:
        sr = read_image(tested / "g8" / f"{row['name']}.png", color=True)
        gt = read_image(engine_data.g8_hr / f"{row['name']}.png", color=True)
        assert row["psnr"] == calculate_psnr(sr, gt, 4)
        assert row["ssim"] == calculate_ssim(sr, gt, 4)
        assert row["psnr_y"] == calculate_psnr(sr, gt, 4, test_y_channel=True)
        assert row["ssim_y"] == calculate_ssim(sr, gt, 4, test_y_channel=True)
    average = summary["sets"]["g8"]["average"]
    for key in ("psnr", "ssim", "psnr_y", "ssim_y"):
        assert average[key] == pytest.approx(np.mean([r[key] for r in rows]), rel=1e-12)


def test_csv_lists_every_image_and_the_average(tested: Path) -> None:
    with open(tested / "g8.csv", newline="") as f:
        table = list(csv.DictReader(f))
    summary = json.loads((tested / "metrics.json").read_text())["sets"]["g8"]
    assert [r["image"] for r in table] == [r["name"] for r in summary["images"]] + ["average"]
    assert float(table[-1]["psnr_y"]) == pytest.approx(summary["average"]["psnr_y"], abs=1e-6)


def test_ensemble_runs_and_is_recorded(finished_run, engine_data, eng, tmp_path, monkeypatch, tested) -> None:
    results = _run_test(eng, engine_data, tmp_path, finished_run.experiment / "models" / "12_G.pth", "--ensemble",
                        monkeypatch=monkeypatch)
    summary = json.loads((results / "metrics.json").read_text())
    assert summary["ensemble"] is True
    plain = json.loads((tested / "metrics.json").read_text())["sets"]["g8"]["images"]
    assert [r["psnr"] for r in summary["sets"]["g8"]["images"]] != [r["psnr"] for r in plain]


def test_a_module_prefixed_checkpoint_gives_the_same_results(finished_run, engine_data, eng, tmp_path, monkeypatch,
                                                             tested) -> None:
    state = eng.load_weights(finished_run.experiment / "models" / "12_G.pth")
    prefixed = tmp_path / "ddp.pth"
    torch.save({f"module.{k}": v for k, v in state.items()}, prefixed)
    results = _run_test(eng, engine_data, tmp_path / "run", prefixed, monkeypatch=monkeypatch)
    got = json.loads((results / "metrics.json").read_text())["sets"]
    assert got == json.loads((tested / "metrics.json").read_text())["sets"]


@pytest.mark.parametrize("built,mismatch", [({"upscale": 2, "kernel_size": 21}, "scale"),
                                            ({"upscale": 4, "kernel_size": 11}, "kernel size")])
def test_a_checkpoint_for_another_scale_or_kernel_is_a_one_line_error(built, mismatch, engine_data, eng, tmp_path,
                                                                      monkeypatch, capsys) -> None:
    setting = {k: v for k, v in eng.TINY_NET.items() if k != "kernel_size"}
    path = tmp_path / "other.pth"
    torch.save(DCLS(**setting, **built).state_dict(), path)
    options = eng.write_yaml(tmp_path / "t.yml", eng.eval_options(engine_data, path))
    monkeypatch.chdir(tmp_path)
    rc = cli.test_main(["-opt", str(options)])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err
    assert f"{mismatch} differ" in lines[0] and str(path) in lines[0]
    wanted = {"scale": "checkpoint is for x2", "kernel size": "(kernel 11)"}[mismatch]
    assert wanted in lines[0]
