"""Kernels, blur and training-pair synthesis: normalisation, geometry, reproducibility, shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dcls.degradation.kernels import anisotropic_gaussian_kernel, isotropic_gaussian_kernel, random_kernels
from dcls.degradation.synthesis import GaussianDegradation, batch_blur, gaussian8_lr, gaussian8_sigmas, quantize


@pytest.mark.parametrize("size", [11, 21, 31])
def test_kernels_sum_to_one_and_peak_at_the_centre(size: int) -> None:
    c = size // 2
    for kernel in (isotropic_gaussian_kernel(size, 1.7), anisotropic_gaussian_kernel(size, 1.0, 3.0, 0.4)):
        assert kernel.shape == (size, size)
        assert kernel.sum() == pytest.approx(1.0)
        assert kernel.argmax() == c * size + c
    iso = isotropic_gaussian_kernel(size, 1.7)
    np.testing.assert_allclose(iso, iso.T)
    np.testing.assert_allclose(iso, iso[::-1, ::-1])


def test_anisotropic_axes_follow_sigma_x_along_columns_and_theta_rotates() -> None:
    wide_x = anisotropic_gaussian_kernel(21, 4.0, 1.0, 0.0)
    assert wide_x[10, 15] > wide_x[15, 10]
    np.testing.assert_allclose(anisotropic_gaussian_kernel(21, 4.0, 1.0, np.pi / 2), wide_x.T, atol=1e-12)
    np.testing.assert_allclose(anisotropic_gaussian_kernel(21, 2.0, 2.0, 0.9), isotropic_gaussian_kernel(21, 2.0))


def test_random_kernels_are_reproducible_and_respect_rate_iso() -> None:
    a = random_kernels(4, 21, 0.2, 4.0, rng=np.random.default_rng(3))
    b = random_kernels(4, 21, 0.2, 4.0, rng=np.random.default_rng(3))
    assert a.dtype == torch.float32 and a.shape == (4, 21, 21)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, a.transpose(1, 2))
    forced_iso = random_kernels(8, 11, 0.6, 5.0, rate_iso=1.0 - 1e-12, rng=np.random.default_rng(0))
    torch.testing.assert_close(forced_iso, forced_iso.transpose(1, 2), atol=1e-7, rtol=0)
    aniso = random_kernels(8, 11, 0.6, 5.0, rate_iso=0.0, random_disturb=True, rng=np.random.default_rng(0))
    torch.testing.assert_close(aniso.sum(dim=(1, 2)), torch.ones(8))
    assert not torch.allclose(aniso, aniso.transpose(1, 2))


def test_batch_blur_with_a_delta_is_identity_and_each_sample_gets_its_kernel() -> None:
    torch.manual_seed(0)
    x = torch.rand(3, 3, 20, 18)
    delta = torch.zeros(3, 7, 7)
    delta[:, 3, 3] = 1
    torch.testing.assert_close(batch_blur(x, delta), x)
    kernels = random_kernels(3, 7, 0.5, 2.0, rng=np.random.default_rng(1))
    batched = batch_blur(x, kernels)
    torch.testing.assert_close(batched[2:], batch_blur(x[2:], kernels[2]))


def test_degradation_outputs_shapes_quantised_input_and_seeded_reproducibility() -> None:
    torch.manual_seed(0)
    hr = torch.rand(4, 3, 48, 48)
    deg = GaussianDegradation(scale=4, ksize=21, sig_min=0.2, sig_max=4.0)
    out = deg(hr, np.random.default_rng(7))
    assert out.lr_img.shape == out.lr_blured.shape == out.lr.shape == (4, 3, 12, 12)
    assert out.kernels.shape == (4, 21, 21)
    torch.testing.assert_close(out.lr_img * 255, (out.lr_img * 255).round(), atol=1e-4, rtol=0)
    torch.testing.assert_close(out.lr_img, quantize(out.lr_blured))
    again = deg(hr, np.random.default_rng(7))
    torch.testing.assert_close(again.lr_img, out.lr_img)
    other = deg(hr, np.random.default_rng(8))
    assert not torch.equal(other.kernels, out.kernels)


def test_degradation_noise_is_clamped_and_seeded() -> None:
    hr = torch.rand(2, 3, 32, 32)
    deg = GaussianDegradation(scale=2, ksize=11, sig_min=0.6, sig_max=5.0, rate_iso=0.0, noise=True, noise_high=0.2)
    out = deg(hr, np.random.default_rng(0))
    assert out.lr_img.min() >= 0 and out.lr_img.max() <= 1
    assert (out.lr_img - out.lr_blured).abs().max() > 0.05
    torch.testing.assert_close(deg(hr, np.random.default_rng(0)).lr_img, out.lr_img)


def test_invalid_degradation_parameters_are_rejected() -> None:
    with pytest.raises(ValueError):
        GaussianDegradation(scale=4, sig_min=3.0, sig_max=1.0)
    with pytest.raises(ValueError):
        gaussian8_sigmas(8)


def test_gaussian8_sigmas_and_lr_size() -> None:
    assert gaussian8_sigmas(4)[0] == pytest.approx(1.8) and gaussian8_sigmas(4)[-1] == pytest.approx(3.2)
    assert len(gaussian8_sigmas(2)) == 8 and gaussian8_sigmas(3)[-1] == pytest.approx(2.4)
    hr = (np.random.default_rng(0).random((24, 36, 3)) * 255).astype(np.uint8)
    lr = gaussian8_lr(hr, 2.0, 3)
    assert lr.shape == (8, 12, 3) and lr.dtype == np.uint8


@pytest.mark.gpu
def test_degradation_on_cuda_matches_cpu() -> None:
    hr = torch.rand(2, 3, 32, 32)
    deg = GaussianDegradation(scale=4)
    cpu = deg(hr, np.random.default_rng(0))
    gpu = deg(hr.to("cuda"), np.random.default_rng(0))
    assert gpu.lr_img.device.type == "cuda"
    torch.testing.assert_close(gpu.lr_blured.cpu(), cpu.lr_blured, atol=1e-5, rtol=0)
