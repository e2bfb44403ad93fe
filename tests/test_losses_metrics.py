"""Kernel correction loss, pixel losses and PSNR/SSIM behaviours."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dcls.degradation.kernels import isotropic_gaussian_kernel
from dcls.degradation.synthesis import GaussianDegradation
from dcls.losses import CharbonnierLoss, KernelCorrectionLoss, correct_kernel, lr_space_kernel, zeroize_negligible
from dcls.metrics import bgr2ycbcr, calculate_psnr, calculate_ssim, evaluate_pair, rgb2ycbcr
from dcls.registry import LOSS_REGISTRY


def test_correction_target_is_a_normalised_nonnegative_kernel_peaked_near_the_centre() -> None:
    torch.manual_seed(0)
    hr = torch.rand(2, 3, 96, 96)
    batch = GaussianDegradation(scale=4, sig_min=2.0, sig_max=2.0)(hr, np.random.default_rng(0))
    k_pred = torch.full((2, 1, 21, 21), 1 / 441)
    loss = KernelCorrectionLoss()(k_pred, batch)
    k_correct = correct_kernel(batch.lr_blured, batch.lr, 21)
    assert loss.ndim == 0 and loss > 0
    torch.testing.assert_close(loss, (k_pred - k_correct).abs().mean())
    assert k_correct.min() >= 0
    torch.testing.assert_close(k_correct.sum(dim=(2, 3)), torch.ones(2, 1))
    peak = k_correct.flatten(1).argmax(1)
    rows, cols = peak // 21, peak % 21
    assert ((rows - 10).abs() <= 2).all() and ((cols - 10).abs() <= 2).all()


def test_zeroize_keeps_at_most_the_largest_values() -> None:
    k = torch.rand(3, 1, 11, 11)
    out = zeroize_negligible(k, n=40)
    assert ((out > 1e-12).flatten(1).sum(1) <= 121).all()
    assert (out[k < 0.75 * torch.topk(k.flatten(1), 41).values[:, -1].view(-1, 1, 1, 1)] < 1e-12).all()
    torch.testing.assert_close(out.sum(dim=(2, 3)), torch.ones(3, 1))


def test_pixel_losses_by_name() -> None:
    x, y = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.5)
    assert LOSS_REGISTRY.build("l1")(x, y).item() == pytest.approx(0.5)
    assert LOSS_REGISTRY.build("l2")(x, y).item() == pytest.approx(0.25)
    assert isinstance(LOSS_REGISTRY.build("cb"), CharbonnierLoss)
    assert LOSS_REGISTRY.build("cb")(x, y).item() == pytest.approx(96 * math.sqrt(0.25 + 1e-6), rel=1e-5)
    with pytest.raises(KeyError, match="unknown loss"):
        LOSS_REGISTRY.build("l3")


def _image(seed: int, shape: tuple[int, ...] = (32, 40, 3)) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) * 255).astype(np.uint8)


def test_identical_images_have_infinite_psnr_and_unit_ssim() -> None:
    img = _image(0)
    assert calculate_psnr(img, img) == float("inf")
    assert calculate_ssim(img, img, crop_border=2, test_y_channel=True) == pytest.approx(1.0)
    result = evaluate_pair(img, img.copy(), crop_border=4)
    assert result["psnr_y"] == float("inf") and result["ssim"] == pytest.approx(1.0)


def test_psnr_of_a_one_level_difference_and_crop_border() -> None:
    a = np.full((20, 20, 3), 100, np.uint8)
    b = a + 1
    assert calculate_psnr(a, b) == pytest.approx(20 * math.log10(255))
    b[:2] = 0
    assert calculate_psnr(a, b, crop_border=2) == pytest.approx(20 * math.log10(255))
    with pytest.raises(ValueError):
        calculate_psnr(a, b[:10])


def test_ycbcr_is_matlab_compatible_and_never_modifies_its_input() -> None:
    white = np.full((2, 2, 3), 255, np.uint8)
    assert (rgb2ycbcr(white) == 235).all()
    assert (rgb2ycbcr(np.zeros((2, 2, 3), np.uint8)) == 16).all()
    img = np.random.default_rng(0).random((5, 6, 3))
    kept = img.copy()
    y = bgr2ycbcr(img)
    np.testing.assert_array_equal(img, kept)
    np.testing.assert_allclose(y, rgb2ycbcr(img[..., ::-1]))
    full = rgb2ycbcr(img, only_y=False)
    np.testing.assert_allclose(full[..., 0], rgb2ycbcr(img))


def test_metrics_do_not_modify_float_inputs() -> None:
    a, b = np.random.default_rng(0).random((16, 16, 3)), np.random.default_rng(1).random((16, 16, 3))
    a_kept = a.copy()
    calculate_psnr(a, b, test_y_channel=True)
    calculate_ssim(a, b, test_y_channel=True)
    np.testing.assert_array_equal(a, a_kept)


def test_lr_space_kernel_shrinks_the_hr_blur_by_the_scale() -> None:
    """A sharp HR blur stays a near-delta in LR space; wider HR blurs give wider (lower-peaked) LR kernels."""
    peaks = []
    for sigma in (0.3, 1.8, 3.2):
        k = lr_space_kernel(torch.from_numpy(isotropic_gaussian_kernel(21, sigma)), scale=4, kernel_size=21)
        assert k.shape == (21, 21) and k.min() >= 0 and math.isclose(k.sum().item(), 1.0, rel_tol=1e-6)
        assert k.argmax().item() == 10 * 21 + 10  # centred
        peaks.append(k.max().item())
    assert peaks[0] > 0.9 and peaks[0] > peaks[1] > peaks[2] > 0.1
