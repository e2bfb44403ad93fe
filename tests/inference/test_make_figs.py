"""scripts/make_figs.py: the comparison picture picks a detailed crop; both figures are written."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from dcls.data.gaussian8 import generate_gaussian8
from dcls.reports.figures import comparison_figure, detailed_window, main


def test_detailed_window_finds_the_textured_patch():
    hr = np.full((64, 80, 3), 128, np.uint8)
    hr[40:56, 20:36] = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    y, x = detailed_window(hr, 16, 4)
    assert (y, x) == (40, 20)


def test_comparison_figure_has_four_equal_panels(make_photo):
    hr = make_photo(64, 96)
    lr = cv2.resize(hr, (24, 16), interpolation=cv2.INTER_AREA)
    fig = comparison_figure(lr, hr, hr, 4, crop=32, width=100)
    assert fig.shape == (24 + 100, 4 * 100 + 3 * 4, 3) and fig.dtype == np.uint8


def test_make_figs_end_to_end(capsys, tmp_path: Path, make_photo, tiny_checkpoint, tiny_args):
    hr = tmp_path / "hr"
    hr.mkdir()
    cv2.imwrite(str(hr / "cat.png"), make_photo(96, 112))
    generate_gaussian8(hr, tmp_path / "g8", 4, progress=False)
    stem = sorted((tmp_path / "g8" / "LRblur" / "x4").glob("*.png"))[3].stem
    out = tmp_path / "figs"
    code = main(["--checkpoint", str(tiny_checkpoint), *tiny_args, "--benchmark", str(tmp_path / "g8"),
                 "--image", stem, "--output_dir", str(out), "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    comparison, kernels = cv2.imread(str(out / "demo_comparison.png")), cv2.imread(str(out / "demo_kernels.png"))
    assert comparison.shape[1] > 4 * 256 and kernels.shape[1] > 8 * 21 * 6
    assert main(["--checkpoint", str(tiny_checkpoint), *tiny_args, "--benchmark", str(tmp_path / "g8"),
                 "--image", "nope", "--output_dir", str(out), "--device", "cpu"]) == 2
