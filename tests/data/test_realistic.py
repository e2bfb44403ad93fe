"""The realistic-degradation benchmark generator: determinism, layout and record, options files, command line."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from dcls.data import build_dataset
from dcls.data.cli import realistic_main
from dcls.data.realistic import generate_realistic

RECORD_FIELDS = {"kernel_type", "downsampler", "noise_type", "noise_level", "grey_noise", "jpeg_quality"}


@pytest.fixture
def hr_dir(tmp_path: Path, photo) -> Path:
    """Three small HR photographs, one not a multiple of the scale (modcropped to 48x48)."""
    folder = tmp_path / "hr"
    folder.mkdir()
    for i, name in enumerate(("b", "a", "c")):
        cv2.imwrite(str(folder / f"{name}.png"), photo(48, 50 if name == "c" else 48, i))
    return folder


def _files(out: Path) -> dict[str, bytes]:
    """Every file of the image folders and the JSON record, by path relative to ``out``."""
    paths = [p for name in ("HR", "LR", "kernels") for p in (out / name).rglob("*") if p.is_file()]
    return {str(p.relative_to(out)): p.read_bytes() for p in [*paths, *out.glob("degradations_x*.json")]}


def _options_file(path: Path, degradation: dict | None) -> Path:
    options = {"name": "x", "scale": 4, **({"degradation": degradation} if degradation is not None else {})}
    path.write_text(yaml.safe_dump(options))
    return path


def test_same_inputs_give_byte_identical_files_another_seed_other_lr(tmp_path, hr_dir):
    for out, seed in (("a", 5), ("b", 5), ("c", 6)):
        assert generate_realistic(hr_dir, tmp_path / out, 4, seed=seed, progress=False) == 3
    first, again, other = (_files(tmp_path / out) for out in "abc")
    assert len(first) == 3 * 3 + 1 and first == again
    assert any(first[f"LR/x4/{n}.png"] != other[f"LR/x4/{n}.png"] for n in "abc")
    assert not list(tmp_path.glob("a/.*")), "no temporary folder is left behind"


def test_layout_and_record(tmp_path, hr_dir):
    out = tmp_path / "out"
    generate_realistic(hr_dir, out, 4, seed=3, progress=False)
    record = json.loads((out / "degradations_x4.json").read_text())
    assert (record["seed"], record["scale"], record["degradation"]) == (3, 4, {"type": "realistic"})
    assert [image["image"] for image in record["images"]] == ["a.png", "b.png", "c.png"]
    for index, image in enumerate(record["images"]):
        assert image["index"] == index and set(image) == RECORD_FIELDS | {"index", "copy", "image", "kernel"}
        kernel = np.load(out / "kernels" / "x4" / image["kernel"], allow_pickle=False)
        assert kernel.dtype == np.float64 and kernel.shape == (21, 21) and abs(kernel.sum() - 1) < 1e-6
        hr = cv2.imread(str(out / "HR" / "x4" / image["image"]))
        lr = cv2.imread(str(out / "LR" / "x4" / image["image"]))
        assert hr.shape == (48, 48, 3) and lr.shape == (12, 12, 3)


def test_copies_degrade_each_image_several_times_and_the_first_copy_keeps_its_draws(tmp_path, hr_dir):
    assert generate_realistic(hr_dir, tmp_path / "many", 4, seed=3, copies=3, progress=False) == 9
    record = json.loads((tmp_path / "many" / "degradations_x4.json").read_text())
    names = [image["image"] for image in record["images"]]
    assert names[:3] == ["d0_a.png", "d1_a.png", "d2_a.png"] and len(set(names)) == 9 and record["copies"] == 3
    lr = {n: (tmp_path / "many" / "LR" / "x4" / n).read_bytes() for n in names[:3]}
    assert len(set(lr.values())) == 3, "each copy is degraded with its own draw"
    hr = {(tmp_path / "many" / "HR" / "x4" / n).read_bytes() for n in names[:3]}
    assert len(hr) == 1, "every copy pairs with the same HR image"
    assert build_dataset({"name": "m", "mode": "LQGT", "scale": 4, "phase": "test",
                          "dataroot_GT": str(tmp_path / "many" / "HR" / "x4"),
                          "dataroot_LQ": str(tmp_path / "many" / "LR" / "x4")}).keys == sorted(n[:-4] for n in names)


def test_options_file_reaches_the_generator(tmp_path, hr_dir):
    degradation = {"type": "realistic", "jpeg": {"probability": 0.0}}
    options = _options_file(tmp_path / "o.yml", degradation)
    argv = ["--input", str(hr_dir), "--output", str(tmp_path / "out"), "--options", str(options), "--quiet"]
    assert realistic_main(argv) == 0
    record = json.loads((tmp_path / "out" / "degradations_x4.json").read_text())
    assert record["degradation"] == degradation
    assert [image["jpeg_quality"] for image in record["images"]] == [None] * 3


def test_lmdbs_pair_hr_and_lr(tmp_path, hr_dir):
    out = tmp_path / "out"
    assert realistic_main(["--input", str(hr_dir), "--output", str(out), "--scale", "2", "--lmdb", "--quiet"]) == 0
    ds = build_dataset({"name": "R", "mode": "LQGT", "dataroot_GT": str(out / "x2HR.lmdb"),
                        "dataroot_LQ": str(out / "x2LR.lmdb"), "scale": 2})
    assert len(ds) == 3
    item = ds[0]
    assert item["GT_path"] == item["LQ_path"] and item["GT"].shape[1] == 2 * item["LQ"].shape[1]
    generate_realistic(hr_dir, out, 2, overwrite=True, progress=False)
    assert not (out / "x2LR.lmdb").exists(), "LMDBs of an earlier run are not left stale"


def test_existing_outputs_need_overwrite(tmp_path, hr_dir, capsys):
    argv = ["--input", str(hr_dir), "--output", str(tmp_path / "out"), "--quiet"]
    assert realistic_main(argv) == 0
    assert realistic_main(argv) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert realistic_main([*argv, "--overwrite"]) == 0


@pytest.mark.parametrize(
    ("case", "fragment"),
    [("missing", "no such folder"), ("no-section", "type: realistic"), ("other-type", "type: realistic"),
     ("bad-key", "nonsense")],
)
def test_bad_arguments_are_one_line_errors(tmp_path, hr_dir, capsys, case, fragment):
    sections = {"no-section": None, "other-type": {"type": "gaussian"}, "bad-key": {"type": "realistic", "nonsense": 1}}
    argv = ["--input", str(tmp_path / "absent" if case == "missing" else hr_dir), "--output", str(tmp_path / "o")]
    if case != "missing":
        argv += ["--options", str(_options_file(tmp_path / "o.yml", sections[case]))]
    with pytest.raises(SystemExit) as exc:
        realistic_main(argv)
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert exc.value.code == 2 and len(errors) == 1 and fragment in errors[0]
    assert not (tmp_path / "o").exists()


def test_script_help(run_script):
    result = run_script("generate_realistic.py", "--help")
    assert result.returncode == 0 and "realistic" in result.stdout and "--options" in result.stdout
