"""What the web page does with an upload, without a browser: the PNG to download is dcls-sr's file, the
pictures shown are 8-bit RGB(A) of the right sizes, unreadable files are one-line user errors."""

from __future__ import annotations

import importlib.util

import cv2
import numpy as np
import pytest

from dcls import BlindSR
from dcls.app.session import enlarge, for_display, process
from dcls.inference.cli import main as dcls_sr
from dcls.utils.image_io import ImageReadError

TINY_SIZES = {"nf": 16, "nb": 1, "ng": 1, "input_para": 16}


@pytest.fixture(scope="module")
def tiny_sr(tiny_checkpoint) -> BlindSR:
    return BlindSR.from_checkpoint(tiny_checkpoint, scale=4, device="cpu", **TINY_SIZES)


@pytest.mark.parametrize(("name", "shown_channels"), [("photo.jpg", 3), ("grey.png", 3), ("rgba.png", 4),
                                                      ("deep16.png", 3)])
def test_upload_gives_the_cli_file_and_8bit_pictures(capsys, tmp_path, image_folder, tiny_sr, tiny_checkpoint,
                                                     tiny_args, name, shown_channels):
    src = image_folder / name
    assert dcls_sr(["--checkpoint", str(tiny_checkpoint), *tiny_args, "--input", str(src), "--output",
                    str(tmp_path / "cli"), "--device", "cpu"]) == 0
    capsys.readouterr()
    out = process(tiny_sr, src, tmp_path, tile=0, ensemble=False)
    assert out.png.name == f"{src.stem}_x4.png"
    assert out.png.read_bytes() == (tmp_path / "cli" / out.png.name).read_bytes()
    h, w = cv2.imread(str(src), cv2.IMREAD_UNCHANGED).shape[:2]
    for picture in (out.before, out.after):
        assert picture.dtype == np.uint8 and picture.shape == (4 * h, 4 * w, shown_channels)
    assert out.kernel.shape == (168, 168, 3) and out.kernel.dtype == np.uint8
    assert f"{w}x{h} -> {4 * w}x{4 * h} (x4)" in out.summary and "whole image" in out.summary


def test_settings_reach_the_model_and_the_summary(tmp_path, image_folder, tiny_sr):
    plain = process(tiny_sr, image_folder / "photo.jpg", tmp_path, tile=0, ensemble=False)
    tiled = process(tiny_sr, image_folder / "photo.jpg", tmp_path, tile=32, ensemble=True)
    assert "tiles of 32 px, self-ensemble" in tiled.summary
    assert not np.array_equal(plain.after, tiled.after)
    assert plain.png != tiled.png and plain.png.exists() and tiled.png.exists()
    smallest = process(tiny_sr, image_folder / "photo.jpg", tmp_path, tile=16, ensemble=False)  # overlap 8
    assert "tiles of 16 px" in smallest.summary


def test_corrupt_upload_is_a_user_error(tmp_path, image_folder, tiny_sr):
    with pytest.raises(ImageReadError, match="corrupt.png"):
        process(tiny_sr, image_folder / "corrupt.png", tmp_path, tile=0, ensemble=False)


def test_display_conversions():
    grey16 = np.array([[0, 65535], [257, 32896]], np.uint16)
    assert for_display(grey16).tolist() == [[[0] * 3, [255] * 3], [[1] * 3, [128] * 3]]
    grey_alpha = np.dstack([np.full((2, 2), 0.5), np.ones((2, 2))])
    assert for_display(grey_alpha)[0, 0].tolist() == [128, 128, 128, 255]
    rgba = np.arange(16, dtype=np.uint8).reshape(2, 2, 4)
    assert np.array_equal(for_display(rgba), rgba)
    assert enlarge(rgba, 3).shape == (6, 6, 4) and np.all(enlarge(rgba, 3)[:3, :3] == rgba[0, 0])


def test_page_builds_with_its_parts(tmp_path, tiny_sr, missing):
    if importlib.util.find_spec("gradio") is None:
        missing("gradio (the app extra)")
    from dcls.app.page import build_page

    page = build_page(tiny_sr, "tiny model", tmp_path, tile=64, ensemble=True)
    ids = {block.elem_id: block for block in page.blocks.values() if getattr(block, "elem_id", None)}
    assert {"upload", "tile", "ensemble", "run", "kernel", "download", "compare", "summary"} <= set(ids)
    assert ids["tile"].value == 64 and ids["ensemble"].value is True
