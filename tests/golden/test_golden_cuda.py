"""The golden comparisons that exercise device code (model, CLS, blur, resize, kernel loss, training step) on CUDA.

TF32 is switched off so that CUDA computes in full float32, as the reference did on the CPU; the
tolerances are the golden README's. Skipped without CUDA (marker ``gpu``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from dcls.accel import accelerate
from dcls.archs import DCLS
from dcls.degradation.synthesis import DegradedBatch, batch_blur
from dcls.losses import CorrectionLoss, build_pixel_loss
from dcls.ops.fft import cls_deconv
from dcls.ops.imresize import imresize
from dcls.step import compute_losses

pytestmark = [pytest.mark.golden, pytest.mark.gpu]

CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def full_fp32() -> Iterator[None]:
    """Disable TF32 matmuls/convolutions for the duration of a test."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _assert_close(name: str, got: torch.Tensor, want: torch.Tensor, tol: float) -> None:
    assert got.device.type == "cuda", f"{name} was not computed on CUDA"
    assert got.shape == want.shape, f"{name}: shape {tuple(got.shape)} != {tuple(want.shape)}"
    diff = (got.detach().cpu().double() - want.double()).abs().max().item()
    assert diff <= tol, f"{name}: max abs diff {diff:.3g} > {tol:g} on CUDA"


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
        _assert_close(f"{file.stem} sr", sr, case["sr"], 1e-5)
        _assert_close(f"{file.stem} kernel", kernel, case["kernel"], 1e-5)


def test_cls_on_cuda(golden) -> None:
    for file in golden.files("cls_filter_k*.pt"):
        case = golden.load(file.name)
        out = cls_deconv(case["img"].to(CUDA), case["kernel"].to(CUDA), case["grad_kernel"].to(CUDA))
        _assert_close(file.stem, out, case["out"], 1e-5 * case["out"].abs().max().item())


def test_blur_and_resize_on_cuda(golden) -> None:
    blur = golden.load("batch_blur.pt")
    hr = blur["hr"].to(CUDA)
    for tag, case in blur["cases"].items():
        kernels = case["kernel"].to(CUDA)
        _assert_close(f"blur {tag}", batch_blur(hr.expand(kernels.shape[0], -1, -1, -1), kernels), case["out"], 1e-5)
    resize = golden.load("imresize.pt")
    for tag, want in resize["out_chw"].items():
        _assert_close(f"imresize {tag}", imresize(resize["src_chw"].to(CUDA), float(tag)), want, 1e-5)


def test_correction_loss_on_cuda(golden) -> None:
    for tag, case in golden.load("correction_loss.pt").items():
        k_pred, lr_blured, lr = (case[k].to(CUDA) for k in ("k_pred", "lr_blured", "lr"))
        loss, k_correct = CorrectionLoss()(k_pred, lr_blured, lr)
        _assert_close(f"{tag} loss", loss, case["loss"], 1e-5)
        _assert_close(f"{tag} k_correct", k_correct, case["k_correct"], 1e-4)


@pytest.mark.parametrize("accelerated", [False, True], ids=["reference", "accelerated"])
def test_train_step_on_cuda(golden, accelerated: bool) -> None:
    case = golden.load("train_step.pt")
    net = _cuda_model(case, training=True, accelerated=accelerated)
    batch = DegradedBatch(lr_img=case["lr_img"].to(CUDA), lr_blured=case["lr_blured"].to(CUDA),
                          lr=case["lr"].to(CUDA), kernels=None)
    out = compute_losses(net, case["gt"].to(CUDA), batch, build_pixel_loss("l1"),
                         CorrectionLoss())
    out.total.backward()
    _assert_close("l_pix", out.l_pix, case["l_pix"], 1e-5)
    _assert_close("l_ker", out.l_ker, case["l_ker"], 1e-5)
    # Gradients are compared by relative L2 error, not per element: an activation within float32 rounding
    # noise of zero (there is one in the reference case, +5.6e-8 in float64) may take the other LeakyReLU
    # branch on another device, which moves single elements of the gradients behind it.
    params = dict(net.named_parameters())
    for name, want in case["grads"].items():
        grad = params[name].grad
        got = torch.zeros_like(want) if grad is None else grad.detach().cpu()
        error = (got.double() - want.double()).norm().item()
        assert error <= 1e-3 * want.double().norm().item() + 1e-8, f"grad {name}: L2 error {error:.3g} on CUDA"
