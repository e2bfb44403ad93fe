"""The demo summary: bicubic baseline on the same LR images, table, DEMO RESULT line and exit code."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from dcls.ops.imresize import imresize
from dcls.reports.demo_summary import bicubic_rows, bicubic_upscale, main


@pytest.fixture
def lr_hr(tmp_path: Path, make_photo) -> tuple[Path, Path]:
    lr_dir, hr_dir = tmp_path / "LR", tmp_path / "HR"
    lr_dir.mkdir()
    hr_dir.mkdir()
    for i, name in enumerate(("sig1.8_a", "sig2.6_a")):
        hr = make_photo(48, 64, seed=i)
        cv2.imwrite(str(hr_dir / f"{name}.png"), hr)
        cv2.imwrite(str(lr_dir / f"{name}.png"), np.clip(np.rint(imresize(hr, 1 / 4)), 0, 255).astype(np.uint8))
    cv2.imwrite(str(lr_dir / "unpaired.png"), make_photo(12, 16))
    return lr_dir, hr_dir


def test_bicubic_upscale_size_and_constant_image():
    flat = np.full((5, 7, 3), 77, np.uint8)
    up = bicubic_upscale(flat, 3)
    assert up.shape == (15, 21, 3) and up.dtype == np.uint8 and np.all(up == 77)


def test_bicubic_rows_pair_by_name(lr_hr):
    rows = bicubic_rows(*lr_hr, scale=4, crop_border=4)
    assert [r["name"] for r in rows] == ["sig1.8_a", "sig2.6_a"]
    assert all(20 < r["psnr_y"] < 60 and 0 < r["ssim_y"] <= 1 for r in rows)


@pytest.mark.parametrize(("gain", "code"), [(1.5, 0), (-0.5, 1)])
def test_summary_ends_with_the_result_line(capsys, tmp_path, lr_hr, gain, code):
    base = {r["name"]: r for r in bicubic_rows(*lr_hr, scale=4, crop_border=4)}
    images = [{"name": n, "psnr_y": r["psnr_y"] + gain, "ssim_y": r["ssim_y"]} for n, r in base.items()]
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"scale": 4, "crop_border": 4, "sets": {"demo": {"images": images}}}))
    argv = ["--metrics", str(metrics), "--set", "demo", "--lr_dir", str(lr_hr[0]), "--hr_dir", str(lr_hr[1])]
    assert main(argv) == code
    out = capsys.readouterr().out.strip().splitlines()
    bicubic = np.mean([r["psnr_y"] for r in base.values()])
    assert out[-1] == f"DEMO RESULT: PSNR-Y model={bicubic + gain:.2f} bicubic={bicubic:.2f}"
    assert any(line.startswith("average (2 images)") and f"{gain:+.2f}" in line for line in out)


def test_summary_of_a_missing_set_is_a_one_line_error(capsys, tmp_path, lr_hr):
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"scale": 4, "crop_border": 4, "sets": {}}))
    assert main(["--metrics", str(metrics), "--set", "demo", "--lr_dir", str(lr_hr[0]),
                 "--hr_dir", str(lr_hr[1])]) == 2
    assert capsys.readouterr().err.count("\n") == 1
