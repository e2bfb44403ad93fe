"""Units of inference on own images: self-ensemble views (dcls.evaluation), image codec (dcls.utils.codec),
file planning, kernel pictures (dcls.utils.kernel_vis)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from dcls.degradation.kernels import anisotropic_gaussian_kernel
from dcls.errors import InputError
from dcls.evaluation import InferenceSettings, SuperResolver
from dcls.evaluation.ensemble import ALL_VIEWS
from dcls.inference.files import collect_inputs, kernel_path, plan_outputs
from dcls.utils.codec import decode, encode, image_to_tensor, tensor_to_image, upscale_alpha
from dcls.utils.kernel_vis import kernel_grid, kernel_to_image


def test_views_are_the_eight_distinct_invertible_symmetries():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    images = {tuple(v.apply(x).flatten().tolist()) for v in ALL_VIEWS}
    assert len(ALL_VIEWS) == 8 and len(images) == 8
    for v in ALL_VIEWS:
        assert torch.equal(v.invert(v.apply(x)), x)


class _BlurThenUpsample(nn.Module):
    """A fake DCLS whose restorer is equivariant only if the kernel is transformed with the image."""

    def __init__(self, kernel: torch.Tensor) -> None:
        super().__init__()
        self.kernel = kernel

    def Estimator(self, lr: torch.Tensor) -> torch.Tensor:  # noqa: N802 (DCLS's attribute name)
        return self.kernel.expand(lr.shape[0], 1, -1, -1)

    def Restorer(self, lr: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:  # noqa: N802
        k = kernel.shape[-1]
        blurred = F.conv2d(F.pad(lr, [k // 2] * 4, mode="replicate").transpose(0, 1), kernel, groups=lr.shape[0])
        return F.interpolate(blurred.transpose(0, 1), scale_factor=2, mode="nearest")


def test_ensemble_transforms_the_kernel_with_each_view():
    kernel = torch.from_numpy(anisotropic_gaussian_kernel(9, 0.6, 2.5, 0.7)).float()[None, None]
    model = _BlurThenUpsample(kernel)
    lr = torch.rand(1, 3, 24, 20)
    plain, _ = SuperResolver(model, 2, InferenceSettings(), "cpu")(lr)
    ensembled, k = SuperResolver(model, 2, InferenceSettings(ensemble=True), "cpu")(lr)
    torch.testing.assert_close(ensembled, plain, atol=1e-5, rtol=0)
    torch.testing.assert_close(k, kernel[0, 0])
    # Had the views shared the untransformed kernel, the anisotropic blur would point the wrong way in half
    # of them and the average would be visibly blurrier.
    wrong = sum(v.invert(model.Restorer(v.apply(lr), kernel)) for v in ALL_VIEWS) / 8
    assert (wrong - plain).abs().max() > 0.01


@pytest.mark.parametrize(
    "array",
    [
        np.random.default_rng(0).integers(0, 256, (6, 7, 3), dtype=np.uint8),
        np.random.default_rng(1).integers(0, 256, (6, 7), dtype=np.uint8),
        np.random.default_rng(2).integers(0, 256, (6, 7, 4), dtype=np.uint8),
        np.random.default_rng(3).integers(0, 65536, (6, 7, 3), dtype=np.uint16),
        np.random.default_rng(4).integers(0, 65536, (6, 7, 4), dtype=np.uint16),
    ],
    ids=["bgr8", "grey8", "bgra8", "bgr16", "bgra16"],
)
def test_codec_round_trip_is_exact(array):
    image = decode(array)
    assert image.rgb.shape == (1, 3, 6, 7) and image.rgb.dtype == torch.float32
    assert image.grey == (array.ndim == 2) and (image.alpha is not None) == (array.ndim == 3 and array.shape[2] == 4)
    np.testing.assert_array_equal(encode(image.rgb, image.alpha, image.grey, image.dtype), array)


def test_decode_orders_channels_as_rgb():
    bgr = np.zeros((2, 2, 3), np.uint8)
    bgr[..., 0] = 255  # blue
    rgb = decode(bgr).rgb
    assert rgb[0, 2].min() == 1 and rgb[0, :2].max() == 0


@pytest.mark.parametrize("channels", [3, 4])
def test_rgb_order_is_taken_and_given_back_without_swapping(channels):
    rgb = np.random.default_rng(5).integers(0, 256, (6, 7, channels), dtype=np.uint8)
    image = decode(rgb, "rgb")
    assert torch.equal(image.rgb, decode(np.ascontiguousarray(rgb[:, :, [2, 1, 0, 3][:channels]])).rgb)
    np.testing.assert_array_equal(encode(image.rgb, image.alpha, image.grey, image.dtype, "rgb"), rgb)
    with pytest.raises(ValueError, match="'bgr' or 'rgb'"):
        decode(rgb, "brg")


def test_plain_conversions_round_trip_and_order_channels():
    bgr = np.random.default_rng(6).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    tensor = image_to_tensor(bgr)
    assert tensor.shape == (3, 5, 6) and torch.equal(tensor[0], torch.from_numpy(bgr[:, :, 2] / np.float32(255)))
    np.testing.assert_array_equal(tensor_to_image(tensor[None]), bgr)
    np.testing.assert_array_equal(tensor_to_image(tensor, "rgb"), bgr[:, :, ::-1])
    np.testing.assert_array_equal(tensor_to_image(tensor[:1] * 2 - 1, min_max=(-1.0, 1.0)), bgr[:, :, 2])
    assert tensor_to_image(torch.full((2, 2), 0.5), dtype=np.uint16).tolist() == [[32768, 32768]] * 2
    grey16 = np.array([[0, 65535]], np.uint16)
    assert image_to_tensor(grey16).tolist() == [[[0.0, 1.0]]]


def test_grey_with_alpha_is_written_as_grey_looking_bgra():
    grey_alpha = np.dstack([np.full((3, 3), 100, np.uint8), np.full((3, 3), 7, np.uint8)])
    image = decode(grey_alpha)
    out = encode(image.rgb, image.alpha, image.grey, image.dtype)
    assert out.shape == (3, 3, 4) and np.all(out[..., :3] == 100) and np.all(out[..., 3] == 7)


def test_unsupported_pixel_type_is_a_value_error():
    with pytest.raises(ValueError, match="8- or 16-bit, or float"):
        decode(np.zeros((4, 4, 3), np.int32))


def test_float_images_round_trip_without_rounding():
    bgr = np.random.default_rng(0).random((4, 5, 3))
    image = decode(bgr)
    assert image.dtype == np.float64 and torch.equal(image.rgb[0, 0], torch.from_numpy(bgr[:, :, 2]).float())
    out = encode(image.rgb, None, image.grey, image.dtype)
    assert out.dtype == np.float64 and np.array_equal(out, bgr.astype(np.float32))


def test_alpha_upscaling_keeps_range_and_size():
    alpha = np.zeros((5, 6), np.float32)
    alpha[2, 3] = 1.0
    up = upscale_alpha(alpha, 3)
    assert up.shape == (15, 18) and up.min() >= 0 and up.max() <= 1 and up[7, 10] == up.max()


def test_collect_inputs_filters_folders_but_takes_named_files(tmp_path: Path):
    for name in ("b.PNG", "a.jpg", "notes.txt", ".hidden.png", "c.webp"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    assert [p.name for p in collect_inputs([tmp_path])] == ["a.jpg", "b.PNG", "c.webp"]
    assert collect_inputs([tmp_path / "notes.txt"]) == [tmp_path / "notes.txt"]
    with pytest.raises(InputError, match="input not found"):
        collect_inputs([tmp_path / "nope"])
    with pytest.raises(InputError, match="no image files"):
        collect_inputs([tmp_path / "sub"])


def test_plan_outputs_unique_names_and_refusal(tmp_path: Path):
    inputs = [tmp_path / "x" / "a.png", tmp_path / "y" / "a.png", tmp_path / "x" / "b.jpg"]
    outs = plan_outputs(inputs, tmp_path / "out", 2)
    assert [p.name for p in outs] == ["a_x2.png", "a_x2_2.png", "b_x2.png"]
    assert kernel_path(outs[0]).name == "a_x2_kernel.png"
    with pytest.raises(InputError, match="refusing to overwrite"):
        plan_outputs([tmp_path / "a.png", tmp_path / "a_x2_kernel.png"], tmp_path, 2)


def test_kernel_picture_puts_the_brightest_colour_at_the_peak():
    k = anisotropic_gaussian_kernel(11, 0.8, 2.0, 0.3)
    img = kernel_to_image(k, cell=4)
    assert img.shape == (44, 44, 3) and img.dtype == np.uint8
    peak = np.unravel_index(np.argmax(k), k.shape)
    brightness = img.astype(int).sum(2)
    assert brightness[peak[0] * 4 + 1, peak[1] * 4 + 1] == brightness.max()
    assert brightness[0, 0] < brightness.max() // 4


def test_kernel_grid_layout_and_shared_scale_per_column():
    small, wide = anisotropic_gaussian_kernel(11, 0.7, 0.7, 0.0), anisotropic_gaussian_kernel(11, 2.5, 2.5, 0.0)
    grid = kernel_grid([[small, wide], [small, small]], ["est", "gt"], ["img1", "img2"], cell=6)
    assert grid.shape[0] > 2 * 66 and grid.shape[1] > 2 * 66
    alone = kernel_to_image(small, cell=6)
    shared = kernel_to_image(small, cell=6, vmax=float(small.max()))
    np.testing.assert_array_equal(alone, shared)
    with pytest.raises(ValueError):
        kernel_grid([[]])
