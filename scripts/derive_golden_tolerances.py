"""Measure how much the original DCLS-SR varies in float32 on the golden inputs (tests/golden/TOLERANCES.md).

    python scripts/derive_golden_tolerances.py /tmp/DCLS-SR spreads.json --compat original_compat.py \
        [--golden-dir tests/golden/data]

The first argument is a checkout of the original code (megvii-research/DCLS-SR; it is read, never copied here).
Each computation the golden data holds (network forward, CLS solve, kernels, blur, imresize, kernel correction
loss, metrics, Gaussian8 benchmark images, one training step) is rerun with the original's own code on the golden
inputs under what another CPU would change: the thread count, the instruction set of PyTorch's kernels and of
MKL/oneDNN, the convolution backend, channels-last memory, the equivalent FFT call, and the same code in float64.
The network runs at the golden sizes and, with the original's own initialisation, at the published sizes. Every
variant runs in a fresh process. The native variant's results are also written as a reference directory of the
golden format ("made on another machine", published sizes included), and the repository's own golden checks run
on both directories under several of the variants, so that no tolerance is below what this code needs.

The JSON holds, per quantity, the largest difference between any two float32 runs (the stored reference among
them) and between each float32 run and the float64 run, absolute and relative to the exact (float64) result's max
abs and L2 norm; the ``spread`` derived from them; per tolerance of tests/golden/tolerances.py the derived value
(``SAFETY_FACTOR`` times the spread, at least twice the repository's need, rounded up to one significant digit)
beside the one in force.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dcls.plugins import import_from

REPO_ROOT = Path(__file__).resolve().parents[1]

VARIANTS: dict[str, tuple[int, dict[str, str], dict[str, Any]]] = {
    "threads1": (1, {}, {}),
    "threads2": (2, {}, {}),
    "threads3": (3, {}, {}),
    "channels_last": (2, {}, {"channels_last": True}),
    "no_mkldnn": (2, {}, {"mkldnn": False}),
    "avx2": (2, {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}, {}),
    "no_simd": (
        1,
        {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE", "ONEDNN_MAX_CPU_ISA": "SSE41"},
        {"cv2_optimized": False},
    ),
    "ifftn_real": (2, {}, {"fft": "ifftn_real"}),
    "float64": (2, {}, {"float64": True}),
}
"""name -> (threads, environment, options) of a run of the original; ``float64`` stands in for exact arithmetic."""

NATIVE = "threads2"
"""The variant whose results become the reference directory "made on another machine"."""

REPO_VARIANTS = ["threads1", "threads2", "avx2", "no_simd", "no_mkldnn"]
"""The variants under which the repository's own golden checks are measured."""

PUBLISHED = {
    "published_setting1_x4": {"nf": 64, "nb": 10, "ng": 5, "in_nc": 3, "upscale": 4, "input_para": 256,
                              "kernel_size": 21},
    "published_setting2_x4": {"nf": 64, "nb": 10, "ng": 5, "in_nc": 3, "upscale": 4, "input_para": 256,
                              "kernel_size": 31},
    "published_setting2_x2": {"nf": 64, "nb": 10, "ng": 5, "in_nc": 3, "upscale": 2, "input_para": 256,
                              "kernel_size": 11},
}
"""Published model sizes run with the original's initialisation (seeded); the first also for the training step."""

GAUSSIAN8_SIGMA_RANGE = {2: (0.8, 1.6), 3: (1.35, 2.4), 4: (1.8, 3.2)}
FORWARD_OUTPUTS = ("sr", "kernel", "feature_block_out", "cls_out", "cls_out_own")
STEP_OUTPUTS = ("l_pix", "l_ker", "k_correct")
FLOAT64_FLOOR = 1e-11
"""Least tolerance of a float64 computation (the metrics): the worst-case rounding of a sum of 1e5 terms, n * 2**-53."""

TOLERANCE_OF = {"kernels.iso": "kernels", "kernels.aniso": "kernels", "imresize.chw": "imresize",
                "imresize.hwc": "imresize", "forward.cls_out_own": None}
"""Quantities checked against a tolerance of another name, or none (the others share their tolerance's name);
``forward.cls_out_own`` is the CLS output from the run's own features and kernel, which no check compares."""


# ----------------------------------------------------------------------------------------------------------
# The original's code, made importable by a compatibility module that is not part of this repository.


def _import_original(compat: Path, checkout: Path, fft: str, float64: bool) -> types.SimpleNamespace:
    """The original's modules, from ``compat``'s ``load(checkout, fft, float64)``.

    The original calls APIs that current PyTorch removed and hard-codes CUDA; making it run on a CPU is the job
    of a compatibility module kept outside this repository (this project commits none of the original's code
    nor a patch of PyTorch for it). ``load`` returns a namespace with the original's modules ``arch``
    (dcls_arch), ``loss``, ``utils``, ``data_util`` (data.util) and ``metrics`` (calculate_PSNR_SSIM); ``fft``
    names which equivalent FFT call stands in for the removed one ("irfftn" or "ifftn_real"), and ``float64``
    asks for the original's float tensors in the default dtype.
    """
    spec = importlib.util.spec_from_file_location("dcls_original_compat", compat)
    if spec is None or spec.loader is None:
        raise SystemExit(f"--compat {compat}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.load(checkout, fft, float64)


# ----------------------------------------------------------------------------------------------------------
# Where each golden file keeps its outputs: (quantity, case, path of keys into the file's object).


def _load(path: Path) -> Any:
    return torch.load(path, weights_only=True)


def _slots(name: str, data: Any, tag: str | None = None) -> list[tuple[str, str, tuple]]:
    """The outputs of golden file ``name`` (object ``data``); ``tag`` names a one-case file's case (its stem)."""
    tag = tag or Path(name).stem
    if name.startswith("forward_"):
        return [(f"forward.{key}", tag, (key,)) for key in FORWARD_OUTPUTS if key in data]
    if name.startswith("cls_filter_k"):
        return [("cls_filter.out", tag, ("out",))]
    if name == "kernels.pt":
        iso = [("kernels.iso", t, ("iso", t)) for t in data["iso"]]
        return iso + [("kernels.aniso", f"aniso[{i}]", ("aniso", i, "kernel")) for i in range(len(data["aniso"]))]
    if name == "batch_blur.pt":
        return [("batch_blur.out", t, ("cases", t, "out")) for t in data["cases"]]
    if name == "imresize.pt":
        return [(f"imresize.{layout}", t, (f"out_{layout}", t)) for layout in ("chw", "hwc") for t in
                data[f"out_{layout}"]]
    if name == "correction_loss.pt":
        return [(f"correction_loss.{key}", t, (t, key)) for t in data for key in ("loss", "k_correct")]
    if name == "metrics.pt":
        return [(f"metrics.{key.split('_')[0]}", f"pair[{i}] {key}", (i, key)) for i in range(len(data))
                for key in ("psnr_rgb", "ssim_rgb", "psnr_y", "ssim_y")]
    if name == "gaussian8.pt":
        return [("gaussian8.lr", f"{t} {key}", (t, "lr_bgr_u8", key)) for t in data for key in data[t]["lr_bgr_u8"]]
    if name == "train_step.pt":
        step = [(f"train_step.{key}", tag, (key,)) for key in STEP_OUTPUTS]
        return step + [("train_step.grads", f"{tag}:{p}", ("grads", p)) for p in data["grads"]]
    return []


def _get(data: Any, path: tuple) -> Any:
    for key in path:
        data = data[key]
    return data


def _set(data: Any, path: tuple, value: np.ndarray) -> None:
    """Store ``value`` at ``path`` in the type and dtype of what is there (tensor, 0-d tensor, float)."""
    *parents, last = path
    holder = _get(data, tuple(parents))
    old = holder[last]
    if torch.is_tensor(old):
        holder[last] = torch.from_numpy(np.ascontiguousarray(value)).to(old.dtype).reshape(old.shape)
    else:
        holder[last] = float(np.asarray(value).item())


def _array(x: Any) -> np.ndarray:
    if torch.is_tensor(x):
        x = x.detach().cpu()
        return x.numpy() if x.dtype == torch.uint8 else x.double().numpy()
    return np.asarray(x, dtype=np.float64)


def stored_outputs(golden: Path) -> dict[str, dict[str, np.ndarray]]:
    """{quantity: {case: stored output}} of every golden file."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for file in sorted(golden.glob("*.pt")):
        data = _load(file)
        for quantity, case, path in _slots(file.name, data):
            out.setdefault(quantity, {})[case] = _array(_get(data, path))
    return out


# ----------------------------------------------------------------------------------------------------------
# The original's results.


def _sigma(key: str, scale: int) -> float:
    """The Gaussian8 width a ``"%.4f"`` key stands for (the exact linspace value where it is one)."""
    exact = [float(s) for s in np.linspace(*GAUSSIAN8_SIGMA_RANGE[scale], 8) if f"{s:.4f}" == key]
    return exact[0] if exact else float(key)


class _Original:
    """The original's computations on golden-format inputs, in float32 or float64, contiguous or channels-last."""

    def __init__(self, compat: Path, checkout: Path, options: dict[str, Any]) -> None:
        self.float64, self.channels_last = options.get("float64", False), options.get("channels_last", False)
        if self.float64:
            torch.set_default_dtype(torch.float64)
        self.dtype = torch.get_default_dtype()
        self.code = _import_original(compat, checkout, options.get("fft", "irfftn"), self.float64)
        self.correction = self.code.loss.CorrectionLoss(eps=1e-20)  # as its training model builds it

    def tensor(self, x: torch.Tensor, layout: bool = False) -> torch.Tensor:
        x = x.to(self.dtype)
        return x.contiguous(memory_format=torch.channels_last) if layout and self.channels_last else x

    def network(self, case: dict, training: bool) -> torch.nn.Module:
        net = self.code.arch.DCLS(**case["config"]).to(self.dtype)
        net.load_state_dict({k: v.to(self.dtype) for k, v in case["state_dict"].items()}, strict=True)
        if self.channels_last:
            net = net.to(memory_format=torch.channels_last)
        return net.train(training)

    def forward(self, case: dict) -> dict[str, torch.Tensor]:
        """The outputs of a forward case; ``cls_out`` from the stored features and kernel (what the check
        compares), ``cls_out_own`` from this run's (what a reference made by this run holds)."""
        net = self.network(case, training=False)
        with torch.no_grad():
            lr = self.tensor(case["lr"], layout=True)
            sr, kernel = net(lr)
            features = net.Restorer.feature_block(net.Restorer.conv_first(lr))
            cls_out = net.Restorer.head2(self.tensor(case["feature_block_out"], layout=True),
                                         self.tensor(case["kernel"]))
            cls_out_own = net.Restorer.head2(features, kernel)
        return {"sr": sr, "kernel": kernel, "feature_block_out": features, "cls_out": cls_out,
                "cls_out_own": cls_out_own}

    def train_step(self, case: dict) -> dict[str, Any]:
        net = self.network(case, training=True)
        sr, kernel = net(self.tensor(case["lr_img"], layout=True))
        l_ker, k_correct = self.correction(kernel, self.tensor(case["lr_blured"]), self.tensor(case["lr"]))
        l_pix = torch.nn.L1Loss()(sr, self.tensor(case["gt"]))
        (l_pix + l_ker).backward()
        grads = {n: torch.zeros_like(p) if p.grad is None else p.grad for n, p in net.named_parameters()}
        return {"l_pix": l_pix, "l_ker": l_ker, "k_correct": k_correct, "grads": grads}

    def outputs(self, name: str, data: Any) -> Any:
        """The golden object ``data`` of file ``name`` with its outputs as the original computes them."""
        data, utils = copy.deepcopy(data), self.code.utils
        if name.startswith("forward_"):
            data.update(self.forward(data))
        elif name.startswith("cls_filter_k"):
            data["out"] = utils.get_uperleft_denominator(*(self.tensor(data[k]) for k in ("img", "kernel",
                                                                                            "grad_kernel")))
        elif name == "kernels.pt":
            for tag in data["iso"]:
                size, sigma = tag[1:].split("_sig")
                data["iso"][tag] = utils.stable_batch_kernel(1, l=int(size), sig=float(sigma), tensor=True)[0]
            for case in data["aniso"]:
                case["kernel"] = _aniso_kernel(utils, case)
        elif name == "batch_blur.pt":
            for case in data["cases"].values():
                kernel = self.tensor(case["kernel"])
                hr = self.tensor(data["hr"]).repeat(kernel.shape[0], 1, 1, 1)
                case["out"] = utils.BatchBlur(l=kernel.shape[-1])(hr, kernel)
        elif name == "imresize.pt":
            resize = self.code.data_util.imresize
            src_hwc = data["src_hwc"].numpy().astype(np.float64 if self.float64 else np.float32)
            data["out_chw"] = {t: resize(self.tensor(data["src_chw"]), float(t)) for t in data["out_chw"]}
            data["out_hwc"] = {t: torch.from_numpy(resize(src_hwc, float(t))) for t in data["out_hwc"]}
        elif name == "correction_loss.pt":
            for case in data.values():
                case["loss"], case["k_correct"] = self.correction(*(self.tensor(case[k]) for k in ("k_pred",
                                                                                                  "lr_blured", "lr")))
        elif name == "metrics.pt":
            for case in data:
                case.update(_original_metrics(self.code.metrics, self.code.data_util, case))
        elif name == "gaussian8.pt":
            for case in data.values():
                case["lr_bgr_u8"] = {k: torch.from_numpy(self.gaussian8(case, k)) for k in case["lr_bgr_u8"]}
        elif name == "train_step.pt":
            data.update(self.train_step(data))
        return data

    def gaussian8(self, case: dict, key: str) -> np.ndarray:
        """One Gaussian8 LR image as the original's benchmark-generation script makes it."""
        pca = torch.zeros(21 * 21, 10, dtype=self.dtype)  # the kernel code it also computes is not used
        prepro = self.code.utils.SRMDPreprocessing(
            scale=case["scale"], pca_matrix=pca, ksize=21, code_length=10, random_kernel=False, cuda=True,
            sig=_sigma(key, case["scale"]), rate_iso=1.0,
        )
        hr = self.code.utils.img2tensor(case["hr_bgr_u8"].numpy()).to(self.dtype)
        lr, _, _ = prepro(hr[None], kernel=True)
        return self.code.utils.tensor2img(lr)


def _aniso_kernel(utils: types.ModuleType, case: dict) -> torch.Tensor:
    """The original's random anisotropic kernel (batch 1) with its random draws replaced by the stored ones."""
    l, noise = case["l"], case["disturb_noise"]
    draws = [
        np.full((1, 1, 1), case["sigma_x"]), np.full((1, 1, 1), case["sigma_y"]), np.full(1, case["theta"]),
        np.ones(1),  # the draw deciding "isotropic" (below rate_iso): never
    ]
    if noise is not None:
        draws.append(noise.double().numpy().reshape(1, l, l))
    real_uniform = np.random.uniform
    np.random.uniform = lambda *args, **kwargs: draws.pop(0)
    try:
        kernel = utils.random_batch_kernel(1, l=l, rate_iso=0.5, tensor=True, random_disturb=case["disturb"])
    finally:
        np.random.uniform = real_uniform
    return kernel[0]


def _original_metrics(metrics: types.ModuleType, data_util: types.ModuleType, case: dict) -> dict[str, float]:
    """PSNR/SSIM on RGB and Y, as the original's test.py computes them from two uint8 BGR images."""
    sr, gt = case["sr_bgr_u8"].numpy() / 255.0, case["gt_bgr_u8"].numpy() / 255.0
    b = case["crop_border"]
    crop = (slice(b, -b), slice(b, -b)) if b else (slice(None), slice(None))
    result = {
        "psnr_rgb": metrics.calculate_psnr(sr[crop] * 255, gt[crop] * 255),
        "ssim_rgb": metrics.calculate_ssim(sr[crop] * 255, gt[crop] * 255),
    }
    sr_y, gt_y = data_util.bgr2ycbcr(sr, only_y=True), data_util.bgr2ycbcr(gt, only_y=True)  # scales sr, gt in place
    result["psnr_y"] = metrics.calculate_psnr(sr_y[crop] * 255, gt_y[crop] * 255)
    result["ssim_y"] = metrics.calculate_ssim(sr_y[crop] * 255, gt_y[crop] * 255)
    return result


def _case_files(golden: Path, published: Path) -> list[tuple[Path, str]]:
    """(file, tag) of every golden file and every published-size case."""
    files = [(f, f.stem) for f in sorted(golden.glob("*.pt"))]
    files += [(f, f.stem) for f in sorted(published.glob("forward_*.pt"))]
    return files + [(published / "train_step.pt", "published_train_step")]


def original_quantities(compat: Path, checkout: Path, golden: Path, published: Path, options: dict[str, Any]) -> dict:
    """{quantity: {case: array}} as the original computes every golden and published-size case under ``options``."""
    original = _Original(compat, checkout, options)
    out: dict[str, dict[str, np.ndarray]] = {}
    for file, tag in _case_files(golden, published):
        data = original.outputs(file.name, _load(file))
        for quantity, case, path in _slots(file.name, data, tag):
            out.setdefault(quantity, {})[case] = _array(_get(data, path))
    return out


def make_published_cases(compat: Path, checkout: Path, golden: Path, out: Path) -> None:
    """Golden-format inputs at the published sizes: the original's own initialisation (seeded) and the golden
    inputs; outputs as placeholders (from this process), replaced by each variant's."""
    original = _Original(compat, checkout, {})
    out.mkdir(parents=True, exist_ok=True)
    forward = _load(golden / "forward_x4_k21.pt")
    for seed, (tag, config) in enumerate(PUBLISHED.items()):
        torch.manual_seed(seed)
        net = original.code.arch.DCLS(**config).eval()
        case = {"config": config, "state_dict": {k: v.clone() for k, v in net.state_dict().items()},
                "lr": forward["lr"]}
        with torch.no_grad():
            case["sr"], case["kernel"] = net(case["lr"])
            case["feature_block_out"] = net.Restorer.feature_block(net.Restorer.conv_first(case["lr"]))
            case["cls_out"] = net.Restorer.head2(case["feature_block_out"], case["kernel"])
        torch.save(case, out / f"forward_{tag}.pt")
    step = _load(golden / "train_step.pt")
    tag, config = next(iter(PUBLISHED.items()))
    torch.manual_seed(len(PUBLISHED))
    net = original.code.arch.DCLS(**config)
    case = {"config": config, "state_dict": {k: v.clone() for k, v in net.state_dict().items()},
            **{k: step[k] for k in ("gt", "lr_img", "lr_blured", "lr")}}
    result = original.train_step(case)
    case.update({k: v.detach() for k, v in result.items() if k != "grads"})
    case["grads"] = {k: v.detach().clone() for k, v in result["grads"].items()}
    torch.save(case, out / "train_step.pt")


def write_reference_dir(golden: Path, published: Path, quantities: dict, out: Path) -> None:
    """A directory of the golden format with every output replaced by ``quantities`` (one variant's results):
    reference data "made on another machine", with the published-size cases added (their step replacing the
    golden one)."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(golden / "state_dict_manifest.json", out)
    for file, tag in _case_files(golden, published):
        if file.parent == golden and file.name == "train_step.pt":
            continue
        data = _load(file)
        for quantity, case, path in _slots(file.name, data, tag):
            own = "forward.cls_out_own" if quantity == "forward.cls_out" else quantity  # consistent with its inputs
            _set(data, path, quantities[own][case])
        torch.save(data, out / file.name)


# ----------------------------------------------------------------------------------------------------------
# The repository's own golden checks, with every comparison recorded instead of judged.


def repository_differences(golden: Path) -> dict[str, dict[str, Any]]:
    """{tolerance name: {comparison: differences from the reference}} over all golden checks on ``golden``."""
    os.environ["DCLS_GOLDEN_DIR"] = str(golden)
    conftest = import_from("tests.conftest", REPO_ROOT)  # the tests of this checkout
    checks = import_from("tests.golden.test_golden_core", REPO_ROOT)
    recorded: dict[str, dict[str, Any]] = {}

    def record(name: str, got: Any, want: Any, tol: Any, errors: list[str]) -> None:
        recorded.setdefault(tol.name, {})[name] = _differences(_array(got), _array(want))

    def record_levels(name: str, got: np.ndarray, want: np.ndarray, errors: list[str]) -> None:
        recorded.setdefault("gaussian8", {})[name] = _differences(got, want)

    checks._compare, checks._compare_levels = record, record_levels
    golden_dir = conftest.GoldenDir()
    for reference, cases in checks.ALL_CASES.items():
        for tag, check in cases(golden_dir):
            try:
                check()
            except Exception as exc:  # noqa: BLE001 - a failing check is reported, not fatal to the measurement
                recorded.setdefault("errors", {})[f"{reference} {tag}"] = repr(exc)
    return recorded


# ----------------------------------------------------------------------------------------------------------
# Differences and spreads.


def _differences(got: np.ndarray, want: np.ndarray, exact: np.ndarray | None = None) -> dict[str, float]:
    """max abs diff; it relative to the max abs of ``exact`` (default ``want``); the L2 norm of the difference
    relative to that of ``exact``; for uint8 images also the fraction of values that differ."""
    if got.shape != want.shape:
        return {"abs": math.inf, "rel": math.inf, "l2": math.inf}
    exact = want if exact is None else exact
    diff = got.astype(np.float64) - want.astype(np.float64)
    top, norm = float(np.abs(exact).max(initial=0.0)), float(np.linalg.norm(exact.astype(np.float64)))

    def ratio(a: float, b: float) -> float:
        return a / b if b > 0 else (0.0 if a == 0 else math.inf)

    size = float(np.abs(diff).max(initial=0.0))
    row = {"abs": size, "rel": ratio(size, top), "l2": ratio(float(np.linalg.norm(diff)), norm)}
    if got.dtype == np.uint8:
        row["fraction"] = float((diff != 0).mean()) if diff.size else 0.0
    return row


def _largest(rows: list[tuple[str, dict[str, float]]]) -> dict[str, Any]:
    """Each difference's largest value over ``rows`` (labelled), with the label of the largest relative one."""
    if not rows:
        return {}
    keys = rows[0][1].keys()
    largest: dict[str, Any] = {k: max(r[k] for _, r in rows) for k in keys}
    largest["where"] = max(rows, key=lambda r: r[1]["rel"])[0]
    return largest


def summarise(stored: dict, runs: dict[str, dict], repository: dict[str, dict]) -> dict[str, Any]:
    """Per quantity: the largest difference between two float32 runs (``float32_pairs``; the stored reference is
    one of them), each float32 run's largest distance from the float64 run (``vs_float64``), and ``spread``: the
    larger of the first and twice the second (two float32 runs, each within its rounding error of the exact
    result, can differ by twice that). Relative measures are relative to the float64 result."""
    summary: dict[str, Any] = {}
    exact = runs["float64"]
    for quantity in exact:
        pairs, to_exact = [], []
        for case, want in exact[quantity].items():
            values = {name: result[quantity][case] for name, result in runs.items() if name != "float64"}
            if case in stored.get(quantity, {}):
                values["stored"] = stored[quantity][case]
            for (a, x), (b, y) in itertools.combinations(values.items(), 2):
                pairs.append((f"{case}: {a} vs {b}", _differences(x, y, want)))
            to_exact += [(f"{case}: {a}", _differences(x, want)) for a, x in values.items()]
        entry = {"cases": len(exact[quantity]), "float32_pairs": _largest(pairs), "vs_float64": _largest(to_exact)}
        entry["spread"] = {k: max(entry["float32_pairs"][k], 2 * entry["vs_float64"][k])
                           for k in entry["float32_pairs"] if k != "where"}
        summary[quantity] = entry
    needs: dict[str, list] = {}
    for run, result in repository.items():
        for tolerance, comparisons in result.items():
            if tolerance == "errors":
                summary.setdefault("repository_errors", {})[run] = comparisons
                continue
            needs.setdefault(tolerance, []).extend((f"{run}: {c}", d) for c, d in comparisons.items())
    summary["repository"] = {tolerance: _largest(rows) for tolerance, rows in needs.items()}
    return summary


def _ceil1(x: float) -> float:
    """``x`` rounded up to one significant digit."""
    if x <= 0:
        return 0.0
    exponent = math.floor(math.log10(x))
    return float(f"{math.ceil(round(x / 10**exponent, 9))}e{exponent}")


def derive(summary: dict[str, Any]) -> dict[str, Any]:
    """Per tolerance of tests/golden/tolerances.py: the largest spread of its quantities, the repository's need, the
    derived value and the one in force."""
    tol = import_from("tests.golden.tolerances", REPO_ROOT)
    derived: dict[str, Any] = {}
    for quantity, entry in summary.items():
        if "spread" not in entry:
            continue
        name = TOLERANCE_OF.get(quantity, quantity)
        if name is None:
            continue
        row = derived.setdefault(name, {"quantities": [], "spread": 0.0})
        row["quantities"].append(quantity)
        if quantity == "gaussian8.lr":
            row["spread"] = max(row["spread"], entry["spread"]["fraction"])
            row["max_levels"] = entry["float32_pairs"]["abs"]
            continue
        measure = "l2" if quantity == "train_step.grads" else "rel"
        row["measure"] = measure
        row["spread"] = max(row["spread"], entry["spread"][measure])
    constants = {c.name: c for c in vars(tol).values() if isinstance(c, tol.Tolerance)}
    for name, row in derived.items():
        need = summary["repository"].get("gaussian8" if name == "gaussian8.lr" else name, {})
        measure = "fraction" if name == "gaussian8.lr" else row["measure"]
        row["repository_need"] = need.get(measure, 0.0)
        floor = FLOAT64_FLOOR if name.startswith("metrics.") else 0.0
        row["derived"] = _ceil1(max(tol.SAFETY_FACTOR * row["spread"], 2 * row["repository_need"], floor))
        row["in_force"] = tol.GAUSSIAN8_MAX_FRACTION if name == "gaussian8.lr" else constants[name].rel
    return derived


# ----------------------------------------------------------------------------------------------------------
# Driver: one process per run.


def _run(args: argparse.Namespace, variant: str, out: Path, *extra: str) -> Any:
    threads, environment, _ = VARIANTS[variant]
    env = {**os.environ, **environment}
    env.update({k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
    if not (args.reuse and out.is_file()):
        print(" ".join([variant, *extra]), flush=True)
        command = [sys.executable, __file__, str(args.original), str(out), "--compat", str(args.compat),
                   "--golden-dir", str(args.golden_dir),
                   "--work-dir", str(args.work_dir), "--worker", variant, *extra]
        subprocess.run(command, env=env, check=True)
    return _arrays(torch.load(out, weights_only=True))


def _worker(args: argparse.Namespace) -> None:
    threads, _, options = VARIANTS[args.worker]
    torch.set_num_threads(threads)
    import cv2

    cv2.setNumThreads(threads)
    cv2.setUseOptimized(options.get("cv2_optimized", True))
    torch.backends.mkldnn.enabled = options.get("mkldnn", True)
    published = args.work_dir / "published"
    if args.make_published:
        make_published_cases(args.compat, args.original, args.golden_dir, published)
        result: Any = None
    elif args.repository:
        result = repository_differences(args.repository)
    else:
        result = original_quantities(args.compat, args.original, args.golden_dir, published, options)
    torch.save({"capability": torch.backends.cpu.get_cpu_capability(), "result": _tensors(result)}, args.out)


def _tensors(value: Any) -> Any:
    """``value`` with every numpy array a tensor, so that it loads with ``weights_only=True`` (no pickle)."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _tensors(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_tensors(v) for v in value]
    return value


def _arrays(value: Any) -> Any:
    """The inverse of :func:`_tensors`."""
    if isinstance(value, torch.Tensor):
        return value.numpy()
    if isinstance(value, dict):
        return {k: _arrays(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_arrays(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> None:
    """Run every variant in its own process, write the other machine's reference directory and the spreads."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("original", type=Path, help="a checkout of megvii-research/DCLS-SR")
    parser.add_argument("out", type=Path, help="where the JSON of the spreads goes")
    parser.add_argument("--compat", type=Path, required=True,
                        help="a module (not part of this repository) whose load(checkout, fft, float64) makes the "
                             "original importable on a CPU with a current PyTorch (see _import_original)")
    parser.add_argument("--golden-dir", type=Path, default=REPO_ROOT / "tests" / "golden" / "data")
    parser.add_argument("--work-dir", type=Path, help="keep every run's results and the reference directory "
                        "made from the native run (its 'other_machine' folder) here; default: a temporary folder")
    parser.add_argument("--reuse", action="store_true", help="reuse the results already in --work-dir")
    parser.add_argument("--worker", choices=list(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--repository", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--make-published", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.golden_dir, args.compat = args.golden_dir.resolve(), args.compat.resolve()
    if args.worker:
        _worker(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        args.work_dir = (args.work_dir or Path(tmp)).resolve()
        args.work_dir.mkdir(parents=True, exist_ok=True)
        work = args.work_dir
        capabilities = {}
        _run(args, NATIVE, work / "published.pt", "--make-published")
        runs = {}
        for variant in VARIANTS:
            saved = _run(args, variant, work / f"original_{variant}.pt")
            runs[variant], capabilities[variant] = saved["result"], saved["capability"]
        other = work / "other_machine"
        write_reference_dir(args.golden_dir, work / "published", runs[NATIVE], other)
        repository = {}
        for variant in REPO_VARIANTS:
            for label, directory in (("golden", args.golden_dir), ("other_machine", other)):
                saved = _run(args, variant, work / f"repository_{label}_{variant}.pt", "--repository", str(directory))
                repository[f"{label} {variant}"] = saved["result"]
        summary = summarise(stored_outputs(args.golden_dir), runs, repository)
        summary["tolerances"] = derive(summary)
        summary["cpu_capability"] = capabilities
        summary["torch"] = torch.__version__
    args.out.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
