"""The speed-up layer can be seen and switched off: the log names every swap; ``accel: false`` and ``accelerate=False``
run the reference network as written; a user's subclass of a reference module is never swapped; the float32
regions under mixed precision belong to the reference modules themselves."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

import dcls.archs.dcls_arch as dcls_arch
from dcls import BlindSR
from dcls.accel import accelerate
from dcls.accel.attention import FusedDPCAB
from dcls.accel.cls import PooledCLS
from dcls.archs import CLS, DCLS, Estimator
from dcls.archs.blocks import DPCAB, DPCAG
from dcls.modeling import build_model
from dcls.weights import save_network

TINY = {"nf": 8, "nb": 2, "ng": 1, "input_para": 8, "kernel_size": 21, "reduction": 2}


class MyBlock(DPCAB):
    """A user's block: the second path's attention left out."""

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f1, f2 = self.body1(x0), self.body2(x1)
        return x0 + self.CA_body1(torch.cat([f1, f2], dim=1)), x1 + f2


class MyCLS(CLS):
    """A user's CLS: the smoothness operator halved."""

    def forward(self, x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        return 0.5 * super().forward(x, kernel)


def _network() -> DCLS:
    torch.manual_seed(0)
    return DCLS(**TINY)


def test_the_log_names_each_swap_and_how_many(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="dcls"):
        accelerate(_network(), "cpu", training=False)
    assert ("speed-ups for inference on cpu: 1 CLS -> PooledCLS, 2 DPCAB -> FusedDPCAB, 1 DPCAG -> InPlaceDPCAG, "
            "1 Sequential -> FoldedUpsampler; channels-last Restorer weights") in caplog.text


def test_subclasses_of_reference_modules_run_as_written(caplog: pytest.LogCaptureFixture) -> None:
    """A user's block and CLS stay as they are (and the group holding the user's block is not made in-place);
    the reference modules beside them are still swapped; the outputs are the user's network's."""
    net = _network()
    group = net.Restorer.body[0]
    group.body[0] = MyBlock(8, 4)
    net.Restorer.head2 = MyCLS(8, reduction=2)
    reference = _network()
    reference.load_state_dict(net.state_dict())
    reference.Restorer.body[0].body[0] = MyBlock(8, 4)
    reference.Restorer.head2 = MyCLS(8, reduction=2)
    reference.load_state_dict(net.state_dict())
    with caplog.at_level(logging.INFO, logger="dcls"):
        fast = accelerate(net, "cpu", training=False)
    assert type(fast.Restorer.head2) is MyCLS and type(fast.Restorer.body[0]) is DPCAG
    assert type(fast.Restorer.body[0].body[0]) is MyBlock and type(fast.Restorer.body[0].body[1]) is FusedDPCAB
    assert "1 DPCAB -> FusedDPCAB" in caplog.text and "PooledCLS" not in caplog.text
    lr = torch.rand(1, 3, 20, 20)
    with torch.no_grad():
        torch.testing.assert_close(fast(lr)[0], reference.eval()(lr)[0], atol=1e-5, rtol=1e-5)


def test_a_subclassed_restorer_keeps_its_upsampler() -> None:
    class MyRestorer(dcls_arch.Restorer):
        pass

    net = _network()
    restorer = MyRestorer(nf=8, nb=2, ng=1, reduction=2)
    restorer.load_state_dict(net.Restorer.state_dict())
    net.Restorer = restorer
    fast = accelerate(net, "cpu", training=False)
    assert type(fast.Restorer.upscale) is nn.Sequential  # only the reference Restorer's stack is folded
    assert type(fast.Restorer.head2) is PooledCLS  # a reference module inside the subclass is still swapped


@pytest.mark.parametrize("training", [False, True])
def test_build_model_without_speed_ups_is_the_reference_network(tmp_path: Path, training: bool,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    weights = tmp_path / "w.pth"
    save_network(_network(), weights)
    network = {"which_model_G": "DCLS", "setting": {**TINY, "upscale": 4}}
    with caplog.at_level(logging.INFO, logger="dcls"):
        plain = build_model(network, "cpu", weights=weights, training=training, accelerate=False)
    assert "speed-ups off: the reference network runs as written" in caplog.text
    assert "speed-ups for" not in caplog.text
    reference_types = {type(m) for m in _network().modules()}
    assert {type(m) for m in plain.modules()} == reference_types and plain.training == training
    fast = build_model(network, "cpu", weights=weights, training=training)
    assert {type(m) for m in fast.modules()} != reference_types
    lr = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        for a, b in zip(plain.eval()(lr), fast.eval()(lr)):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_blindsr_from_checkpoint_without_speed_ups(tmp_path: Path) -> None:
    weights = tmp_path / "w.pth"
    sizes = {"nf": 16, "nb": 1, "ng": 1, "input_para": 8}
    torch.manual_seed(0)
    save_network(DCLS(**sizes), weights)
    plain = BlindSR.from_checkpoint(weights, scale=4, device="cpu", accelerate=False, **sizes)
    fast = BlindSR.from_checkpoint(weights, scale=4, device="cpu", **sizes)
    assert not any(isinstance(m, (FusedDPCAB, PooledCLS)) for m in plain.resolver.model.modules())
    assert any(isinstance(m, FusedDPCAB) for m in fast.resolver.model.modules())
    image = (np.random.default_rng(0).random((24, 20, 3)) * 255).astype(np.uint8)
    a, b = plain.upscale(image), fast.upscale(image)
    assert np.abs(a.image.astype(int) - b.image.astype(int)).max() <= 1
    np.testing.assert_allclose(a.kernel, b.kernel, atol=1e-6)


def test_the_float32_regions_are_in_the_reference_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under bfloat16 autocast the reference Estimator synthesises its kernel in float32 (summing to 1) and the
    reference CLS solves in float32: no speed-up is needed for mixed precision to be right."""
    seen: list[torch.dtype] = []
    solve = dcls_arch.cls_deconv

    def recording(padded: torch.Tensor, kernel: torch.Tensor, smoothness: torch.Tensor, crop: int) -> torch.Tensor:
        seen.extend([padded.dtype, kernel.dtype, smoothness.dtype])
        return solve(padded, kernel, smoothness, crop=crop)

    monkeypatch.setattr(dcls_arch, "cls_deconv", recording)
    net = _network().eval()
    lr = torch.rand(2, 3, 24, 24)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        sr, kernel = net(lr)
        latent = net.Estimator.latent(lr)
    assert latent.dtype == torch.bfloat16  # the feature layers follow autocast
    assert kernel.dtype == torch.float32
    torch.testing.assert_close(kernel.sum(dim=(2, 3)), torch.ones(2, 1))
    assert seen == [torch.float32] * 3
    assert isinstance(net.Estimator, Estimator) and sr.shape == (2, 3, 96, 96)
