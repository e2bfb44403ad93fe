"""Checks across sections (the network builds, the data fit the phases, the training keys agree) and the keys
the options derive (dataset phases and scale, experiment paths)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..archs import build_network
from ..data import DATASET_REGISTRY
from ..errors import ConfigError
from ..losses import LOSS_REGISTRY  # importing the losses registers the built-in ones
from ..registry import DEGRADATION_REGISTRY
from .sections import registered


def _dataset_needs(mode: str, wanted: str, where: str) -> None:
    """ConfigError unless the dataset of ``mode`` provides the items ``wanted`` ("LQ+GT": both). A registered
    dataset says what its samples hold in ``provides``; one that does not say is trusted."""
    items = wanted.split("+")

    def provides(name: str) -> tuple[str, ...] | None:
        return getattr(DATASET_REGISTRY.get(name), "provides", None)

    have = provides(mode)
    if have is None or all(item in have for item in items):
        return
    fitting = [name for name in DATASET_REGISTRY.names() if all(item in (provides(name) or ()) for item in items)]
    raise ConfigError(f"{where}: {mode} provides {'+'.join(have) or 'nothing'}, this phase needs {wanted} "
                      f"({' or '.join(fitting) or 'register such a dataset'})")


def check_consistency(opt: dict[str, Any], is_train: bool) -> None:
    scale = opt["scale"]
    setting = opt["network_G"]["setting"]
    if setting.get("upscale") is not None and setting["upscale"] != scale:
        raise ConfigError(f"network_G.setting.upscale: {setting['upscale']} differs from scale {scale}")
    with torch.device("meta"):  # the constructor's own checks, without allocating any weights
        build_network(opt["network_G"]["which_model_G"], {**setting, "upscale": scale})
    datasets = opt["datasets"]
    if not is_train:
        if not datasets:
            raise ConfigError("datasets: no test set given (add datasets.test1 with mode LQGT or LQ)")
        if opt["path"]["pretrain_model_G"] is None:
            raise ConfigError("path.pretrain_model_G: required for testing (the weights to evaluate)")
        for phase, ds in datasets.items():
            _dataset_needs(ds["mode"], "LQ", f"datasets.{phase}.mode")
        return
    deg = opt["degradation"]
    if "ksize" in deg and setting.get("kernel_size", deg["ksize"]) != deg["ksize"]:
        raise ConfigError(
            f"degradation.ksize: {deg['ksize']} differs from network_G.setting.kernel_size {setting['kernel_size']}"
        )
    try:
        DEGRADATION_REGISTRY.build_spec(deg, scale=scale)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"degradation: {' '.join(str(exc).split())}") from None
    if "train" not in datasets:
        raise ConfigError("datasets.train: required for training")
    for phase in datasets:
        if phase not in ("train", "val"):
            raise ConfigError(f"datasets.{phase}: training uses only the train and val phases")
    train_ds = datasets["train"]
    _dataset_needs(train_ds["mode"], "GT", "datasets.train.mode")
    if train_ds["GT_size"] is None:
        raise ConfigError("datasets.train.GT_size: required for training (HR patch size)")
    if train_ds["GT_size"] % scale:
        raise ConfigError(f"datasets.train.GT_size: {train_ds['GT_size']} is not a multiple of scale {scale}")
    kernel = deg.get("ksize", setting.get("kernel_size", 0))
    if train_ds["GT_size"] // scale < kernel:
        raise ConfigError(
            f"datasets.train.GT_size: {train_ds['GT_size']} gives LR patches of {train_ds['GT_size'] // scale} px, "
            f"smaller than the kernel ({kernel}); use at least {scale * kernel}"
        )
    if "val" in datasets:
        _dataset_needs(datasets["val"]["mode"], "LQ+GT", "datasets.val.mode")
    tr = opt["train"]
    if tr["losses"] is None:
        registered(LOSS_REGISTRY, tr["pixel_criterion"], "train.pixel_criterion")
    if tr["lr_scheme"] == "CosineAnnealingLR_Restart" and not tr["T_period"]:
        raise ConfigError("train.T_period: required by lr_scheme CosineAnnealingLR_Restart")
    restarts, weights = tr["restarts"] or [], tr["restart_weights"] or []
    if len(restarts) != len(weights):
        raise ConfigError("train.restart_weights: needs one weight per entry of train.restarts")
    if tr["lr_scheme"] == "CosineAnnealingLR_Restart" and len(tr["T_period"]) < len(restarts) + 1:
        raise ConfigError("train.T_period: needs one period per restart plus the first")
    for key in ("niter", "val_freq"):
        if tr[key] <= 0:
            raise ConfigError(f"train.{key}: must be positive")
    if tr["max_update_ratio"] is not None and tr["max_update_ratio"] <= 0:
        raise ConfigError("train.max_update_ratio: must be positive (or ~ for plain optimizer steps)")
    if tr["grad_clip_norm"] is not None and tr["grad_clip_norm"] <= 0:
        raise ConfigError("train.grad_clip_norm: must be positive (or ~ for no clipping)")
    if tr["adam_eps"] <= 0:
        raise ConfigError("train.adam_eps: must be positive")
    for key in ("print_freq", "save_checkpoint_freq"):
        if opt["logger"][key] <= 0:
            raise ConfigError(f"logger.{key}: must be positive")
    if not 0 <= tr["ema_decay"] < 1:
        raise ConfigError(f"train.ema_decay: {tr['ema_decay']} must be in [0, 1) (0: no EMA weights)")
    guard = tr["collapse_guard"]
    if not 0 < guard["lr_factor"] <= 1:
        raise ConfigError("train.collapse_guard.lr_factor: must be in (0, 1]")
    if guard["overflow_steps"] < 1:
        raise ConfigError("train.collapse_guard.overflow_steps: must be >= 1")
    if guard["psnr_margin"] < 0:
        raise ConfigError("train.collapse_guard.psnr_margin: must be >= 0")


def derive(opt: dict[str, Any], is_train: bool) -> None:
    """Fill the keys the original computes: dataset phase/scale, network upscale, experiment paths."""
    scale = opt["scale"]
    opt["network_G"]["setting"]["upscale"] = scale
    for phase, ds in opt["datasets"].items():
        ds["phase"] = "train" if phase == "train" else "val" if phase == "val" else "test"
        ds["scale"] = scale
    paths = opt["path"]
    root = Path(paths["root"] or os.getcwd()).resolve()
    paths["root"] = str(root)
    name = opt["name"]
    if is_train:
        exp = Path(paths["experiments_root"] or root / "experiments" / name)
        paths["experiments_root"] = str(exp)
        for key, sub in (("models", "models"), ("training_state", "training_state"), ("log", ""),
                         ("val_images", "val_images")):
            paths[key] = paths[key] or str(exp / sub)
    else:
        res = Path(paths["results_root"] or root / "results" / name)
        paths["results_root"] = str(res)
        paths["log"] = paths["log"] or str(res)
    if opt["crop_border"] is None:
        opt["crop_border"] = scale


def check_paths(opt: dict[str, Any]) -> None:
    """Every data root the options need must exist (a registered dataset names its own in ``roots``): a missing
    one names its key and path."""
    for phase, ds in opt["datasets"].items():
        for key in getattr(DATASET_REGISTRY.get(ds["mode"]), "roots", ()):
            where = f"datasets.{phase}.{key}"
            value = ds[key]
            if value is None:
                raise ConfigError(f"{where}: required by mode {ds['mode']}")
            if not Path(value).exists():
                raise ConfigError(f"{where}: data path not found: {value}")
    for key in ("pretrain_model_G", "resume_state"):
        value = opt["path"][key]
        if value is not None and not Path(value).is_file():
            raise ConfigError(f"path.{key}: file not found: {value}")
