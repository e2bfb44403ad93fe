"""The accelerated sub-pixel upsampler: folded (inference) and in pieces (batch chunks, row bands; training)
it equals the reference layers."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from dcls.accel import accelerate
from dcls.accel.linear_fold import fold_linear_stack, stack_geometry
from dcls.accel.upsampler import FoldedUpsampler, PiecewiseUpsampler, rows_needed
from dcls.archs import DCLS
from dcls.archs.dcls_arch import _upsampler


def _whole(module: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    return nn.Sequential.forward(module, x)


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("piece_bytes", [1, 20_000, 200_000])
def test_pieces_equal_the_whole_image(scale: int, batch: int, layout: torch.memory_format, piece_bytes: int) -> None:
    """Tiny budgets force one-LR-row bands (odd sizes, image borders) and chunks of the batch."""
    torch.manual_seed(scale)
    module = PiecewiseUpsampler(_upsampler(8, 3, scale), piece_bytes)
    x = torch.randn(batch, 8, 13, 7).contiguous(memory_format=layout)
    pieces = module(x)
    torch.testing.assert_close(pieces, _whole(module, x), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("size", [(6, 6), (13, 7), (40, 33)])
def test_folded_inference_equals_the_layers(
    scale: int, batch: int, layout: torch.memory_format, size: tuple[int, int]
) -> None:
    """Every output pixel, the image borders (recomputed from strips) included, down to the smallest input
    that is folded (twice the edge strip)."""
    torch.manual_seed(scale)
    module = FoldedUpsampler(_upsampler(16, 3, scale))
    x = torch.randn(batch, 16, *size).contiguous(memory_format=layout)
    with torch.no_grad():
        folded, plain = module(x), _whole(module, x)
    assert module._fold_cache is not None, "the folded path ran"
    torch.testing.assert_close(folded, plain, atol=2e-6, rtol=1e-5)


def test_folded_weights_follow_every_weight_change() -> None:
    """In-place changes (optimizer steps, ``.data`` writes, ``load_state_dict``) and new dtypes refold."""
    torch.manual_seed(0)
    module = FoldedUpsampler(_upsampler(8, 3, 4))
    x = torch.randn(1, 8, 9, 10)
    with torch.no_grad():
        module(x)
        module[2].weight.data.mul_(-0.5)  # no version-counter bump through .data
        torch.testing.assert_close(module(x), _whole(module, x), atol=2e-6, rtol=1e-5)
        other = _upsampler(8, 3, 4)
        module.load_state_dict(other.state_dict())
        torch.testing.assert_close(module(x), _whole(other, x), atol=2e-6, rtol=1e-5)
        module.double()
        torch.testing.assert_close(module(x.double()), _whole(module, x.double()), atol=1e-12, rtol=1e-12)


def test_inputs_below_two_edge_strips_and_autograd_run_the_plain_layers() -> None:
    """Too small to fold, or gradients wanted (they must reach the real layers): the layers as they are."""
    module = FoldedUpsampler(_upsampler(8, 3, 2))
    with torch.no_grad():
        out = module(torch.randn(1, 8, 5, 9))
    assert out.shape == (1, 3, 10, 18) and module._fold_cache is None
    x = torch.randn(1, 8, 12, 12)
    module(x).sum().backward()
    assert module._fold_cache is None and all(p.grad is not None for p in module.parameters())


def test_fold_geometry_and_weight_shape() -> None:
    module = _upsampler(8, 3, 4)
    assert stack_geometry(list(module)) == (4, 2)  # 1 + 1/2 + 1/4 LR pixels of reach, rounded up
    weight, bias, factor = fold_linear_stack(list(module), torch.float32)
    assert weight.shape == (3 * 16, 8, 5, 5) and bias.shape == (48,) and factor == 4


def test_band_gradients_equal_the_whole_image() -> None:
    torch.manual_seed(0)
    reference = _upsampler(8, 3, 4)
    x = torch.randn(2, 8, 9, 6, requires_grad=True)
    grads = []
    for budget in (1, 2**40):
        module = PiecewiseUpsampler(reference, budget)
        module.zero_grad()
        x.grad = None
        (module(x) ** 2).sum().backward()
        grads.append([x.grad.clone()] + [p.grad.clone() for p in module.parameters()])
    for banded, whole in zip(*grads):
        torch.testing.assert_close(banded, whole, atol=1e-5, rtol=1e-5)


def test_rows_needed_adds_one_halo_row_per_conv_and_divides_at_each_shuffle() -> None:
    module = _upsampler(8, 3, 4)  # conv, shuffle 2, conv, shuffle 2, conv: output heights 10, 20, 20, 40, 40
    heights = [10, 20, 20, 40, 40]
    assert rows_needed(list(module), heights, 16, 24) == [(2, 8), (3, 7), (6, 14), (7, 13), (15, 25), (16, 24)]
    assert rows_needed(list(module), heights, 0, 4) == [(0, 3), (0, 2), (0, 4), (0, 3), (0, 5), (0, 4)]


@pytest.mark.parametrize("training", [False, True])
def test_state_dict_names_are_the_sequential_ones(training: bool) -> None:
    net = accelerate(DCLS(nf=16, nb=1, ng=1, input_para=8, upscale=4), "cpu", training=training)
    names = [n for n in net.state_dict() if n.startswith("Restorer.upscale.")]
    assert names == [f"Restorer.upscale.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")]
    assert isinstance(net.Restorer.upscale, PiecewiseUpsampler if training else FoldedUpsampler)
