"""DCLS architecture: shapes for every scale and kernel size, errors, registry, gradient routing."""

from __future__ import annotations

import pytest
import torch

from dcls.archs import ARCH_REGISTRY, DCLS
from dcls.archs.spec import FILTER_STRUCTURES

TINY = {"nf": 16, "nb": 1, "ng": 1, "in_nc": 3, "input_para": 8}


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("kernel_size", sorted(FILTER_STRUCTURES))
def test_output_shapes_and_kernel_normalisation(scale: int, kernel_size: int) -> None:
    torch.manual_seed(0)
    net = DCLS(**TINY, upscale=scale, kernel_size=kernel_size).eval()
    lr = torch.rand(2, 3, 13, 17)
    with torch.no_grad():
        sr, kernel = net(lr)
    assert sr.shape == (2, 3, 13 * scale, 17 * scale)
    assert kernel.shape == (2, 1, kernel_size, kernel_size)
    assert torch.allclose(kernel.sum(dim=(2, 3)), torch.ones(2, 1), atol=1e-5)
    assert sr.min() >= 0 and sr.max() <= 1


def test_receptive_field_of_each_filter_structure_is_the_kernel_size() -> None:
    for kernel_size, sizes in FILTER_STRUCTURES.items():
        assert 1 + sum(f - 1 for f in sizes) == kernel_size


@pytest.mark.parametrize("bad", [{"kernel_size": 15}, {"upscale": 8}, {"nf": 8}, {"nf": 18}])
def test_unsupported_configuration_is_a_value_error_at_construction(bad: dict) -> None:
    with pytest.raises(ValueError):
        DCLS(**{**TINY, **bad})


def test_registry_builds_the_model_and_rejects_unknown_names() -> None:
    net = ARCH_REGISTRY.build("DCLS", **TINY, upscale=2, kernel_size=11)
    assert isinstance(net, DCLS)
    assert not any(k.startswith("module.") for k in net.state_dict())
    with pytest.raises(KeyError, match="unknown architecture"):
        ARCH_REGISTRY.get("RRDBNet")


def test_restorer_sees_a_detached_kernel() -> None:
    """The pixel loss must not train the estimator: it learns only from the kernel loss.

    The kernel loss weights each entry differently: ``kernel.sum()`` is 1 for every kernel, so its gradient is zero
    by construction and nonzero only by rounding; it serves here as the measure of that rounding noise.
    """
    torch.manual_seed(0)
    net = DCLS(**TINY, upscale=2, kernel_size=11)
    sr, kernel = net(torch.rand(1, 3, 12, 12))
    estimator, restorer = list(net.Estimator.parameters()), list(net.Restorer.parameters())

    def norm(grads: tuple[torch.Tensor | None, ...]) -> float:
        return sum(g.double().square().sum().item() for g in grads if g is not None) ** 0.5

    pixel_loss = torch.nn.functional.l1_loss(sr, torch.rand_like(sr))
    assert norm(torch.autograd.grad(pixel_loss, estimator, allow_unused=True, retain_graph=True)) == 0.0
    assert norm(torch.autograd.grad(pixel_loss, restorer, allow_unused=True)) > 1e-2
    kernel_loss = (kernel * torch.rand_like(kernel)).sum()
    signal = norm(torch.autograd.grad(kernel_loss, estimator, retain_graph=True))
    noise = norm(torch.autograd.grad(kernel.sum(), estimator))
    assert signal > 1e-2 and signal > 1e3 * noise


def test_restorer_residual_blocks_start_small_and_estimator_at_full_scale() -> None:
    """Initialisation as the original: Restorer residual convs kaiming x0.1, Estimator re-initialised at x1."""
    torch.manual_seed(0)
    net = DCLS(nf=64, nb=1, ng=1, input_para=16, upscale=2, kernel_size=11)
    restorer_std = net.Restorer.feature_block[0].conv1.weight.std().item()
    estimator_std = net.Estimator.body[0][0].conv1.weight.std().item()
    expected = (2.0 / (64 * 9)) ** 0.5
    assert restorer_std == pytest.approx(0.1 * expected, rel=0.1)
    assert estimator_std == pytest.approx(expected, rel=0.1)
    assert not net.Estimator.dec[0].bias.any()


def test_forward_follows_the_input_dtype_and_device() -> None:
    """No hard-coded device or dtype: a float64 model on float64 input stays float64 end to end."""
    torch.manual_seed(0)
    net = DCLS(**TINY, upscale=2, kernel_size=11).double()
    sr, kernel = net(torch.rand(1, 3, 10, 10, dtype=torch.float64))
    assert sr.dtype == kernel.dtype == torch.float64


@pytest.mark.gpu
def test_cuda_forward_matches_cpu() -> None:
    torch.manual_seed(0)
    net = DCLS(**TINY, upscale=4, kernel_size=21).eval()
    lr = torch.rand(2, 3, 16, 16)
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # TF32 convolutions round to 10-bit mantissas (1e-3 differences)
    try:
        with torch.no_grad():
            sr_cpu, k_cpu = net(lr)
            sr_gpu, k_gpu = net.to("cuda")(lr.to("cuda"))
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    torch.testing.assert_close(sr_gpu.cpu(), sr_cpu, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(k_gpu.cpu(), k_cpu, atol=1e-5, rtol=1e-4)
