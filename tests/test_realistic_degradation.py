"""The realistic degradation: kernel families, reproducibility, downsamplers, noise, JPEG, option checks, config."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from dcls.config import validate
from dcls.degradation import DegradedBatch, ImageDegradation, RealisticDegradation, quantize
from dcls.degradation.kernels import anisotropic_gaussian_kernel, isotropic_gaussian_kernel
from dcls.degradation.realistic_kernels import KERNEL_TYPES, motion_kernels, realistic_kernels
from dcls.errors import ConfigError
from dcls.losses import KernelCorrectionLoss
from dcls.ops import imresize
from dcls.registry import DEGRADATION_REGISTRY

DEMO_OPTIONS = Path(__file__).resolve().parents[1] / "options" / "demo" / "train_demo_x4.yml"
CLEAN = {"blur": {"probability": 0.0}, "noise": {"probability": 0.0}, "jpeg": {"probability": 0.0}}


def _hr(batch: int = 2, size: int = 64) -> torch.Tensor:
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0))


def _smooth_hr(size: int = 128) -> torch.Tensor:
    """Two smooth colour images, where JPEG's 8x8 blocks show."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    image = torch.stack([0.5 + 0.4 * torch.sin(6 * xx + 3 * yy), 0.5 + 0.3 * torch.cos(5 * yy), 0.8 * xx + 0.1])
    return image[None].repeat(2, 1, 1, 1)


def _assert_same(a: DegradedBatch, b: DegradedBatch) -> None:
    for name in ("lr_img", "lr_blured", "lr", "kernels"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


@pytest.mark.parametrize("kind", KERNEL_TYPES)
def test_each_kernel_family_is_a_normalised_nonnegative_kernel(kind: str) -> None:
    deg = RealisticDegradation(4, ksize=21, blur={"kernels": {kind: 1.0}})
    drawn = deg.draw(6, np.random.default_rng(0))
    assert {d.kernel_type for d in drawn} == {kind}
    for d in drawn:
        assert d.kernel.shape == (21, 21) and d.kernel.dtype == np.float64
        assert d.kernel.min() >= 0 and d.kernel.sum() == pytest.approx(1.0)
        assert d.kernel.argmax() == 10 * 21 + 10 or kind == "motion"  # the line's peak may sit off the centre
    assert len({d.kernel.tobytes() for d in drawn}) == 6


def test_gaussian_families_match_the_gaussian_kernels_and_no_blur_is_a_delta() -> None:
    one = np.ones(1)
    kernel = realistic_kernels(21, np.array(["aniso"]), 3.0 * one, 1.0 * one, 0.4 * one, one, one)[0]
    np.testing.assert_allclose(kernel, anisotropic_gaussian_kernel(21, 3.0, 1.0, 0.4), atol=1e-12)
    kernel = realistic_kernels(21, np.array(["iso"]), 2.0 * one, 5.0 * one, 0.4 * one, one, one)[0]
    np.testing.assert_allclose(kernel, isotropic_gaussian_kernel(21, 2.0), atol=1e-12)
    generalized = realistic_kernels(21, np.array(["generalized"]), 2.0 * one, 2.0 * one, 0 * one, one, one)[0]
    np.testing.assert_allclose(generalized, isotropic_gaussian_kernel(21, 2.0), atol=1e-12)  # beta 1: Gaussian
    drawn = RealisticDegradation(4, blur={"probability": 0.0}).draw(3, np.random.default_rng(0))
    delta = np.zeros((21, 21))
    delta[10, 10] = 1.0
    for d in drawn:
        assert d.kernel_type == "none"
        np.testing.assert_array_equal(d.kernel, delta)


def test_motion_kernels_put_their_mass_on_a_line_of_the_drawn_length() -> None:
    along_x, along_y = motion_kernels(21, np.array([7.0, 7.0]), np.array([0.0, np.pi / 2]))
    assert along_x[10].sum() == pytest.approx(1.0) and np.count_nonzero(along_x[10] > 1e-12) == 7
    np.testing.assert_allclose(along_y, along_x.T, atol=1e-12)
    rng = np.random.default_rng(1)
    length, angle = rng.uniform(3, 15, 16), rng.uniform(0, np.pi, 16)
    kernels = motion_kernels(21, length, angle)
    offsets = np.arange(21) - 10.0
    xx, yy = np.meshgrid(offsets, offsets)
    for kernel, size, theta in zip(kernels, length, angle):
        on = kernel > 1e-12
        across = np.abs(yy * np.cos(theta) - xx * np.sin(theta))  # distance from the line through the centre
        along = np.abs(xx * np.cos(theta) + yy * np.sin(theta))
        assert across[on].max() < math.sqrt(2) and along[on].max() < (size - 1) / 2 + math.sqrt(2)
        assert kernel.min() >= 0 and kernel.sum() == pytest.approx(1.0)


def test_same_generator_state_gives_a_bit_identical_batch_and_another_seed_another() -> None:
    hr, deg = _hr(), RealisticDegradation(4)
    first = deg(hr, np.random.default_rng(5))
    _assert_same(first, deg(hr, np.random.default_rng(5)))
    drawn = deg.draw(2, np.random.default_rng(5))
    assert [d.record() for d in drawn] == [d.record() for d in deg.draw(2, np.random.default_rng(5))]
    other = deg(hr, np.random.default_rng(6))
    assert not torch.equal(other.kernels, first.kernels) and not torch.equal(other.lr_img, first.lr_img)


@pytest.mark.parametrize("method", ["bicubic", "bilinear", "area"])
@pytest.mark.parametrize("scale", [2, 4])
def test_every_downsampler_gives_lr_of_size_h_over_scale(method: str, scale: int) -> None:
    hr = _hr()
    out = RealisticDegradation(scale, downsample={"methods": {method: 1.0}})(hr, np.random.default_rng(0))
    assert out.lr_img.shape == out.lr_blured.shape == out.lr.shape == (2, 3, 64 // scale, 64 // scale)
    assert out.kernels.shape == (2, 21, 21) and out.kernels.dtype == torch.float32
    expected = {"bicubic": imresize(hr, 1 / scale), "area": F.avg_pool2d(hr, scale),
                "bilinear": F.interpolate(hr, scale_factor=1 / scale, mode="bilinear", antialias=True)}[method]
    torch.testing.assert_close(out.lr, expected)


def test_a_mixed_batch_downsamples_each_sample_with_its_own_method() -> None:
    hr, deg = _hr(8), RealisticDegradation(2, **CLEAN)
    drawn = deg.draw(8, np.random.default_rng(3))
    out = deg.apply(hr, drawn, np.random.default_rng(0))
    assert len({d.downsampler for d in drawn}) > 1
    for i, d in enumerate(drawn):
        alone = RealisticDegradation(2, downsample={"methods": {d.downsampler: 1.0}}, **CLEAN)
        torch.testing.assert_close(out.lr[i], alone(hr[i:i + 1], np.random.default_rng(0)).lr[0])


def test_lr_pair_for_the_kernel_loss_does_not_depend_on_noise_or_jpeg() -> None:
    hr = _hr()
    noisy = RealisticDegradation(4, noise={"probability": 1.0}, jpeg={"probability": 1.0})(hr, np.random.default_rng(2))
    clean = RealisticDegradation(4, noise={"probability": 0.0}, jpeg={"probability": 0.0})(hr, np.random.default_rng(2))
    for name in ("lr_blured", "lr", "kernels"):
        assert torch.equal(getattr(noisy, name), getattr(clean, name)), name
    assert torch.equal(clean.lr_img, quantize(clean.lr_blured))
    assert (noisy.lr_img - clean.lr_img).abs().mean() > 1e-3


def test_everything_off_with_bicubic_is_the_quantised_bicubic_downsampling() -> None:
    hr = _hr()
    out = RealisticDegradation(4, downsample={"methods": {"bicubic": 1.0}}, **CLEAN)(hr, np.random.default_rng(0))
    assert torch.equal(out.lr_img, quantize(imresize(hr, 1 / 4)))
    assert torch.equal(out.lr_blured, out.lr)


@pytest.mark.parametrize("gaussian", [1.0, 0.0])
def test_grey_noise_is_the_same_on_every_channel(gaussian: float) -> None:
    grey_hr = _hr()[:, :1].repeat(1, 3, 1, 1)
    options = {"blur": {"probability": 0.0}, "jpeg": {"probability": 0.0}}
    noise = {"probability": 1.0, "gaussian": gaussian, "sigma": [0.05, 0.1], "poisson_scale": [1.0, 2.0]}
    deg = RealisticDegradation(2, noise={**noise, "grey_probability": 1.0}, **options)
    drawn = deg.draw(2, np.random.default_rng(0))
    assert all(d.grey_noise and d.noise_type == ("gaussian" if gaussian else "poisson") for d in drawn)
    out = deg.apply(grey_hr, drawn, np.random.default_rng(0))
    assert (out.lr_img - quantize(out.lr)).abs().mean() > 5e-3
    assert torch.equal(out.lr_img[:, 0], out.lr_img[:, 1]) and torch.equal(out.lr_img[:, 0], out.lr_img[:, 2])
    colour_deg = RealisticDegradation(2, noise={**noise, "grey_probability": 0.0}, **options)
    colour = colour_deg(grey_hr, np.random.default_rng(0))
    assert not torch.equal(colour.lr_img[:, 0], colour.lr_img[:, 1])
    assert colour.lr_img.min() >= 0 and colour.lr_img.max() <= 1


def test_jpeg_at_low_quality_changes_more_and_shows_8x8_blocks() -> None:
    hr = _smooth_hr()

    def compressed(quality: int) -> tuple[float, float]:
        deg = RealisticDegradation(2, blur={"probability": 0.0}, noise={"probability": 0.0},
                                   jpeg={"probability": 1.0, "quality": [quality, quality]})
        out = deg(hr, np.random.default_rng(0))
        steps = (out.lr_img[..., 1:] - out.lr_img[..., :-1]).abs()  # 63 steps between the 64 columns
        boundary = torch.zeros(steps.shape[-1], dtype=torch.bool)
        boundary[7::8] = True  # between columns 7 and 8, 15 and 16, ...: across an 8x8 block boundary
        blockiness = (steps[..., boundary].mean() / steps[..., ~boundary].mean()).item()
        return (out.lr_img - out.lr_blured).abs().mean().item(), blockiness

    (error_10, blocks_10), (error_95, blocks_95) = compressed(10), compressed(95)
    assert error_10 > 3 * error_95
    assert blocks_10 > 1.5 > blocks_95


def test_record_is_json_ready_without_the_kernel() -> None:
    drawn = RealisticDegradation(4, jpeg={"probability": 1.0}).draw(4, np.random.default_rng(0))
    records = [d.record() for d in drawn]
    assert json.loads(json.dumps(records)) == records
    assert set(records[0]) == {"kernel_type", "downsampler", "noise_type", "noise_level", "grey_noise", "jpeg_quality"}
    assert all(isinstance(r["jpeg_quality"], int) and 30 <= r["jpeg_quality"] <= 95 for r in records)
    assert isinstance(drawn[0], ImageDegradation)


BAD_OPTIONS = [
    ({"blur": {"probability": 1.5}}, "blur.probability"),
    ({"noise": {"probability": -0.1}}, "noise.probability"),
    ({"noise": {"gaussian": 2}}, "noise.gaussian"),
    ({"noise": {"grey_probability": 1.01}}, "noise.grey_probability"),
    ({"jpeg": {"probability": -1}}, "jpeg.probability"),
    ({"noise": {"sigma": [-0.1, 0.1]}}, "noise.sigma"),
    ({"noise": {"poisson_scale": [0.0, -1.0]}}, "noise.poisson_scale"),
    ({"jpeg": {"quality": [0, 90]}}, "jpeg.quality"),
    ({"jpeg": {"quality": [30, 101]}}, "jpeg.quality"),
    ({"jpeg": {"quality": [90, 30]}}, "jpeg.quality"),
    ({"blur": {"sigma": [4.0, 0.2]}}, "blur.sigma"),
    ({"blur": {"beta_plateau": [2.0, 1.0]}}, "blur.beta_plateau"),
    ({"blur": {"motion_length": [3, 25]}}, "blur.motion_length"),
    ({"blur": {"kernels": {"iso": 1.0, "box": 1.0}}}, "blur.kernels.box"),
    ({"blur": {"kernels": {"iso": -1.0, "aniso": 1.0}}}, "blur.kernels.iso"),
    ({"downsample": {"methods": {"lanczos": 1.0}}}, "downsample.methods.lanczos"),
    ({"downsample": {"methods": {"bicubic": -0.5}}}, "downsample.methods.bicubic"),
    ({"noise": {"sigmaa": [0.0, 0.1]}}, "noise.sigmaa"),
    ({"ksize": 0}, "ksize"),
]


@pytest.mark.parametrize(("options", "key"), BAD_OPTIONS, ids=[key for _, key in BAD_OPTIONS])
def test_bad_options_are_one_line_errors_naming_the_key(options: dict[str, Any], key: str) -> None:
    with pytest.raises(ValueError, match=key.replace(".", r"\.")) as info:
        RealisticDegradation(4, **options)
    assert "\n" not in str(info.value)


def _demo_options(degradation: dict[str, Any]) -> dict[str, Any]:
    raw = yaml.safe_load(DEMO_OPTIONS.read_text())
    raw["degradation"] = {"type": "realistic", "ksize": 21, **degradation}
    return raw


def test_options_validate_through_the_registry_and_bad_values_are_config_errors() -> None:
    options = {"blur": {"kernels": {"iso": 1, "motion": 1}, "motion_length": [3, 9]},
               "downsample": {"methods": {"area": 1}}, "noise": {"sigma": [0.0, 0.05]}, "jpeg": {"quality": [40, 90]}}
    opt, _ = validate(_demo_options(options), is_train=True, check_paths=False)
    deg = DEGRADATION_REGISTRY.build_spec(opt["degradation"], scale=opt["scale"])  # as the trainer builds it
    assert isinstance(deg, RealisticDegradation) and deg.jpeg_quality == (40, 90) and deg.methods == ("area",)
    with pytest.raises(ConfigError, match=r"jpeg\.quality") as info:
        validate(_demo_options({"jpeg": {"quality": [40, 120]}}), is_train=True, check_paths=False)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=r"noise\.sigmaa: unknown key"):
        validate(_demo_options({"noise": {"sigmaa": [0.0, 0.1]}}), is_train=True, check_paths=False)


def test_kernel_loss_on_a_realistic_batch_is_finite() -> None:
    batch = RealisticDegradation(2)(_hr(), np.random.default_rng(0))
    kernel = torch.rand(2, 1, 21, 21, requires_grad=True)
    loss = KernelCorrectionLoss()(kernel.softmax(dim=-1), batch)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(kernel.grad).all()


@pytest.mark.gpu
def test_on_cuda_the_lr_pair_matches_the_cpu_and_the_batch_is_reproducible() -> None:
    hr, deg = _hr(4), RealisticDegradation(4, noise={"probability": 1.0}, jpeg={"probability": 1.0})
    cpu, gpu = deg(hr, np.random.default_rng(1)), deg(hr.cuda(), np.random.default_rng(1))
    assert gpu.lr_img.is_cuda and gpu.kernels.is_cuda
    for name in ("lr_blured", "lr", "kernels"):
        torch.testing.assert_close(getattr(gpu, name).cpu(), getattr(cpu, name), atol=1e-5, rtol=0)
    _assert_same(gpu, deg(hr.cuda(), np.random.default_rng(1)))
    assert gpu.lr_img.min() >= 0 and gpu.lr_img.max() <= 1
