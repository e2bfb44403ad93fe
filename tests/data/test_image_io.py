"""File helpers: reading 8/16-bit images with errors that name the file, listing, atomic writes."""

from __future__ import annotations

import os
import stat

import cv2
import numpy as np
import pytest

from dcls.utils.image_io import (
    ImageReadError,
    atomic_write_bytes,
    image_keys,
    list_images,
    read_image,
    replace_directory,
    write_npy,
    write_png,
)


def test_read_image_keeps_depth_and_channels(photo_folder):
    folder, images = photo_folder
    for name, want in images.items():
        got = read_image(folder / f"{name}.png")
        assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want)


def test_read_image_color_mode_is_cv2_default(photo_folder):
    folder, _ = photo_folder
    for name in ("gray8", "rgb16"):
        got = read_image(folder / f"{name}.png", color=True)
        assert np.array_equal(got, cv2.imread(str(folder / f"{name}.png")))
        assert got.dtype == np.uint8 and got.shape[2] == 3


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\0" * 40])
def test_unreadable_images_are_named(tmp_path, content):
    bad = tmp_path / "broken.png"
    bad.write_bytes(content)
    with pytest.raises(ImageReadError, match="broken.png"):
        read_image(bad)
    with pytest.raises(ImageReadError, match="missing.png"):
        read_image(tmp_path / "missing.png")


def test_float_images_are_refused(tmp_path):
    path = tmp_path / "float.tiff"
    assert cv2.imwrite(str(path), np.ones((4, 4), np.float32))
    with pytest.raises(ImageReadError, match="float.tiff"):
        read_image(path)


def test_list_images_folder_glob_and_file(photo_folder):
    folder, images = photo_folder
    (folder / "notes.txt").write_text("not an image")
    (folder / "sub").mkdir()
    write_png(folder / "sub" / "deep.png", np.zeros((2, 2), np.uint8))
    found = list_images(folder)
    assert found == sorted(found) and sorted(p.stem for p in found) == sorted([*images, "deep"])
    assert [p.stem for p in list_images(str(folder / "rgb*.png"))] == ["rgb16", "rgb8"]
    assert list_images(folder / "gray8.png") == [folder / "gray8.png"]
    with pytest.raises(FileNotFoundError, match="no image files"):
        list_images(str(folder / "*.jpg"))
    with pytest.raises(FileNotFoundError, match="nowhere"):
        list_images(folder / "nowhere")


def test_image_keys_reject_duplicate_names(tmp_path):
    a, b = tmp_path / "x" / "same.png", tmp_path / "y" / "same.jpg"
    with pytest.raises(ValueError, match="same"):
        image_keys([a, b])
    assert image_keys([a]) == {"same": a}


def test_atomic_writes_leave_only_the_final_file(tmp_path):
    target = tmp_path / "out" / "img.png"
    img = np.arange(60, dtype=np.uint16).reshape(5, 4, 3)
    write_png(target, img)
    assert np.array_equal(read_image(target), img)
    mode = stat.S_IMODE(os.stat(target).st_mode)
    assert mode & stat.S_IRGRP, "written files get the usual permissions, not mkstemp's private ones"
    write_npy(tmp_path / "out" / "k.npy", np.eye(3))
    assert np.array_equal(np.load(tmp_path / "out" / "k.npy", allow_pickle=False), np.eye(3))
    assert sorted(p.name for p in target.parent.iterdir()) == ["img.png", "k.npy"]


def test_atomic_write_failure_keeps_the_old_file(tmp_path):
    target = tmp_path / "data.bin"
    atomic_write_bytes(target, b"old")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["data.bin"]


def test_replace_directory(tmp_path):
    new, dst = tmp_path / "new", tmp_path / "dst"
    new.mkdir()
    (new / "a").write_text("new")
    replace_directory(new, dst)
    assert (dst / "a").read_text() == "new" and not new.exists()
    new.mkdir()
    (new / "b").write_text("newer")
    replace_directory(new, dst)
    assert [p.name for p in dst.iterdir()] == ["b"] and sorted(p.name for p in tmp_path.iterdir()) == ["dst"]
