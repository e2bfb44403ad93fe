"""Every speed-up of ``dcls.accel`` against the reference network: same values (forward and gradients), same
parameter names, the right modules swapped for each device and use."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn

from dcls.accel import accelerate
from dcls.accel.attention import FusedDPCAB, InPlaceDPCAG
from dcls.accel.cls import PooledCLS
from dcls.accel.upsampler import FoldedUpsampler, PiecewiseUpsampler
from dcls.archs import CLS, DCLS
from dcls.archs.blocks import DPCAB, DPCAG

TINY = {"nf": 16, "nb": 2, "ng": 2, "in_nc": 3, "input_para": 8}


def _pair(training: bool, **config: int) -> tuple[DCLS, DCLS]:
    torch.manual_seed(0)
    reference = DCLS(**{**TINY, **config}).train(training)
    return reference, accelerate(copy.deepcopy(reference), "cpu", training=training)


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm().clamp_min(1e-12)).item()


@pytest.mark.parametrize(("upscale", "kernel_size"), [(2, 11), (3, 21), (4, 21), (4, 31), (1, 21)])
def test_inference_equals_the_reference_network(upscale: int, kernel_size: int) -> None:
    reference, fast = _pair(False, upscale=upscale, kernel_size=kernel_size)
    lr = torch.rand(2, 3, 23, 19)
    with torch.no_grad():
        sr_ref, k_ref = reference(lr)
        sr, k = fast(lr)
    torch.testing.assert_close(sr, sr_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(k, k_ref, atol=0, rtol=0)  # the Estimator is untouched
    assert not fast.training
    assert sr.is_contiguous() or upscale == 1  # the upsamplers hand back NCHW; x1 has none


@pytest.mark.parametrize("upscale", [2, 4])
def test_training_gradients_equal_the_reference_network(upscale: int) -> None:
    """In float64, so that the comparison sees the algorithm, not float32 rounding in tiny gradients."""
    reference, fast = (net.double() for net in _pair(True, upscale=upscale, kernel_size=21))
    lr = torch.rand(3, 3, 24, 24, dtype=torch.float64)
    hr = torch.rand(3, 3, 24 * upscale, 24 * upscale, dtype=torch.float64)
    for net in (reference, fast):
        sr, kernel = net(lr)
        ((sr - hr).abs().mean() + kernel.square().sum()).backward()
    grads = dict(reference.named_parameters())
    assert fast.training
    for name, param in fast.named_parameters():
        assert _relative(param.grad, grads[name].grad) < 1e-9, name


@pytest.mark.parametrize("training", [False, True])
def test_parameters_and_checkpoints_are_untouched(training: bool) -> None:
    """Same names, order, shapes and values; the reference's state_dict loads strictly and reproduces it."""
    reference, fast = _pair(training, upscale=4, kernel_size=21)
    assert list(fast.state_dict()) == list(reference.state_dict())
    for (name, a), b in zip(fast.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(a, b), name
    other = DCLS(**TINY, upscale=4)
    fast.load_state_dict(other.state_dict(), strict=True)
    lr = torch.rand(1, 3, 20, 20)
    with torch.no_grad():
        torch.testing.assert_close(fast(lr)[0], other.eval()(lr)[0], atol=1e-5, rtol=1e-5)


def test_the_modules_swapped_on_the_cpu() -> None:
    _, inference = _pair(False, upscale=4, kernel_size=21)
    _, training = _pair(True, upscale=4, kernel_size=21)
    for net, group, upsampler in ((inference, InPlaceDPCAG, FoldedUpsampler), (training, DPCAG, PiecewiseUpsampler)):
        restorer = net.Restorer
        assert type(restorer.head2) is PooledCLS and type(restorer.upscale) is upsampler
        assert all(type(g) is group for g in restorer.body)
        assert all(type(b) is FusedDPCAB for g in restorer.body for b in g.body)
        convs = [m.weight for m in restorer.modules() if isinstance(m, nn.Conv2d)]
        assert all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
        assert all(m.weight.is_contiguous() for m in net.Estimator.modules() if isinstance(m, nn.Conv2d))


def test_a_second_call_changes_nothing() -> None:
    _, fast = _pair(False, upscale=2, kernel_size=11)
    before = [(name, type(m)) for name, m in fast.named_modules()]
    accelerate(fast, "cpu", training=False)
    assert [(name, type(m)) for name, m in fast.named_modules()] == before


def test_cpu_only_speed_ups_stay_off_elsewhere() -> None:
    """On another device (here ``meta``, which needs no hardware) the layout and upsampler stay the reference's."""
    torch.manual_seed(0)
    net = accelerate(DCLS(**TINY, upscale=4), "meta", training=False)
    assert type(net.Restorer.upscale) is nn.Sequential and type(net.Restorer.head2) is PooledCLS
    assert all(m.weight.is_contiguous() for m in net.modules() if isinstance(m, nn.Conv2d))


def test_fused_block_equals_the_reference_block_with_and_without_reusing_inputs() -> None:
    torch.manual_seed(1)
    block = DPCAB(16, 4)
    fused = FusedDPCAB(block)
    x0, x1 = torch.randn(2, 16, 9, 11, requires_grad=True), torch.randn(2, 4, 9, 11, requires_grad=True)
    want = block(x0, x1)
    got = fused(x0, x1)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
    sum(t.sum() for t in got).backward()
    grads = [p.grad.clone() for p in block.parameters()]
    block.zero_grad()
    sum(t.sum() for t in want).backward()
    for a, b in zip(grads, (p.grad for p in block.parameters())):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        y0, y1 = x0.detach().clone(), x1.detach().clone()
        out = fused(y0, y1, reuse_inputs=True)
    assert out[0].data_ptr() == y0.data_ptr() and out[1].data_ptr() == y1.data_ptr()
    torch.testing.assert_close(out[0], want[0].detach(), atol=1e-6, rtol=1e-6)


def test_in_place_group_leaves_its_inputs_alone_and_stays_out_of_place_under_autograd() -> None:
    torch.manual_seed(0)
    group = DPCAG(16, 4, 3, 3, nb=3)
    fast = InPlaceDPCAG(copy.deepcopy(group))
    for i, block in enumerate(fast.body):
        fast.body[i] = FusedDPCAB(block)
    x0, x1 = torch.randn(2, 16, 9, 11), torch.randn(2, 4, 9, 11)
    before = (x0.clone(), x1.clone())
    with torch.no_grad():
        got, want = fast(x0, x1), group(x0, x1)
    assert torch.equal(x0, before[0]) and torch.equal(x1, before[1])
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
    sum(t.sum() for t in fast(x0, x1)).backward()  # would fail on modified saved tensors if run in place
    assert all(p.grad is not None for p in fast.parameters())


def test_pooled_cls_equals_the_reference_and_keeps_the_input_layout() -> None:
    torch.manual_seed(2)
    cls = CLS(32).double()
    pooled = PooledCLS(cls)
    feats = torch.randn(2, 8, 40, 33, dtype=torch.float64)
    torch.testing.assert_close(pooled.smoothness_operator(feats), cls.grad_filter(feats), rtol=1e-12, atol=1e-12)
    x = torch.randn(2, 32, 30, 27, dtype=torch.float64)
    kernel = torch.softmax(torch.randn(2, 1, 21 * 21, dtype=torch.float64), -1).view(2, 1, 21, 21)
    torch.testing.assert_close(pooled(x, kernel), cls(x, kernel), rtol=1e-10, atol=1e-10)
    out = pooled(x.contiguous(memory_format=torch.channels_last), kernel)
    assert out.is_contiguous(memory_format=torch.channels_last)
