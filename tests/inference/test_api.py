"""The Python API (``from dcls import BlindSR, degrade``): the same pixels as ``dcls-sr`` for every kind of image,
kernels that sum to 1, the README's example, the degradation helper against the Gaussian8 benchmark."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from dcls import BlindSR, degrade, gaussian_kernel
from dcls.archs import DCLS
from dcls.data.gaussian8 import degrade_gaussian8
from dcls.degradation.synthesis import gaussian8_sigmas
from dcls.errors import CheckpointError, ConfigError, InputError
from dcls.inference.cli import main as dcls_sr
from dcls.utils.image_io import ImageReadError

REPO = Path(__file__).resolve().parents[2]
TINY_SIZES = {"nf": 16, "nb": 1, "ng": 1, "input_para": 16}


@pytest.fixture(scope="module")
def tiny_sr(tiny_checkpoint) -> BlindSR:
    return BlindSR.from_checkpoint(tiny_checkpoint, scale=4, setting=1, device="cpu", **TINY_SIZES)


def _cli_output(capsys, src: Path, out_dir: Path, checkpoint: Path, tiny_args: list[str], *extra: str) -> np.ndarray:
    """What ``dcls-sr`` writes for ``src``, as OpenCV reads it back."""
    assert dcls_sr(["--checkpoint", str(checkpoint), *tiny_args, "--input", str(src), "--output", str(out_dir),
                    "--device", "cpu", *extra]) == 0
    capsys.readouterr()
    return cv2.imread(str(out_dir / f"{src.stem}_x4.png"), cv2.IMREAD_UNCHANGED)


def _as_opencv(image: np.ndarray) -> np.ndarray:
    """An API (RGB-ordered) image in the channel order OpenCV writes."""
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return image[:, :, [2, 1, 0, 3][: image.shape[2]]]
    return image


@pytest.mark.parametrize("name", ["photo.jpg", "grey.png", "rgba.png", "deep16.png"])
def test_files_and_their_arrays_give_exactly_the_cli_output(capsys, tmp_path, image_folder, tiny_sr, tiny_checkpoint,
                                                            tiny_args, name):
    src = image_folder / name
    want = _cli_output(capsys, src, tmp_path, tiny_checkpoint, tiny_args)
    from_path = tiny_sr.upscale(src)
    assert from_path.image.dtype == want.dtype and np.array_equal(_as_opencv(from_path.image), want)
    as_stored = cv2.imread(str(src), cv2.IMREAD_UNCHANGED)
    from_array = tiny_sr.upscale(_as_opencv(as_stored))
    assert np.array_equal(_as_opencv(from_array.image), want)
    assert from_array.kernel.shape == (21, 21) and from_array.kernel.dtype == np.float32
    assert abs(float(from_array.kernel.sum()) - 1.0) < 1e-5
    saved = tmp_path / "saved.png"
    from_array.save(saved)
    assert np.array_equal(cv2.imread(str(saved), cv2.IMREAD_UNCHANGED), want)


def test_tiles_and_ensemble_as_the_cli(capsys, tmp_path, image_folder, tiny_checkpoint, tiny_args):
    src = image_folder / "photo.jpg"
    want = _cli_output(capsys, src, tmp_path, tiny_checkpoint, tiny_args, "--tile", "32", "--tile_overlap", "8",
                       "--ensemble")
    sr = BlindSR.from_checkpoint(tiny_checkpoint, 4, 1, device="cpu", tile=32, tile_overlap=8, ensemble=True,
                                 **TINY_SIZES)
    got = sr.upscale(src).image
    assert np.array_equal(_as_opencv(got), want)
    assert not np.array_equal(got, sr.with_settings(tile=0, ensemble=False).upscale(src).image)


def test_float_input_is_the_uint8_result_before_rounding(make_photo, tiny_sr):
    rgb = make_photo(36, 44, 3)[:, :, ::-1]
    as_uint8 = tiny_sr.upscale(rgb)
    as_float = tiny_sr.upscale(rgb.astype(np.float32) / np.float32(255))
    assert as_float.image.dtype == np.float32 and as_float.image.shape == (144, 176, 3)
    assert np.array_equal(np.rint(as_float.image * np.float32(255)).astype(np.uint8), as_uint8.image)
    assert np.array_equal(as_float.kernel, as_uint8.kernel)
    as_double = tiny_sr.upscale(rgb / 255.0)
    assert as_double.image.dtype == np.float64 and 0 <= as_double.image.min() <= as_double.image.max() <= 1


def test_float_result_is_saved_as_16_bit(tmp_path, make_photo, tiny_sr):
    result = tiny_sr.upscale(make_photo(20, 24, 4).astype(np.float32) / np.float32(255))
    result.save(tmp_path / "sr.png")
    saved = cv2.imread(str(tmp_path / "sr.png"), cv2.IMREAD_UNCHANGED)
    assert saved.dtype == np.uint16 and np.array_equal(saved[:, :, ::-1], np.rint(result.image * 65535.0))


def test_grey_layouts_keep_their_shape(make_photo, tiny_sr):
    grey = make_photo(20, 24, 0)[:, :, 1]
    flat, column = tiny_sr.upscale(grey).image, tiny_sr.upscale(grey[:, :, None]).image
    assert flat.shape == (80, 96) and column.shape == (80, 96, 1) and np.array_equal(flat, column[:, :, 0])
    with_alpha = tiny_sr.upscale(np.dstack([grey, np.full_like(grey, 200)])).image
    assert with_alpha.shape == (80, 96, 2)
    assert np.array_equal(with_alpha[:, :, 0], flat) and np.all(with_alpha[:, :, 1] == 200)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((8, 8, 3), np.int32), "unsupported pixel type int32"),
        (np.zeros((8, 8, 5), np.uint8), "unsupported image shape"),
        (np.zeros((0, 8, 3), np.uint8), "unsupported image shape"),
        (np.full((8, 8, 3), 2.0, np.float32), r"\[0, 1\], found \[2, 2\]"),
        (np.full((8, 8, 3), np.nan, np.float32), r"\[0, 1\]"),
    ],
)
def test_bad_arrays_are_one_line_input_errors(tiny_sr, image, message):
    with pytest.raises(InputError, match=message):
        tiny_sr.upscale(image)


def test_unreadable_file_and_wrong_model_are_user_errors(image_folder, tiny_sr, tiny_checkpoint):
    with pytest.raises(ImageReadError, match="corrupt.png"):
        tiny_sr.upscale(image_folder / "corrupt.png")
    with pytest.raises(CheckpointError, match="nf 16, nb 1, ng 1"):
        BlindSR.from_checkpoint(tiny_checkpoint, scale=4, setting=1, device="cpu")  # the paper's sizes
    with pytest.raises(ConfigError, match="--tile must be"):
        tiny_sr.with_settings(tile=5)


def test_from_options_file(tmp_path, tiny_checkpoint, make_photo, tiny_sr):
    options = {"name": "tiny", "scale": 4, "network_G": {"which_model_G": "DCLS", "setting": {
        **TINY_SIZES, "kernel_size": 21}}, "path": {"pretrain_model_G": "/nowhere/else.pth"}}
    path = tmp_path / "tiny.yml"
    path.write_text(yaml.safe_dump(options))
    sr = BlindSR.from_options(path, checkpoint=tiny_checkpoint, device=torch.device("cpu"))
    image = make_photo(24, 28, 3)
    assert sr.scale == 4 and sr.device == torch.device("cpu")
    assert np.array_equal(sr.upscale(image).image, tiny_sr.upscale(image).image)


def _readme_python_example() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Use it from Python", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_example_runs(tmp_path, monkeypatch, make_photo):
    """The README's example as written, with a paper-sized x4 model of random weights in its place."""
    torch.manual_seed(0)
    (tmp_path / "pretrained_models").mkdir()
    torch.save(DCLS(upscale=4, kernel_size=21).state_dict(), tmp_path / "pretrained_models" / "DCLSx4_setting1.pth")
    hr = make_photo(96, 120, 5)
    cv2.imwrite(str(tmp_path / "my_photo.png"), hr)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(_readme_python_example(), "README.md", "exec"), namespace)
    written = cv2.imread(str(tmp_path / "my_photo_x4.png"), cv2.IMREAD_UNCHANGED)
    assert written.shape == (384, 480, 3)
    assert cv2.imread(str(tmp_path / "my_benchmark_lr.png"), cv2.IMREAD_UNCHANGED).shape == (24, 30, 3)
    assert abs(float(namespace["result"].kernel.sum()) - 1) < 1e-5


def test_degrade_is_the_gaussian8_benchmark(make_photo):
    hr_bgr = make_photo(50, 62, 7)  # cropped to 48 x 60 for x4
    cropped, lr_by_sigma = degrade_gaussian8(hr_bgr, 4)
    assert cropped.shape == (48, 60, 3)
    for sigma, want in lr_by_sigma.items():
        got = degrade(hr_bgr[:, :, ::-1], 4, sigma=sigma)
        assert got.dtype == np.uint8 and np.array_equal(got[:, :, ::-1], want), sigma


@pytest.mark.golden
def test_degrade_matches_the_original_benchmark_script(golden):
    """The original ``generate_mod_blur_LR_bic.py``'s LR images (golden tolerance of tests/data/test_gaussian8)."""
    for case, ref in golden.load("gaussian8.pt").items():
        scale = int(case.rsplit("_x", 1)[1])
        hr_rgb = ref["hr_bgr_u8"].numpy()[:, :, ::-1]
        sigmas = {f"{sigma:.4f}": sigma for sigma in gaussian8_sigmas(scale)}
        for key, want in ref["lr_bgr_u8"].items():
            got = degrade(hr_rgb, scale, sigma=sigmas[key])[:, :, ::-1].astype(np.int16)
            diff = np.abs(got - want.numpy().astype(np.int16))
            assert diff.max() <= 1 and (diff > 0).mean() <= 0.001, (case, key)


def test_degrade_with_a_kernel_noise_and_other_types(make_photo):
    rgb = make_photo(40, 48, 1)
    kernel = gaussian_kernel(1.5, size=15, sigma_y=3.0, theta=0.6)
    assert kernel.shape == (15, 15) and abs(kernel.sum() - 1) < 1e-12 and not np.allclose(kernel, kernel.T)
    lr = degrade(rgb, 2, kernel=kernel)
    assert lr.shape == (20, 24, 3) and lr.dtype == np.uint8
    deep = degrade(rgb.astype(np.uint16) * 257, 2, kernel=kernel)
    assert deep.dtype == np.uint16 and np.abs(deep.astype(int) / 257 - lr).max() <= 1.0
    as_float = degrade(rgb.astype(np.float32) / 255, 2, kernel=kernel)
    assert as_float.dtype == np.float32 and np.array_equal(np.rint(as_float * np.float32(255)).astype(np.uint8), lr)
    assert degrade(rgb[:, :, 0], 2, kernel=kernel).shape == (20, 24)
    noisy = degrade(rgb, 2, kernel=kernel, noise=10 / 255, seed=3)
    assert np.array_equal(noisy, degrade(rgb, 2, kernel=kernel, noise=10 / 255, seed=3))
    assert 7 < np.std(noisy.astype(float) - lr) < 13


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give the blur as kernel="),
        ({"sigma": 1.0, "kernel": np.ones((3, 3)) / 9}, "not both"),
        ({"kernel": np.ones((3, 4)) / 12}, "square"),
        ({"sigma": 1.0, "noise": -1.0}, "noise must be >= 0"),
        ({"sigma": -1.0}, "sigma > 0"),
    ],
)
def test_degrade_refuses_bad_arguments(kwargs, message):
    with pytest.raises(InputError, match=message):
        degrade(np.zeros((16, 16, 3), np.uint8), 2, **kwargs)
