"""``python scripts/create_lmdb.py`` as a user runs it: exact data through the datasets, safe failures."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from dcls.data import build_dataset


def test_images_read_back_identical_through_the_datasets(photo_folder, tmp_path, run_script):
    """PNG-encoded here; the raw encoding's round trip is covered in test_lmdb_io."""
    folder, images = photo_folder
    out = tmp_path / "HR.lmdb"
    result = run_script("create_lmdb.py", "--input", folder, "--output", out, "--compress-level", "6")
    assert result.returncode == 0, result.stderr
    assert f"wrote {len(images)} images" in result.stdout
    ds = build_dataset({"name": "check", "mode": "LQ", "dataroot_LQ": str(out)})
    for i in range(len(ds)):
        item = ds[i]
        img = images[item["LQ_path"]]
        peak = np.iinfo(img.dtype).max
        want = img[:, :, ::-1] if img.ndim == 3 else np.repeat(img[:, :, None], 3, axis=2)
        got = (item["LQ"] * peak).round().to(torch.int64).permute(1, 2, 0).numpy()
        assert np.array_equal(got, want.astype(np.int64)), item["LQ_path"]


def _as_ints(tensor: torch.Tensor, dtype: np.dtype) -> np.ndarray:
    """A dataset's RGB float CHW tensor back to integer HWC RGB levels of ``dtype``."""
    return (tensor.double() * np.iinfo(dtype).max).round().to(torch.int64).permute(1, 2, 0).numpy()


def _rgb_levels(img: np.ndarray) -> np.ndarray:
    """What the datasets must return for an image as OpenCV decodes it: 3 RGB channels, alpha dropped."""
    bgr = np.repeat(img[:, :, None], 3, axis=2) if img.ndim == 2 else img[:, :, :3]
    return bgr[:, :, ::-1].astype(np.int64)


def test_mixed_photographs_read_back_identical_in_every_mode(tmp_path, photo, script_main):
    """JPEG/PNG/BMP, 8/16 bit, grey/colour/alpha, odd sizes, in a subfolder too, raw encoding (the default):
    GT, LQ and LQGT datasets over the LMDB give exactly the pixels decoded from the files."""
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    files = {
        "colour.jpg": photo(37, 53, 0),
        "grey.jpeg": photo(41, 29, 1, channels=1),
        "alpha.png": photo(23, 31, 2, channels=4),
        "deep.png": photo(19, 45, 3, dtype=np.uint16),
        "sub/deep_grey.png": photo(33, 17, 4, channels=1, dtype=np.uint16),
        "small.bmp": photo(5, 3, 5),
    }
    for name, img in files.items():
        assert cv2.imwrite(str(folder / name), img)
    decoded = {Path(n).stem: cv2.imread(str(folder / n), cv2.IMREAD_UNCHANGED) for n in files}
    out = tmp_path / "all.lmdb"
    assert script_main("create_lmdb.py")(["--input", str(folder), "--output", str(out), "--quiet"]) == 0
    modes = {
        "LQ": {"dataroot_LQ": str(out)},
        "GT": {"phase": "val", "dataroot_GT": str(out)},
        "LQGT": {"dataroot_LQ": str(out), "dataroot_GT": str(out), "scale": 1},
    }
    for mode, roots in modes.items():
        ds = build_dataset({"name": mode, "mode": mode, **roots})
        assert sorted(ds.keys) == sorted(decoded), mode
        for i in range(len(ds)):
            item = ds[i]
            for part in ("LQ", "GT"):
                if part in item:
                    want = decoded[item[f"{part}_path"]]
                    got = _as_ints(item[part], want.dtype)
                    assert np.array_equal(got, _rgb_levels(want)), f"{mode} {part} {item[f'{part}_path']}"


def test_corrupt_file_fails_by_name_and_leaves_nothing(photo_folder, tmp_path, run_script):
    folder, _ = photo_folder
    (folder / "broken_one.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out = tmp_path / "HR.lmdb"
    result = run_script("create_lmdb.py", "--input", folder, "--output", out, "--quiet")
    assert result.returncode != 0
    assert "broken_one.png" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"], "no LMDB, no temporary folder"


def test_second_run_refuses_without_overwrite(photo_folder, tmp_path, run_script):
    folder, _ = photo_folder
    out = tmp_path / "HR.lmdb"
    assert run_script("create_lmdb.py", "-input", str(folder / "rgb*.png"), "--output", out).returncode == 0
    before = (out / "meta_info.json").read_text()
    again = run_script("create_lmdb.py", "--input", folder, "--output", out)
    assert again.returncode != 0 and "--overwrite" in again.stderr
    assert (out / "meta_info.json").read_text() == before


def test_missing_input_is_a_one_line_error(tmp_path, run_script):
    missing = run_script("create_lmdb.py", "--input", tmp_path / "nothing", "--output", tmp_path / "x.lmdb")
    assert missing.returncode != 0 and "nothing" in missing.stderr and "Traceback" not in missing.stderr
