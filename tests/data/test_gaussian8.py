"""The Gaussian8 benchmark generator: bit-exact LR images against the original (golden), layout, LMDBs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from dcls.data import build_dataset
from dcls.data.gaussian8 import generate_gaussian8, sigma_filename
from dcls.degradation.kernels import isotropic_gaussian_kernel
from dcls.degradation.synthesis import gaussian8_sigmas

MAX_LEVELS = 1  # golden README: bit-exact uint8, at most 1 level on 0.1% of the pixels
MAX_DIFFERING = 0.001


def lr_mismatch(got: np.ndarray | None, want: np.ndarray) -> str | None:
    """None when ``got`` meets the golden tolerance, else what is wrong."""
    if got is None or got.shape != want.shape:
        return f"shape {None if got is None else got.shape} != {want.shape}"
    diff = np.abs(got.astype(np.int16) - want.astype(np.int16))
    if diff.max() > MAX_LEVELS or (diff > 0).mean() > MAX_DIFFERING:
        return f"max diff {diff.max()} levels, {(diff > 0).mean():.4%} of pixels differ"
    return None


@pytest.mark.golden
def test_lr_images_match_the_original_script(golden, tmp_path, script_main):
    """Runs scripts/generate_mod_blur_LR_bic.py (its main: arguments, PNG in, PNG out) on every golden HR image."""
    cases = golden.load("gaussian8.pt")
    assert cases, "gaussian8.pt holds no case"
    script = script_main("generate_mod_blur_LR_bic.py")
    errors = []
    for case, ref in cases.items():
        name, scale = case.rsplit("_x", 1)
        scale = int(scale)
        hr_dir = tmp_path / case / "in"
        hr_dir.mkdir(parents=True)
        assert cv2.imwrite(str(hr_dir / f"{name}.png"), ref["hr_bgr_u8"].numpy())
        argv = ["--input", str(hr_dir), "--output", str(tmp_path / case / "out"), "--scale", str(scale), "--quiet"]
        assert script(argv) == 0, case
        ours = {f"{sigma:.4f}": sigma for sigma in gaussian8_sigmas(scale)}
        if set(ours) != set(ref["lr_bgr_u8"]):
            errors.append(f"{case}: sigmas {sorted(ours)} != reference {sorted(ref['lr_bgr_u8'])}")
            continue
        for key, want in ref["lr_bgr_u8"].items():
            path = tmp_path / case / "out" / "LRblur" / f"x{scale}" / sigma_filename(ours[key], f"{name}.png")
            problem = lr_mismatch(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), want.numpy())
            if problem:
                errors.append(f"{case} sigma {key}: {problem}")
    assert not errors, "\n".join(errors)


def test_tolerance_check_catches_real_differences():
    want = np.full((40, 50, 3), 100, np.uint8)
    assert lr_mismatch(want.copy(), want) is None
    one_off = want.copy()
    one_off[0, 0, 0] += 1
    assert lr_mismatch(one_off, want) is None
    two_off = want.copy()
    two_off[0, 0, 0] += 2
    assert "max diff 2" in lr_mismatch(two_off, want)
    many = want.copy()
    many[:2] += 1
    assert "differ" in lr_mismatch(many, want)
    assert "shape" in lr_mismatch(want[:-1], want) and "shape" in lr_mismatch(None, want)


def test_sigma_file_names_follow_the_original():
    assert sigma_filename(gaussian8_sigmas(4)[3], "baby.png") == "sig2.4000000000000004_baby.png"
    assert sigma_filename(gaussian8_sigmas(2)[1], "a.png") == "sig0.9142857142857144_a.png"
    assert sigma_filename(1.8, "a.png") == "sig1.8_a.png"


def test_layout_pairs_and_lmdbs(tmp_path, photo):
    scale = 3
    hr_dir = tmp_path / "hr"
    hr_dir.mkdir()
    images = {"one": photo(50, 62, 0), "two": photo(47, 45, 1)}
    for name, img in images.items():
        cv2.imwrite(str(hr_dir / f"{name}.png"), img)
    out = tmp_path / "Set"
    assert generate_gaussian8(hr_dir, out, scale, make_lmdb=True, progress=False) == 2
    sigmas = gaussian8_sigmas(scale)
    for name, img in images.items():
        mod = img[: img.shape[0] // 3 * 3, : img.shape[1] // 3 * 3]
        lr_shape = (mod.shape[0] // 3, mod.shape[1] // 3, 3)
        for sigma in sigmas:
            tagged = sigma_filename(sigma, f"{name}.png")
            assert np.array_equal(cv2.imread(str(out / "HR" / "x3" / tagged)), mod)
            assert cv2.imread(str(out / "LRblur" / "x3" / tagged)).shape == lr_shape
            kernel = np.load(out / "kernel" / "x3" / Path(tagged).with_suffix(".npy"), allow_pickle=False)
            assert np.allclose(kernel, isotropic_gaussian_kernel(21, sigma))
            picture = cv2.imread(str(out / "kernel" / "x3" / tagged), cv2.IMREAD_UNCHANGED)
            assert picture.shape == (21, 21) and picture.max() == 255 and picture.min() == 0
        assert cv2.imread(str(out / "LR" / "x3" / f"{name}.png")).shape == lr_shape
        assert cv2.imread(str(out / "Bic" / "x3" / f"{name}.png")).shape == mod.shape
    ds = build_dataset({"name": "Set", "mode": "LQGT", "dataroot_GT": str(out / "x3HRblur.lmdb"),
                        "dataroot_LQ": str(out / "x3LRblur.lmdb"), "scale": scale})
    assert len(ds) == 16
    item = ds[0]
    assert item["GT_path"] == item["LQ_path"] and item["GT"].shape[1] == 3 * item["LQ"].shape[1]


def test_bicubic_lr_is_a_plain_downscale(tmp_path):
    """LR/ (no blur) of a constant image is that constant; Bic/ upsamples it back to the HR size."""
    hr_dir = tmp_path / "hr"
    hr_dir.mkdir()
    cv2.imwrite(str(hr_dir / "flat.png"), np.full((24, 28, 3), 77, np.uint8))
    generate_gaussian8(hr_dir, tmp_path / "out", 4, progress=False)
    assert (cv2.imread(str(tmp_path / "out" / "LR" / "x4" / "flat.png")) == 77).all()
    assert (cv2.imread(str(tmp_path / "out" / "Bic" / "x4" / "flat.png")) == 77).all()


def test_script_refuses_to_replace_without_overwrite(tmp_path, photo, run_script):
    hr_dir = tmp_path / "hr"
    hr_dir.mkdir()
    cv2.imwrite(str(hr_dir / "a.png"), photo(16, 20, 0))
    generate_gaussian8(hr_dir, tmp_path / "out", 2, progress=False)
    result = run_script("generate_mod_blur_LR_bic.py", "-input_dir", hr_dir, "-output_dir", tmp_path / "out",
                        "--scale", "2")
    assert result.returncode != 0 and "--overwrite" in result.stderr and "Traceback" not in result.stderr
    ok = run_script("generate_mod_blur_LR_bic.py", "--input", hr_dir, "--output", tmp_path / "out", "--scale", "2",
                    "--overwrite", "--lmdb", "--quiet")
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "out" / "x2LRblur.lmdb" / "meta_info.json").is_file()
    assert len(list((tmp_path / "out" / "LRblur" / "x2").iterdir())) == 8
