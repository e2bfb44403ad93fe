"""Tiling: full coverage, one kernel per image, agreement with whole-image inference, bounded memory."""

from __future__ import annotations

import cv2
import pytest
import torch
import torch.nn as nn

from dcls.evaluation import InferenceSettings, SuperResolver
from dcls.evaluation.tiling import feather_window, restore_tiled, tile_starts
from dcls.utils.codec import decode


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1.0 / ((a - b) ** 2).mean()))


class _Recorder:
    """Forward hooks on every submodule: calls per top-level part, batch sizes, largest activation."""

    def __init__(self, model: nn.Module) -> None:
        self.largest = 0
        self.calls = {"Estimator": 0, "Restorer": 0}
        self.restorer_batches: list[int] = []
        self.estimator_inputs: list[tuple[int, ...]] = []
        self.kernels: list[torch.Tensor] = []
        for module in model.modules():
            module.register_forward_hook(self._any)
        model.Estimator.register_forward_hook(self._estimator)
        model.Restorer.register_forward_hook(self._restorer)

    def _any(self, module, inputs, output) -> None:
        outs = output if isinstance(output, (tuple, list)) else (output,)
        self.largest = max([self.largest] + [o.numel() for o in outs if isinstance(o, torch.Tensor)])

    def _estimator(self, module, inputs, output) -> None:
        self.calls["Estimator"] += 1
        self.estimator_inputs.append(tuple(inputs[0].shape))

    def _restorer(self, module, inputs, output) -> None:
        self.calls["Restorer"] += 1
        self.restorer_batches.append(inputs[0].shape[0])
        self.kernels.append(inputs[1].clone())


@pytest.mark.parametrize(("length", "tile", "overlap"), [(100, 32, 8), (32, 32, 8), (20, 32, 8), (97, 40, 0)])
def test_tiles_cover_the_image_with_equal_sizes(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    size = min(tile, length)
    covered = torch.zeros(length, dtype=torch.bool)
    for s in starts:
        assert s >= 0 and s + size <= length
        covered[s : s + size] = True
    assert covered.all()
    assert all(b - a <= size - overlap for a, b in zip(starts, starts[1:]))
    n = len(starts)  # the fewest: one tile less could not span the image with that overlap
    assert n == 1 or (n - 1) * size - (n - 2) * overlap < length


def test_feather_window_ramps_and_never_vanishes():
    w = feather_window(12, 20, 4)[0, 0]
    assert w.min() > 0 and w.max() == 1
    assert torch.all(w[:, :5].diff(dim=1) > 0) and torch.all(w[6, 5:15] == 1)


def test_tiled_matches_whole_image_with_one_kernel_and_less_memory(tiny_model, make_photo):
    lr = decode(make_photo(112, 144)).rgb
    whole_rec = _Recorder(tiny_model)
    whole, kernel = SuperResolver(tiny_model, 4, InferenceSettings(), "cpu")(lr)
    whole_largest = whole_rec.largest

    model = type(tiny_model)(upscale=4, kernel_size=21, nf=16, nb=1, ng=1, input_para=16)
    model.load_state_dict(tiny_model.state_dict())
    rec = _Recorder(model)
    settings = InferenceSettings(tile=40, tile_overlap=12, tile_batch=2)
    tiled, tiled_kernel = SuperResolver(model, 4, settings, "cpu")(lr)

    assert tiled.shape == whole.shape == (1, 3, 448, 576)
    assert _psnr(tiled, whole) >= 40.0
    assert torch.equal(tiled_kernel, kernel)
    # The kernel is estimated once, on the whole image, and every tile batch is restored with it.
    assert rec.calls["Estimator"] == 1 and rec.estimator_inputs == [(1, 3, 112, 144)]
    assert rec.calls["Restorer"] == 10 and set(rec.restorer_batches) == {2}  # 4 x 5 tiles, 2 per batch
    assert all(torch.equal(k, kernel.expand(2, 1, 21, 21)) for k in rec.kernels)
    assert rec.largest * 2 < whole_largest


def test_tiles_without_overlap_show_seams(tiny_model, make_photo):
    """The overlap is what makes tiles agree: without it the tiled result is measurably worse."""
    lr = decode(make_photo(112, 144)).rgb
    whole, _ = SuperResolver(tiny_model, 4, InferenceSettings(), "cpu")(lr)
    seams, _ = SuperResolver(tiny_model, 4, InferenceSettings(tile=40, tile_overlap=0), "cpu")(lr)
    blended, _ = SuperResolver(tiny_model, 4, InferenceSettings(tile=40, tile_overlap=12), "cpu")(lr)
    assert _psnr(blended, whole) > _psnr(seams, whole) + 3


def test_tile_batch_does_not_change_the_result(tiny_model, make_photo):
    lr = decode(make_photo(64, 80)).rgb
    one, _ = SuperResolver(tiny_model, 4, InferenceSettings(tile=32, tile_overlap=8, tile_batch=1), "cpu")(lr)
    many, _ = SuperResolver(tiny_model, 4, InferenceSettings(tile=32, tile_overlap=8, tile_batch=5), "cpu")(lr)
    torch.testing.assert_close(one, many, atol=1e-5, rtol=0)


def test_large_image_kernel_from_central_crop(tiny_model, make_photo):
    lr = decode(make_photo(90, 130)).rgb
    rec = _Recorder(tiny_model)
    sr, kernel = SuperResolver(tiny_model, 4, InferenceSettings(tile=48, kernel_crop=32), "cpu")(lr)
    assert rec.estimator_inputs == [(1, 3, 32, 32)]
    crop_kernel = tiny_model.Estimator(lr[..., 29:61, 49:81])[0, 0]
    torch.testing.assert_close(kernel, crop_kernel)
    assert sr.shape == (1, 3, 360, 520)


def test_tiny_image_is_padded_for_the_network_and_cropped_back(tiny_model, make_photo):
    lr = decode(make_photo(5, 7)).rgb
    sr, kernel = SuperResolver(tiny_model, 4, InferenceSettings(), "cpu")(lr)
    assert sr.shape == (1, 3, 20, 28) and kernel.shape == (21, 21)
    assert float(kernel.sum()) == pytest.approx(1.0, abs=1e-5)


def test_restore_tiled_runs_tiles_on_the_given_device():
    """The image and the blend stay where the image is; only tiles go to ``device``."""
    seen = []

    def restorer(tiles: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
        seen.append((tiles.device.type, kernels.device.type, tuple(tiles.shape)))
        return torch.nn.functional.interpolate(tiles, scale_factor=2, mode="nearest")

    lr = torch.rand(1, 3, 30, 50)
    out = restore_tiled(restorer, lr, torch.ones(1, 1, 3, 3) / 9, 2, 20, 6, batch_size=3, device="cpu")
    torch.testing.assert_close(out, torch.nn.functional.interpolate(lr, scale_factor=2, mode="nearest"))
    assert all(s[2][1:] == (3, 20, 20) for s in seen) and sum(s[2][0] for s in seen) == 2 * 4


def test_photo_helper_is_bgr_uint8(make_photo):
    img = make_photo(10, 12)
    assert img.shape == (10, 12, 3) and img.dtype.name == "uint8" and cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).std() > 0
