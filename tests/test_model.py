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
    """The pixel loss must not train the estimator: it learns only from the kernel loss."""
    torch.manual_seed(0)
    net = DCLS(**TINY, upscale=2, kernel_size=11)
    sr, kernel = net(torch.rand(1, 3, 12, 12))
    sr.mean().backward()
    assert all(p.grad is None or not p.grad.any() for p in net.Estimator.parameters())
    assert any(p.grad is not None and p.grad.any() for p in net.Restorer.parameters())
    kernel.sum().backward()
    assert any(p.grad is not None and p.grad.any() for p in net.Estimator.parameters())


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


def test_feature_init_scale_rescales_only_the_feature_blocks_initial_weights() -> None:
    """The default is the original initialisation (0.1x Kaiming); another scale multiplies exactly the feature
    block's convolution weights, drawing the same random numbers."""
    torch.manual_seed(0)
    default = DCLS(**TINY).state_dict()
    torch.manual_seed(0)
    larger = DCLS(**TINY, feature_init_scale=0.4).state_dict()
    rescaled = {name for name in default if not torch.equal(default[name], larger[name])}
    assert rescaled == {f"Restorer.feature_block.{i}.conv{j}.weight" for i in range(3) for j in (1, 2)}
    for name in rescaled:
        torch.testing.assert_close(larger[name], 4 * default[name])
