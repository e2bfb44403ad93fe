"""The offline demo data set: built from scikit-image photographs, sources recorded, reused when complete."""

from __future__ import annotations

import json

import pytest

from dcls.data import build_dataset
from dcls.data.demo_data import MANIFEST_NAME, SOURCES, TEST_IMAGES, TRAIN_IMAGES, prepare_demo_data


def test_split_is_disjoint_and_every_image_has_a_licence():
    assert not set(TRAIN_IMAGES) & set(TEST_IMAGES)
    assert set(TRAIN_IMAGES) | set(TEST_IMAGES) == set(SOURCES)
    assert all(source and licence for source, licence in SOURCES.values())


@pytest.mark.slow
def test_build_then_reuse(tmp_path, run_script):
    out = tmp_path / "demo_data"
    result = run_script("prepare_demo_data.py", "--output", out, "--quiet")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert {i["name"]: i["role"] for i in manifest["images"]} == {
        **{n: "train" for n in TRAIN_IMAGES}, **{n: "test" for n in TEST_IMAGES}}
    sources_md = (out / "SOURCES.md").read_text()
    assert all(name in sources_md and SOURCES[name][1] in sources_md for name in SOURCES)

    train = build_dataset({"name": "demo", "mode": "GT", "phase": "train", "dataroot_GT": str(out / "train/HR.lmdb"),
                           "GT_size": 96})
    assert sorted(train.keys) == sorted(TRAIN_IMAGES) and train[0]["GT"].shape == (3, 96, 96)
    test = build_dataset({"name": "demo_test", "mode": "LQGT", "dataroot_GT": str(out / "test/Gaussian8/x4HRblur.lmdb"),
                          "dataroot_LQ": str(out / "test/Gaussian8/x4LRblur.lmdb"), "scale": 4})
    assert len(test) == 8 * len(TEST_IMAGES)
    assert {k.split("_", 1)[1] for k in test.keys} == set(TEST_IMAGES), "test photos only, never training ones"
    folder = build_dataset({"mode": "LQGT", "dataroot_GT": str(out / "test/Gaussian8/HR/x4"),
                            "dataroot_LQ": str(out / "test/Gaussian8/LRblur/x4"), "scale": 4})
    assert len(folder) == len(test)

    stamp = (out / MANIFEST_NAME).stat().st_mtime_ns
    assert prepare_demo_data(out, progress=False) is False, "a complete identical build is reused"
    assert (out / MANIFEST_NAME).stat().st_mtime_ns == stamp
    assert prepare_demo_data(out, (2, 4), progress=False) is True, "other settings rebuild it"
    assert (out / "test/Gaussian8/x2LRblur.lmdb").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo_data"], "no temporary folders left"


def test_refuses_a_folder_that_is_not_demo_data(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "precious.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="--force"):
        prepare_demo_data(tmp_path / "mine", progress=False)
    assert (tmp_path / "mine" / "precious.txt").read_text() == "keep me"
