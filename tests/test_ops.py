"""Fourier ops and MATLAB bicubic resize: identities, batching, layouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dcls.ops.fft import blur_kernel_from_images, cls_deconv, otf2psf, psf2otf
from dcls.ops.imresize import imresize, resize_matrix
from dcls.ops.pooled_conv import conv_then_adaptive_pool


def _delta(size: int) -> torch.Tensor:
    k = torch.zeros(size, size)
    k[size // 2, size // 2] = 1
    return k


def test_cls_with_delta_kernel_and_zero_p_returns_its_input() -> None:
    img = torch.rand(2, 4, 20, 24)
    out = cls_deconv(img, _delta(11).expand(2, 1, 11, 11), torch.zeros(2, 4, 3, 3))
    torch.testing.assert_close(out, img, atol=1e-5, rtol=0)


def test_cls_batched_over_channels_equals_one_channel_at_a_time() -> None:
    torch.manual_seed(0)
    img, kernel, p = torch.rand(2, 5, 30, 26), torch.rand(2, 1, 7, 7), torch.randn(2, 5, 3, 3)
    batched = cls_deconv(img, kernel, p)
    single = torch.cat([cls_deconv(img[:, c : c + 1], kernel, p[:, c : c + 1]) for c in range(5)], dim=1)
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=1e-5)


def test_cls_inverts_circular_blur_when_p_is_small() -> None:
    torch.manual_seed(0)
    img = torch.rand(1, 1, 32, 32)
    kernel = torch.tensor([[0.0, 0.1, 0.0], [0.1, 0.6, 0.1], [0.0, 0.1, 0.0]])[None, None]
    blurred = torch.fft.irfft2(psf2otf(kernel, (32, 32)) * torch.fft.rfft2(img), s=(32, 32))
    restored = cls_deconv(blurred, kernel, torch.zeros(1, 1, 3, 3))
    torch.testing.assert_close(restored, img, atol=1e-4, rtol=0)


def test_psf_otf_round_trip() -> None:
    kernel = torch.rand(3, 2, 9, 9)
    torch.testing.assert_close(otf2psf(psf2otf(kernel, (40, 36)), (40, 36), 9), kernel, atol=1e-6, rtol=0)


def test_kernel_from_images_recovers_a_circular_blur() -> None:
    torch.manual_seed(0)
    sharp = torch.rand(2, 3, 24, 24)
    kernel = torch.rand(1, 1, 5, 5)
    kernel = kernel / kernel.sum()
    blurred = torch.fft.irfft2(psf2otf(kernel, (24, 24)) * torch.fft.rfft2(sharp), s=(24, 24))
    recovered = blur_kernel_from_images(blurred, sharp, 5, eps=1e-20)
    torch.testing.assert_close(recovered, kernel.expand(2, 3, 5, 5), atol=1e-4, rtol=0)


@pytest.mark.parametrize("scale", [1 / 4, 1 / 3, 1 / 2, 2, 3, 4])
def test_imresize_keeps_a_constant_image_constant(scale: float) -> None:
    img = torch.full((2, 3, 23, 30), 0.37)
    out = imresize(img, scale)
    assert out.shape == (2, 3, int(np.ceil(23 * scale)), int(np.ceil(30 * scale)))
    torch.testing.assert_close(out, torch.full_like(out, 0.37), atol=1e-6, rtol=0)


def test_imresize_matrix_rows_sum_to_one_and_cover_tiny_inputs() -> None:
    for in_len, scale in [(2, 1 / 4), (3, 4), (50, 1 / 3), (7, 1 / 2)]:
        m = resize_matrix(in_len, int(np.ceil(in_len * scale)), scale)
        torch.testing.assert_close(m.sum(1), torch.ones(m.shape[0]), atol=1e-6, rtol=0)


def test_imresize_any_batch_shape_and_numpy_hwc_agree() -> None:
    torch.manual_seed(0)
    img = torch.rand(2, 2, 3, 16, 20)
    out = imresize(img, 1 / 2)
    assert out.shape == (2, 2, 3, 8, 10)
    torch.testing.assert_close(out[1, 0], imresize(img[1, 0], 1 / 2))
    torch.testing.assert_close(imresize(img[0, 0, 0], 1 / 2), out[0, 0, 0])
    hwc = imresize(img[0, 0].permute(1, 2, 0).numpy(), 1 / 2)
    assert hwc.dtype == np.float32
    np.testing.assert_allclose(hwc, out[0, 0].permute(1, 2, 0).numpy(), atol=1e-6)


def test_imresize_accepts_uint8_arrays_and_rejects_bad_scales() -> None:
    img = np.full((8, 8, 3), 200, dtype=np.uint8)
    np.testing.assert_allclose(imresize(img, 1 / 2), 200.0, atol=1e-3)
    with pytest.raises(ValueError):
        imresize(torch.rand(4, 4), 0)


def test_cls_deconv_crop_equals_slicing_the_full_solution() -> None:
    torch.manual_seed(0)
    img, kernel, grad_kernel = torch.rand(2, 4, 40, 36), torch.rand(2, 1, 9, 9), torch.randn(2, 4, 3, 3)
    full = cls_deconv(img, kernel, grad_kernel)
    torch.testing.assert_close(cls_deconv(img, kernel, grad_kernel, crop=9), full[..., 9:-9, 9:-9], atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "size,output_size,kernel", [((96, 96), (3, 3), 3), ((37, 50), (3, 3), 3), ((9, 12), (4, 5), 3), ((7, 7), 3, 5)]
)
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_conv_then_adaptive_pool_equals_pooling_the_convolution(size, output_size, kernel, layout) -> None:
    """Pooling first is exact for any bin edges (uneven, overlapping, bins wider than the map) and batch."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(6, 5, kernel).double()
    x = torch.randn(2, 6, *size, dtype=torch.float64).contiguous(memory_format=layout)
    expected = torch.nn.functional.adaptive_avg_pool2d(conv(x), output_size)
    torch.testing.assert_close(conv_then_adaptive_pool(x, conv, output_size), expected, rtol=1e-12, atol=1e-12)


def test_conv_then_adaptive_pool_gradients_and_bias_free_conv() -> None:
    torch.manual_seed(1)
    conv = torch.nn.Conv2d(4, 4, 3, bias=False).double()
    x = torch.randn(1, 4, 11, 10, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: conv_then_adaptive_pool(t, conv, (3, 3)), (x,))


def test_conv_then_adaptive_pool_rejects_padded_or_strided_convs() -> None:
    for conv in (torch.nn.Conv2d(2, 2, 3, padding=1), torch.nn.Conv2d(2, 2, 3, stride=2)):
        with pytest.raises(ValueError, match="plain valid convolution"):
            conv_then_adaptive_pool(torch.randn(1, 2, 9, 9), conv, 3)


def test_cached_matrices_made_in_inference_mode_serve_training_later() -> None:
    """psf2otf's DFT factors and the pooled conv's window means are cached: a first call under inference mode
    (testing) must not leave inference tensors that a later backward (training) cannot save."""
    conv = torch.nn.Conv2d(2, 2, 3)
    sizes = (37, 29)
    with torch.inference_mode():
        psf2otf(torch.rand(1, 1, 5, 5), sizes)
        conv_then_adaptive_pool(torch.randn(1, 2, *sizes), conv, (3, 3))
    psf = torch.rand(1, 1, 5, 5, requires_grad=True)
    x = torch.randn(1, 2, *sizes, requires_grad=True)
    (psf2otf(psf, sizes).abs().sum() + conv_then_adaptive_pool(x, conv, (3, 3)).sum()).backward()
    assert psf.grad is not None and x.grad is not None

