"""Every core computation against the original implementation's reference outputs ($DCLS_GOLDEN_DIR).

The network is checked twice: as ``dcls.archs`` defines it (the reference) and as ``dcls.accel.accelerate``
prepares it for inference and for training.

Each ``check_*`` function compares one reference case and returns a list of mismatch descriptions;
the tests iterate over all cases a file holds. The tolerances (``tolerances.py``) come from the original's own
float32 spread (tests/golden/TOLERANCES.md); ``test_checks_detect_perturbed_references`` proves that each check
fails when the reference data are perturbed, and ``test_checks_detect_output_errors_just_above_tolerance`` that
it fails when only the outputs move by a few times their tolerance.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pytest
import torch

from dcls.accel import accelerate
from dcls.archs import DCLS
from dcls.archs.spec import recognise
from dcls.degradation.kernels import anisotropic_gaussian_kernel, isotropic_gaussian_kernel
from dcls.degradation.synthesis import DegradedBatch, batch_blur, gaussian8_lr, gaussian8_sigmas
from dcls.losses import KernelCorrectionLoss, build_loss_terms, correct_kernel
from dcls.metrics import evaluate_pair
from dcls.ops.fft import cls_deconv
from dcls.ops.imresize import imresize
from dcls.step import compute_losses

from . import tolerances as tol
from .tolerances import Tolerance

pytestmark = pytest.mark.golden


def _compare(name: str, got: torch.Tensor, want: torch.Tensor, tolerance: Tolerance, errors: list[str]) -> None:
    """Append a mismatch description to ``errors`` where ``got`` is not within ``tolerance`` of ``want``."""
    diff, bound = tolerance.error(got, want), tolerance.bound(want)
    if not diff <= bound:
        kind = "L2" if tolerance.l2 else "max abs"
        errors.append(
            f"{name}: {kind} diff {diff:.3g} > {bound:.3g} ({tolerance.name}; shapes {tuple(got.shape)} vs"
            f" {tuple(want.shape)})"
        )


def _model(config: dict, state_dict: dict, training: bool, accelerated: bool) -> DCLS:
    net = DCLS(**config)
    net.load_state_dict(state_dict, strict=True)
    return accelerate(net, "cpu", training=training) if accelerated else net.train(training)


def check_manifest_entry(tag: str, entry: dict) -> list[str]:
    with torch.device("meta"):
        net = DCLS(**entry["config"])
    got = [[name, list(t.shape)] for name, t in net.state_dict().items()]
    errors = []
    if got != [[n, list(s)] for n, s in entry["state_dict"]]:
        errors.append(f"{tag}: state_dict names/order/shapes differ from the manifest")
    n_params = sum(p.numel() for p in net.parameters())
    if n_params != entry["num_params"]:
        errors.append(f"{tag}: {n_params} parameters, manifest says {entry['num_params']}")
    shapes = {name: torch.empty(shape, device="meta") for name, shape in entry["state_dict"]}
    try:
        found = recognise(shapes)
    except ValueError as exc:
        return [*errors, f"{tag}: {exc}"]
    if any(found.get(k) != v for k, v in entry["config"].items()):
        errors.append(f"{tag}: its state_dict is recognised as {found}, the manifest says {entry['config']}")
    return errors


def check_forward(tag: str, case: dict, accelerated: bool) -> list[str]:
    net = _model(case["config"], case["state_dict"], training=False, accelerated=accelerated)
    errors: list[str] = []
    with torch.no_grad():
        sr, kernel = net(case["lr"])
        features = net.Restorer.feature_block(net.Restorer.conv_first(case["lr"]))
        cls_out = net.Restorer.head2(case["feature_block_out"], case["kernel"])
    _compare(f"{tag} sr", sr, case["sr"], tol.FORWARD_SR, errors)
    _compare(f"{tag} kernel", kernel, case["kernel"], tol.FORWARD_KERNEL, errors)
    _compare(f"{tag} feature_block_out", features, case["feature_block_out"], tol.FORWARD_FEATURES, errors)
    _compare(f"{tag} cls_out", cls_out, case["cls_out"], tol.FORWARD_CLS, errors)
    return errors


def check_cls(tag: str, case: dict) -> list[str]:
    out = cls_deconv(case["img"], case["kernel"], case["grad_kernel"])
    errors: list[str] = []
    _compare(f"{tag} out", out, case["out"], tol.CLS_FILTER, errors)
    return errors


def check_iso_kernel(tag: str, kernel: torch.Tensor) -> list[str]:
    match = re.fullmatch(r"l(\d+)_sig([0-9.eE+-]+)", tag)
    if match is None:
        return [f"{tag}: key is not of the form l<size>_sig<sigma>"]
    got = torch.from_numpy(isotropic_gaussian_kernel(int(match[1]), float(match[2])))
    errors: list[str] = []
    _compare(tag, got, kernel, tol.KERNELS, errors)
    return errors


def check_aniso_kernel(tag: str, case: dict) -> list[str]:
    noise = case["disturb_noise"]
    if case["disturb"] != (noise is not None):
        return [f"{tag}: disturb flag and disturb_noise disagree"]
    got = anisotropic_gaussian_kernel(
        case["l"], case["sigma_x"], case["sigma_y"], case["theta"], None if noise is None else noise.double().numpy()
    )
    errors: list[str] = []
    _compare(tag, torch.from_numpy(got), case["kernel"], tol.KERNELS, errors)
    return errors


def check_blur(tag: str, hr: torch.Tensor, case: dict) -> list[str]:
    kernels = case["kernel"]
    batched = batch_blur(hr.expand(kernels.shape[0], -1, -1, -1), kernels)
    shared = torch.cat([batch_blur(hr, k) for k in kernels])
    errors: list[str] = []
    _compare(f"{tag} per-sample kernels", batched, case["out"], tol.BATCH_BLUR, errors)
    _compare(f"{tag} shared kernel", shared, case["out"], tol.BATCH_BLUR, errors)
    return errors


def check_imresize(tag: str, src: torch.Tensor, want: torch.Tensor, hwc: bool) -> list[str]:
    scale = float(tag)
    got = torch.from_numpy(imresize(src.numpy(), scale)) if hwc else imresize(src, scale)
    errors: list[str] = []
    _compare(f"{'hwc' if hwc else 'chw'} scale {tag}", got, want, tol.IMRESIZE, errors)
    return errors


def check_correction(tag: str, case: dict) -> list[str]:
    batch = DegradedBatch(lr_img=None, lr_blured=case["lr_blured"], lr=case["lr"], kernels=None)
    loss = KernelCorrectionLoss()(case["k_pred"], batch)
    k_correct = correct_kernel(case["lr_blured"], case["lr"], case["k_pred"].shape[-1])
    errors: list[str] = []
    _compare(f"{tag} loss", loss, case["loss"], tol.CORRECTION_LOSS, errors)
    _compare(f"{tag} k_correct", k_correct, case["k_correct"], tol.CORRECTION_KERNEL, errors)
    return errors


def check_metrics(tag: str, case: dict) -> list[str]:
    got = evaluate_pair(case["sr_bgr_u8"].numpy(), case["gt_bgr_u8"].numpy(), case["crop_border"])
    want = {"psnr": case["psnr_rgb"], "ssim": case["ssim_rgb"], "psnr_y": case["psnr_y"], "ssim_y": case["ssim_y"]}
    errors: list[str] = []
    for key, value in want.items():
        got_value, want_value = (torch.tensor(v, dtype=torch.float64) for v in (got[key], value))
        _compare(f"{tag} {key}", got_value, want_value, tol.PSNR if key.startswith("psnr") else tol.SSIM, errors)
    return errors


def _sigma_for_key(key: str, scale: int) -> float:
    """The Gaussian8 width a ``"%.4f"`` key stands for (the exact linspace value where it is one)."""
    exact = [s for s in gaussian8_sigmas(scale) if f"{s:.4f}" == key]
    return exact[0] if exact else float(key)


def _compare_levels(name: str, got: np.ndarray, want: np.ndarray, errors: list[str]) -> None:
    """Append a mismatch description to ``errors`` where uint8 images differ by more than the Gaussian8 tolerance."""
    if got.shape != want.shape:
        errors.append(f"{name}: shape {got.shape} != {want.shape}")
        return
    diff = np.abs(got.astype(np.int16) - want.astype(np.int16))
    if diff.max() > tol.GAUSSIAN8_MAX_LEVELS or (diff > 0).mean() > tol.GAUSSIAN8_MAX_FRACTION:
        errors.append(f"{name}: max diff {diff.max()}, {(diff > 0).mean():.3%} of pixels differ")


def check_gaussian8(tag: str, case: dict) -> list[str]:
    hr = case["hr_bgr_u8"].numpy()
    errors: list[str] = []
    for key, want in case["lr_bgr_u8"].items():
        got = gaussian8_lr(hr, _sigma_for_key(key, case["scale"]), case["scale"])
        _compare_levels(f"{tag} sigma {key}", got, want.numpy(), errors)
    return errors


def check_train_step(tag: str, case: dict, accelerated: bool) -> list[str]:
    net = _model(case["config"], case["state_dict"], training=True, accelerated=accelerated)
    batch = DegradedBatch(lr_img=case["lr_img"], lr_blured=case["lr_blured"], lr=case["lr"], kernels=None)
    out = compute_losses(net, case["gt"], batch, build_loss_terms(None))  # the original's terms: l_pix, l_ker
    out.total.backward()
    k_correct = correct_kernel(batch.lr_blured, batch.lr, out.kernel.shape[-1])
    errors: list[str] = []
    _compare(f"{tag} l_pix", out.losses["l_pix"], case["l_pix"], tol.TRAIN_PIXEL_LOSS, errors)
    _compare(f"{tag} l_ker", out.losses["l_ker"], case["l_ker"], tol.TRAIN_KERNEL_LOSS, errors)
    _compare(f"{tag} k_correct", k_correct, case["k_correct"], tol.TRAIN_CORRECTION_KERNEL, errors)
    grads = dict(net.named_parameters())
    if set(grads) != set(case["grads"]):
        errors.append(f"{tag}: gradient names differ from the parameters")
    for name, want in case["grads"].items():
        got = grads[name].grad if name in grads else None
        got = torch.zeros_like(want) if got is None else got
        _compare(f"{tag} grad {name}", got, want, tol.TRAIN_GRADS, errors)
    return errors


# Each reference file -> the (tag, check) pairs of its cases.
def cases_manifest(golden) -> list[tuple[str, Callable[[], list[str]]]]:
    manifest = golden.load_json("state_dict_manifest.json")
    return [(tag, lambda t=tag, e=entry: check_manifest_entry(t, e)) for tag, entry in manifest.items()]


def cases_forward(golden, accelerated: bool = False) -> list:
    return [(f.stem, lambda f=f: check_forward(f.stem, golden.load(f.name), accelerated))
            for f in golden.files("forward_*.pt")]


def cases_cls(golden) -> list:
    return [(f.stem, lambda f=f: check_cls(f.stem, golden.load(f.name))) for f in golden.files("cls_filter_k*.pt")]


def cases_kernels(golden) -> list:
    data = golden.load("kernels.pt")
    iso = [(t, lambda t=t, k=k: check_iso_kernel(t, k)) for t, k in data["iso"].items()]
    aniso = [
        (f"aniso[{i}]", lambda i=i, c=c: check_aniso_kernel(f"aniso[{i}]", c)) for i, c in enumerate(data["aniso"])
    ]
    return iso + aniso


def cases_blur(golden) -> list:
    data = golden.load("batch_blur.pt")
    return [(t, lambda t=t, c=c: check_blur(t, data["hr"], c)) for t, c in data["cases"].items()]


def cases_imresize(golden) -> list:
    data = golden.load("imresize.pt")
    chw = [
        (f"chw {t}", lambda t=t, o=o: check_imresize(t, data["src_chw"], o, False)) for t, o in data["out_chw"].items()
    ]
    hwc = [
        (f"hwc {t}", lambda t=t, o=o: check_imresize(t, data["src_hwc"], o, True)) for t, o in data["out_hwc"].items()
    ]
    return chw + hwc


def cases_correction(golden) -> list:
    return [(t, lambda t=t, c=c: check_correction(t, c)) for t, c in golden.load("correction_loss.pt").items()]


def cases_metrics(golden) -> list:
    return [
        (f"pair[{i}]", lambda i=i, c=c: check_metrics(f"pair[{i}]", c)) for i, c in enumerate(golden.load("metrics.pt"))
    ]


def cases_gaussian8(golden) -> list:
    return [(t, lambda t=t, c=c: check_gaussian8(t, c)) for t, c in golden.load("gaussian8.pt").items()]


def cases_train_step(golden, accelerated: bool = False) -> list:
    return [("train_step", lambda: check_train_step("train_step", golden.load("train_step.pt"), accelerated))]


ALL_CASES = {
    "state_dict_manifest": cases_manifest,
    "forward": cases_forward,
    "forward_accelerated": lambda golden: cases_forward(golden, accelerated=True),
    "cls_filter": cases_cls,
    "kernels": cases_kernels,
    "batch_blur": cases_blur,
    "imresize": cases_imresize,
    "correction_loss": cases_correction,
    "metrics": cases_metrics,
    "gaussian8": cases_gaussian8,
    "train_step": cases_train_step,
    "train_step_accelerated": lambda golden: cases_train_step(golden, accelerated=True),
}


@pytest.mark.parametrize("reference", list(ALL_CASES))
def test_golden(golden, reference: str) -> None:
    cases = ALL_CASES[reference](golden)
    assert cases, f"{reference}: the reference holds no case"
    errors = [error for _, check in cases for error in check()]
    assert not errors, f"{reference}: {len(errors)} mismatch(es):\n" + "\n".join(errors)


def _perturb(obj: object) -> object:
    """A copy of a reference object with every float tensor, uint8 image and float value changed.

    Float tensors get an oscillating offset: a constant or a scaling would commute with linear ops.
    """
    if isinstance(obj, dict):
        return {k: _perturb(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_perturb(v) for v in obj]
    if torch.is_tensor(obj):
        if obj.dtype == torch.uint8:
            return obj ^ 2
        if obj.is_floating_point():
            wiggle = torch.sin(1.7 * torch.arange(obj.numel(), dtype=obj.dtype)).reshape(obj.shape)
            return obj + (0.05 * obj.abs().max() + 1e-3) * wiggle
        return obj
    if isinstance(obj, float):
        return obj * 1.01 + 0.01
    return obj


@pytest.mark.parametrize("reference", list(ALL_CASES))
def test_checks_detect_perturbed_references(golden, reference: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every case of every reference must fail once its stored values are perturbed."""
    load, load_json = golden.load, golden.load_json
    monkeypatch.setattr(golden, "load", lambda name: _perturb(load(name)))
    monkeypatch.setattr(
        golden,
        "load_json",
        lambda name: {k: {**v, "state_dict": v["state_dict"][::-1]} for k, v in load_json(name).items()},
    )
    undetected = [tag for tag, check in ALL_CASES[reference](golden) if not check()]
    assert not undetected, f"{reference}: perturbed cases still pass: {undetected}"


OUTPUT_TOLERANCES: dict[str, dict[str, Tolerance | None]] = {
    "forward_": {
        "sr": tol.FORWARD_SR,
        "kernel": tol.FORWARD_KERNEL,
        "feature_block_out": tol.FORWARD_FEATURES,
        "cls_out": tol.FORWARD_CLS,
    },
    "cls_filter_": {"out": tol.CLS_FILTER},
    "kernels.pt": {"iso": tol.KERNELS, "kernel": tol.KERNELS},
    "batch_blur.pt": {"out": tol.BATCH_BLUR},
    "imresize.pt": {"out_chw": tol.IMRESIZE, "out_hwc": tol.IMRESIZE},
    "correction_loss.pt": {"loss": tol.CORRECTION_LOSS, "k_correct": tol.CORRECTION_KERNEL},
    "metrics.pt": {"psnr_rgb": tol.PSNR, "psnr_y": tol.PSNR, "ssim_rgb": tol.SSIM, "ssim_y": tol.SSIM},
    "gaussian8.pt": {"lr_bgr_u8": None},
    "train_step.pt": {
        "l_pix": tol.TRAIN_PIXEL_LOSS,
        "l_ker": tol.TRAIN_KERNEL_LOSS,
        "k_correct": tol.TRAIN_CORRECTION_KERNEL,
        "grads": tol.TRAIN_GRADS,
    },
}
"""Per reference file (by name prefix): its output keys and the tolerance their checks hold them to (None: uint8)."""

NUDGE = 3.0
"""How many times its tolerance :func:`_nudge` moves a reference output."""


def _nudge(obj: object, tolerance: Tolerance | None) -> object:
    """A reference output moved by ``NUDGE`` times its tolerance: float tensors by an oscillating offset of that
    size (max abs, or L2 norm), floats by that much; uint8 images (no tolerance) by one level on ``NUDGE`` times the
    fraction of values allowed to differ."""
    if isinstance(obj, dict):
        return {k: _nudge(v, tolerance) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nudge(v, tolerance) for v in obj]
    if isinstance(obj, float) and tolerance is not None:
        return obj + NUDGE * tolerance.bound(torch.tensor(obj, dtype=torch.float64))
    if not torch.is_tensor(obj):
        return obj
    if obj.dtype == torch.uint8:
        flat = obj.flatten().clone()
        flat[:: max(1, int(1 / (NUDGE * tol.GAUSSIAN8_MAX_FRACTION)))] ^= 1
        return flat.reshape(obj.shape)
    if obj.is_floating_point() and tolerance is not None:
        wiggle = torch.cos(1.7 * torch.arange(obj.numel(), dtype=torch.float64)).reshape(obj.shape)
        size = NUDGE * tolerance.bound(obj) / tolerance.error(wiggle, torch.zeros_like(wiggle))
        return (obj.double() + size * wiggle).to(obj.dtype)
    return obj


def _nudge_outputs(name: str, data: object) -> object:
    """``data`` of reference file ``name`` with its outputs (``OUTPUT_TOLERANCES``) nudged, its inputs as they are."""
    outputs = next((keys for prefix, keys in OUTPUT_TOLERANCES.items() if name.startswith(prefix)), {})

    def walk(obj: object) -> object:
        if isinstance(obj, dict):
            return {k: _nudge(v, outputs[k]) if k in outputs else walk(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [walk(v) for v in obj]
        return obj

    return walk(data)


@pytest.mark.parametrize("reference", [r for r in ALL_CASES if r != "state_dict_manifest"])
def test_checks_detect_output_errors_just_above_tolerance(
    golden, reference: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every case must fail once only its stored outputs move by ``NUDGE`` times their tolerance: whatever a check
    computes within its tolerance, it then differs from the nudged output by more (the tolerances are below 1/3)."""
    load = golden.load
    monkeypatch.setattr(golden, "load", lambda name: _nudge_outputs(name, load(name)))
    undetected = [tag for tag, check in ALL_CASES[reference](golden) if not check()]
    assert not undetected, f"{reference}: cases with outputs {NUDGE:g}x their tolerance away still pass: {undetected}"
