"""``python scripts/create_lmdb.py`` as a user runs it: exact data through the datasets, safe failures."""

from __future__ import annotations

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
