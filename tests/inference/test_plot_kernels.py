"""scripts/plot_kernels.py: benchmark LR images paired with their .npy kernels, estimates drawn beside them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from dcls.data.gaussian8 import generate_gaussian8
from dcls.degradation.kernels import isotropic_gaussian_kernel
from dcls.errors import InputError
from dcls.reports.kernel_report import KernelPair, default_kernel_dir, find_pairs, kernel_sheet, main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def gaussian8_x4(tmp_path: Path, make_photo) -> Path:
    hr = tmp_path / "hr"
    hr.mkdir()
    cv2.imwrite(str(hr / "cat.png"), make_photo(64, 72))
    generate_gaussian8(hr, tmp_path / "bench", 4, progress=False)
    return tmp_path / "bench" / "LRblur" / "x4"


def test_kernel_dirs_of_known_layouts(tmp_path: Path):
    assert default_kernel_dir(tmp_path / "Set5" / "LRblur" / "x4") == (tmp_path / "Set5" / "kernel" / "x4").resolve()
    assert default_kernel_dir(tmp_path / "DIV2KRK" / "lr_x2") == (tmp_path / "DIV2KRK" / "gt_k_x2").resolve()
    assert default_kernel_dir(tmp_path / "Real" / "LR" / "x4") == (tmp_path / "Real" / "kernels" / "x4").resolve()
    assert default_kernel_dir(tmp_path / "photos") is None


def test_pairs_by_name_and_missing_kernels(tmp_path: Path, gaussian8_x4: Path):
    pairs = find_pairs(gaussian8_x4, default_kernel_dir(gaussian8_x4))
    assert len(pairs) == 8 and all(img.stem == k.stem for img, k in pairs)
    with pytest.raises(InputError, match="no LR image"):
        find_pairs(gaussian8_x4, tmp_path)


def test_l1_and_sheet_layout():
    a, b = isotropic_gaussian_kernel(21, 1.0), isotropic_gaussian_kernel(21, 2.0)
    assert KernelPair("same", a, a).l1 == 0.0
    assert 0 < KernelPair("other", a, b).l1 < 2
    assert KernelPair("sizes", a, isotropic_gaussian_kernel(11, 1.0)).l1 is None
    pairs = [KernelPair(f"img{i}", a, b) for i in range(5)]
    one_block = kernel_sheet(pairs[:2], columns=2, cell=4)
    two_blocks = kernel_sheet(pairs[:3], columns=2, cell=4)
    assert two_blocks.shape[1] == one_block.shape[1] and two_blocks.shape[0] == 2 * one_block.shape[0]


def test_plot_kernels_end_to_end(capsys, tmp_path: Path, gaussian8_x4: Path, tiny_checkpoint, tiny_args):
    out = tmp_path / "sheet.png"
    code = main(["--checkpoint", str(tiny_checkpoint), *tiny_args, "--lr_dir", str(gaussian8_x4),
                 "--output", str(out), "--device", "cpu", "--columns", "4"])
    printed = capsys.readouterr().out
    assert code == 0
    rows = [line for line in printed.splitlines() if line.startswith("sig") and " L1 " in line]
    assert len(rows) == 8 and "mean kernel L1 over 8 images" in printed
    sheet = cv2.imread(str(out))
    assert sheet.shape[0] > 2 * 2 * 21 * 6 and sheet.shape[1] > 4 * 21 * 6  # 2 blocks x (estimate, truth)


def test_script_entry_point_reports_bad_arguments(tmp_path: Path):
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "plot_kernels.py"), "--lr_dir", str(tmp_path),
                             "--kernel_dir", str(tmp_path), "--checkpoint", "x.pth", "--scale", "4"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.startswith("error: no image files")
