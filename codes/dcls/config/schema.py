"""What an options file holds (``SCHEMA``): every section and key with its type and default; the parts named
from a registry (network, estimator, degradation, losses, datasets) are validated by their constructors'
signatures."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..archs import ARCH_REGISTRY
from ..data import DATASET_REGISTRY
from ..degradation import DEFAULT_DEGRADATION
from ..errors import ConfigError
from ..losses import LOSS_REGISTRY  # importing the losses registers the built-in ones
from ..ops.precision import AMP_DTYPES
from ..registry import DEGRADATION_REGISTRY, ESTIMATOR_REGISTRY
from .fields import Field, coerce, option, suggest
from .sections import arguments, registered, validate_section, validate_spec

DATASET = {
    "name": option("str"),
    "mode": option("str"),
    "dataroot_GT": option("str", None),
    "dataroot_LQ": option("str", None),
    "use_shuffle": option("bool", True),
    "n_workers": option("int", 1),
    "batch_size": option("int", 1),
    "GT_size": option("int", None),
    "use_flip": option("bool", True),
    "use_rot": option("bool", True),
    "color": option("str", "RGB", choices=("RGB",)),
    "phase": option("str", None),
    "scale": option("int", None),
}


COLLAPSE_GUARD = {
    "enabled": option("bool", True),
    "psnr_margin": option("float", 3.0),
    "lr_factor": option("float", 0.5),
    "overflow_steps": option("int", 25),
}


SCHEMA: dict[str, Any] = {
    "name": option("str"),
    "custom_imports": option("str_list", []),
    "accel": option("bool", True),
    "use_tb_logger": option("bool", True),
    "scale": option("int", choices=(1, 2, 3, 4)),
    "gpu_ids": option("int_list", None),
    "device": option("str", None, choices=("cpu", "cuda")),
    "suffix": option("str", None),
    "crop_border": option("int", None),
    "degradation": lambda data, prefix, ignored: validate_spec(
        data, DEGRADATION_REGISTRY, prefix, ignored, default_type=DEFAULT_DEGRADATION, skip=("scale",),
        section="degradation"),
    "datasets": lambda data, prefix, ignored: _validate_phases(data, prefix, ignored),
    "network_G": lambda data, prefix, ignored: _validate_network(data, prefix, ignored),
    "path": {
        "root": option("str", None),
        "pretrain_model_G": option("str", None),
        "strict_load": option("bool", True),
        "resume_state": option("str", None),
        "experiments_root": option("str", None),
        "models": option("str", None),
        "training_state": option("str", None),
        "log": option("str", None),
        "val_images": option("str", None),
        "results_root": option("str", None),
    },
    "train": {
        "lr_G": option("float", 4e-4),
        "lr_E": option("float", 4e-4),
        "lr_scheme": option("str", "MultiStepLR", choices=("MultiStepLR", "CosineAnnealingLR_Restart")),
        "beta1": option("float", 0.9),
        "beta2": option("float", 0.99),
        "weight_decay_G": option("float", 0.0),
        "adam_eps": option("float", 1e-8),
        "grad_clip_norm": option("float", None),  # None: no clipping (the original)
        "max_update_ratio": option("float", None),  # None: plain optimizer steps (the original); docs/stability.md
        "niter": option("int"),
        "warmup_iter": option("int", -1),
        "lr_steps": option("int_list", []),
        "lr_gamma": option("float", 0.5),
        "T_period": option("int_list", None),
        "restarts": option("int_list", None),
        "restart_weights": option("float_list", None),
        "clear_state": option("bool", False),
        "eta_min": option("float", 1e-7),
        "pixel_criterion": option("str", "l1"),
        "pixel_weight": option("float", 1.0),
        "losses": lambda data, prefix, ignored: _validate_losses(data, prefix, ignored),
        "manual_seed": option("int", None),
        "val_freq": option("int", 2000),
        "collapse_guard": COLLAPSE_GUARD,
        "amp": option("str", "off", choices=tuple(AMP_DTYPES)),
        "ema_decay": option("float", 0.0),
        "compile": option("bool", False),
        "channels_last": option("bool", None),
    },
    "logger": {
        "print_freq": option("int", 100),
        "save_checkpoint_freq": option("int", 2000),
    },
}


PHASE_PATTERN = re.compile(r"^(train|val|test\w*)$")


TRAIN_SECTIONS = ("degradation", "train", "logger")


def _validate_phases(data: Any, prefix: str, ignored: list[str]) -> dict[str, Any]:
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix.rstrip('.')}: expected a mapping of phases (train, val, test1, ...)")
    out = {}
    for phase, spec in data.items():
        if not isinstance(phase, str) or not PHASE_PATTERN.match(phase):
            raise ConfigError(f"{prefix}{phase}: unknown dataset phase (expected train, val or test<N>)")
        out[phase] = validate_section(spec, DATASET, f"{prefix}{phase}.", "dataset", ignored)
        registered(DATASET_REGISTRY, out[phase]["mode"], f"{prefix}{phase}.mode")
    return out


def _validate_losses(data: Any, prefix: str, ignored: list[str]) -> tuple[dict[str, Any], ...] | None:
    """``train.losses``: a list of ``{type, weight, name, <keyword arguments>}`` (None: the original's terms)."""
    if data is None:
        return None
    if not isinstance(data, (list, tuple)) or not data:
        raise ConfigError(f"{prefix.rstrip('.')}: expected a non-empty list of {{type: <loss>, weight: <float>}}")
    extra = {"weight": option("float", 1.0), "name": option("str", None)}
    terms = [validate_spec(spec, LOSS_REGISTRY, f"{prefix.rstrip('.')}[{i}].", ignored, extra=extra)
             for i, spec in enumerate(data)]
    return tuple(terms)


def _validate_network(data: Any, prefix: str, ignored: list[str]) -> dict[str, Any]:
    """``which_model_G`` (a registered architecture, default DCLS) and its ``setting`` (keyword arguments;
    ``upscale``, every architecture's scale argument, defaults to the run's ``scale``). A ``setting.estimator``
    is checked against the estimator registry."""
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix.rstrip('.')}: expected a mapping with which_model_G and setting")
    name = coerce(data.get("which_model_G", "DCLS"), Field("str"), f"{prefix}which_model_G")
    factory = registered(ARCH_REGISTRY, name, f"{prefix}which_model_G")
    for key in data:
        if key not in ("which_model_G", "setting"):
            raise ConfigError(f"{prefix}{key}: unknown option{suggest(key, ('which_model_G', 'setting'))}")
    raw = data.get("setting") or {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{prefix}setting: expected a mapping of {name}'s keyword arguments")
    setting = arguments(factory, {k: v for k, v in raw.items() if k != "upscale"}, f"{prefix}setting.", "network_G",
                         ignored, skip=("upscale",))
    setting["upscale"] = coerce(raw.get("upscale"), option("int", None), f"{prefix}setting.upscale")
    if isinstance(setting.get("estimator"), Mapping):
        setting["estimator"] = validate_spec(setting["estimator"], ESTIMATOR_REGISTRY, f"{prefix}setting.estimator.",
                                              ignored, skip=("kernel_size",))
    return {"which_model_G": name, "setting": setting}
