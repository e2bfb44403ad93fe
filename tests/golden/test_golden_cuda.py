"""The golden comparisons that exercise device code (model, CLS, blur, resize, kernel loss, training step) on CUDA.

TF32 is switched off so that CUDA computes in full float32, as the reference did on the CPU; the
tolerances are those of the CPU checks (tests/golden/tolerances.py, derived in tests/golden/TOLERANCES.md from
the original's own float32 spread, which bounds any full-float32 device). Skipped without CUDA (marker ``gpu``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from dcls.accel import accelerate
from dcls.archs import DCLS
from dcls.degradation.synthesis import DegradedBatch, batch_blur
from dcls.losses import KernelCorrectionLoss, build_loss_terms, correct_kernel
from dcls.ops.fft import cls_deconv
from dcls.ops.imresize import imresize
from dcls.step import compute_losses

from . import tolerances as tol
from .tolerances import Tolerance

pytestmark = [pytest.mark.golden, pytest.mark.gpu]

CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def full_fp32() -> Iterator[None]:
    """Disable TF32 matmuls/convolutions for the duration of a test."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _assert_close(name: str, got: torch.Tensor, want: torch.Tensor, tolerance: Tolerance) -> None:
    assert got.device.type == "cuda", f"{name} was not computed on CUDA"
    assert got.shape == want.shape, f"{name}: shape {tuple(got.shape)} != {tuple(want.shape)}"
    diff, bound = tolerance.error(got.detach().cpu(), want), tolerance.bound(want)
    assert diff <= bound, f"{name}: diff {diff:.3g} > {bound:.3g} ({tolerance.name}) on CUDA"


def _cuda_model(case: dict, training: bool, accelerated: bool) -> DCLS:
    net = DCLS(**case["config"])
    net.load_state_dict(case["state_dict"], strict=True)
    return accelerate(net, CUDA, training=training) if accelerated else net.to(CUDA).train(training)


@pytest.mark.parametrize("accelerated", [False, True], ids=["reference", "accelerated"])
def test_forward_on_cuda(golden, accelerated: bool) -> None:
    for file in golden.files("forward_*.pt"):
        case = golden.load(file.name)
        net = _cuda_model(case, training=False, accelerated=accelerated)
        with torch.no_grad():
            sr, kernel = net(case["lr"].to(CUDA))
        _assert_close(f"{file.stem} sr", sr, case["sr"], tol.FORWARD_SR)
        _assert_close(f"{file.stem} kernel", kernel, case["kernel"], tol.FORWARD_KERNEL)


def test_cls_on_cuda(golden) -> None:
    for file in golden.files("cls_filter_k*.pt"):
        case = golden.load(file.name)
        out = cls_deconv(case["img"].to(CUDA), case["kernel"].to(CUDA), case["grad_kernel"].to(CUDA))
        _assert_close(file.stem, out, case["out"], tol.CLS_FILTER)


def test_blur_and_resize_on_cuda(golden) -> None:
    blur = golden.load("batch_blur.pt")
    hr = blur["hr"].to(CUDA)
    for tag, case in blur["cases"].items():
        kernels = case["kernel"].to(CUDA)
        blurred = batch_blur(hr.expand(kernels.shape[0], -1, -1, -1), kernels)
        _assert_close(f"blur {tag}", blurred, case["out"], tol.BATCH_BLUR)
    resize = golden.load("imresize.pt")
    for tag, want in resize["out_chw"].items():
        _assert_close(f"imresize {tag}", imresize(resize["src_chw"].to(CUDA), float(tag)), want, tol.IMRESIZE)


def test_correction_loss_on_cuda(golden) -> None:
    for tag, case in golden.load("correction_loss.pt").items():
        k_pred, lr_blured, lr = (case[k].to(CUDA) for k in ("k_pred", "lr_blured", "lr"))
        loss = KernelCorrectionLoss()(k_pred, DegradedBatch(None, lr_blured, lr, None))
        k_correct = correct_kernel(lr_blured, lr, k_pred.shape[-1])
        _assert_close(f"{tag} loss", loss, case["loss"], tol.CORRECTION_LOSS)
        _assert_close(f"{tag} k_correct", k_correct, case["k_correct"], tol.CORRECTION_KERNEL)


@pytest.mark.parametrize("accelerated", [False, True], ids=["reference", "accelerated"])
def test_train_step_on_cuda(golden, accelerated: bool) -> None:
    case = golden.load("train_step.pt")
    net = _cuda_model(case, training=True, accelerated=accelerated)
    batch = DegradedBatch(lr_img=case["lr_img"].to(CUDA), lr_blured=case["lr_blured"].to(CUDA),
                          lr=case["lr"].to(CUDA), kernels=None)
    out = compute_losses(net, case["gt"].to(CUDA), batch, build_loss_terms(None))  # the original's two terms
    out.total.backward()
    _assert_close("l_pix", out.losses["l_pix"], case["l_pix"], tol.TRAIN_PIXEL_LOSS)
    _assert_close("l_ker", out.losses["l_ker"], case["l_ker"], tol.TRAIN_KERNEL_LOSS)
    # Gradients are compared by relative L2 error, not per element: an activation within float32 rounding
    # noise of zero (there is one in the reference case, +5.6e-8 in float64) may take the other LeakyReLU
    # branch on another device, which moves single elements of the gradients behind it.
    params = dict(net.named_parameters())
    for name, want in case["grads"].items():
        grad = params[name].grad
        got = torch.zeros_like(want, device=CUDA) if grad is None else grad.detach()
        _assert_close(f"grad {name}", got, want, tol.TRAIN_GRADS)
