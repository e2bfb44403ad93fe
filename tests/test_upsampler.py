"""Sub-pixel upsampler: evaluation in pieces (batch chunks, row bands) equals the whole evaluation."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from dcls.archs import DCLS, upsampler
from dcls.archs.dcls_arch import _upsampler
from dcls.archs.upsampler import SubPixelUpsampler, _rows_needed


def _whole(module: SubPixelUpsampler, x: torch.Tensor) -> torch.Tensor:
    return nn.Sequential.forward(module, x)


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("piece_bytes", [1, 20_000, 200_000])
def test_pieces_equal_the_whole_image(
    monkeypatch: pytest.MonkeyPatch, scale: int, batch: int, layout: torch.memory_format, piece_bytes: int
) -> None:
    """Tiny budgets force one-LR-row bands (odd sizes, image borders) and chunks of the batch."""
    torch.manual_seed(scale)
    module = _upsampler(8, 3, scale)
    x = torch.randn(batch, 8, 13, 7).contiguous(memory_format=layout)
    monkeypatch.setattr(upsampler, "PIECE_BYTES", piece_bytes)
    with torch.no_grad():
        torch.testing.assert_close(module(x), _whole(module, x), atol=1e-6, rtol=1e-6)


def test_band_gradients_equal_the_whole_image(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    module = _upsampler(8, 3, 4)
    x = torch.randn(2, 8, 9, 6, requires_grad=True)
    grads = []
    for budget in (1, 2**40):
        monkeypatch.setattr(upsampler, "PIECE_BYTES", budget)
        module.zero_grad()
        x.grad = None
        (module(x) ** 2).sum().backward()
        grads.append([x.grad.clone()] + [p.grad.clone() for p in module.parameters()])
    for banded, whole in zip(*grads):
        torch.testing.assert_close(banded, whole, atol=1e-5, rtol=1e-5)


def test_rows_needed_adds_one_halo_row_per_conv_and_divides_at_each_shuffle() -> None:
    module = _upsampler(8, 3, 4)  # conv, shuffle 2, conv, shuffle 2, conv: output heights 10, 20, 20, 40, 40
    heights = [10, 20, 20, 40, 40]
    assert _rows_needed(list(module), heights, 16, 24) == [(2, 8), (3, 7), (6, 14), (7, 13), (15, 25), (16, 24)]
    assert _rows_needed(list(module), heights, 0, 4) == [(0, 3), (0, 2), (0, 4), (0, 3), (0, 5), (0, 4)]


def test_state_dict_names_are_the_sequential_ones() -> None:
    net = DCLS(nf=16, nb=1, ng=1, input_para=8, upscale=4)
    names = [n for n in net.state_dict() if n.startswith("Restorer.upscale.")]
    assert names == [f"Restorer.upscale.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")]
    assert isinstance(net.Restorer.upscale, SubPixelUpsampler)
