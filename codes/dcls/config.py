"""Options files: YAML in the original DCLS schema, with declared defaults and types and strict validation.

Every option has a declared type and default (``SCHEMA``); an unknown or misspelled key, a wrong type or a
missing data path is a :class:`ConfigError` whose one-line message names the key or file. What the options
name from a registry (:mod:`dcls.registry`: ``network_G``, its ``setting.estimator``, ``degradation``,
``train.losses``, each dataset's ``mode``) is checked against the registered constructor: keyword names, and
the types of int/float/bool/str arguments, are read from its signature; other values (lists, mappings) reach
it unchanged. The modules in ``custom_imports`` are imported first, so what they register can be named.
Keys the original reads but DCLS never uses (``pca_matrix_path``, ``code_length``, ...) are accepted and
ignored, so the original's option files work unchanged apart from their data paths. Validated options are
read-only (mappings and tuples).
"""

from __future__ import annotations

import copy
import difflib
import inspect
import math
import os
import re
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from .archs import build_network
from .data import DATASET_REGISTRY
from .degradation import DEFAULT_DEGRADATION
from .errors import ConfigError
from .ops.precision import AMP_DTYPES
from .plugins import import_plugins
from .registry import ARCH_REGISTRY, DEGRADATION_REGISTRY, ESTIMATOR_REGISTRY, LOSS_REGISTRY, Registry
from .utils.frozen import freeze
from .utils.image_io import atomic_write_bytes

_REQUIRED = object()


@dataclass(frozen=True)
class Field:
    """One option: its type (``int``, ``float``, ``bool``, ``str``, ``int_list``, ``float_list``, ``str_list``, or
    ``any``: a constructor's argument of another type, passed on unchanged), default, choices."""

    kind: str
    default: Any = _REQUIRED
    nullable: bool = False
    choices: tuple = ()

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


def _opt(kind: str, default: Any = _REQUIRED, choices: tuple = ()) -> Field:
    return Field(kind, default, nullable=default is None, choices=choices)


_KINDS = {int: "int", float: "float", bool: "bool", str: "str"}


def signature_schema(factory: Callable[..., Any], skip: tuple[str, ...] = ()) -> dict[str, Field] | None:
    """One option per keyword argument of ``factory`` (a class or function): type from its annotation (int,
    float, bool, str, optionally ``| None``; anything else: passed on unchanged), default from its signature
    (none: required). None when it takes ``**kwargs`` (any keyword goes)."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # annotations a plug-in's module cannot resolve at run time: take every value as it is
        hints = {}
    fields = {}
    for name, param in inspect.signature(factory).parameters.items():
        if param.kind is param.VAR_KEYWORD:
            return None
        if name in skip or param.kind is param.VAR_POSITIONAL:
            continue
        hint = hints.get(name)
        nullable = type(None) in typing.get_args(hint)
        if nullable:
            hint = next((a for a in typing.get_args(hint) if a is not type(None)), None)
        default = _REQUIRED if param.default is inspect.Parameter.empty else param.default
        fields[name] = Field(_KINDS.get(hint, "any"), default, nullable=nullable or default is None or hint is None)
    return fields

DATASET = {
    "name": _opt("str"),
    "mode": _opt("str"),
    "dataroot_GT": _opt("str", None),
    "dataroot_LQ": _opt("str", None),
    "use_shuffle": _opt("bool", True),
    "n_workers": _opt("int", 1),
    "batch_size": _opt("int", 1),
    "GT_size": _opt("int", None),
    "use_flip": _opt("bool", True),
    "use_rot": _opt("bool", True),
    "color": _opt("str", "RGB", choices=("RGB",)),
    "phase": _opt("str", None),
    "scale": _opt("int", None),
}




COLLAPSE_GUARD = {
    "enabled": _opt("bool", True),
    "psnr_margin": _opt("float", 3.0),
    "lr_factor": _opt("float", 0.5),
    "overflow_steps": _opt("int", 25),
}

SCHEMA: dict[str, Any] = {
    "name": _opt("str"),
    "custom_imports": _opt("str_list", []),
    "accel": _opt("bool", True),
    "use_tb_logger": _opt("bool", True),
    "scale": _opt("int", choices=(1, 2, 3, 4)),
    "gpu_ids": _opt("int_list", None),
    "device": _opt("str", None, choices=("cpu", "cuda")),
    "suffix": _opt("str", None),
    "crop_border": _opt("int", None),
    "degradation": lambda data, prefix, ignored: _validate_spec(
        data, DEGRADATION_REGISTRY, prefix, ignored, default_type=DEFAULT_DEGRADATION, skip=("scale",),
        section="degradation"),
    "datasets": lambda data, prefix, ignored: _validate_phases(data, prefix, ignored),
    "network_G": lambda data, prefix, ignored: _validate_network(data, prefix, ignored),
    "path": {
        "root": _opt("str", None),
        "pretrain_model_G": _opt("str", None),
        "strict_load": _opt("bool", True),
        "resume_state": _opt("str", None),
        "experiments_root": _opt("str", None),
        "models": _opt("str", None),
        "training_state": _opt("str", None),
        "log": _opt("str", None),
        "val_images": _opt("str", None),
        "results_root": _opt("str", None),
    },
    "train": {
        "lr_G": _opt("float", 4e-4),
        "lr_E": _opt("float", 4e-4),
        "lr_scheme": _opt("str", "MultiStepLR", choices=("MultiStepLR", "CosineAnnealingLR_Restart")),
        "beta1": _opt("float", 0.9),
        "beta2": _opt("float", 0.99),
        "weight_decay_G": _opt("float", 0.0),
        "max_update_ratio": _opt("float", None),  # None: plain optimizer steps (the original); docs/stability.md
        "niter": _opt("int"),
        "warmup_iter": _opt("int", -1),
        "lr_steps": _opt("int_list", []),
        "lr_gamma": _opt("float", 0.5),
        "T_period": _opt("int_list", None),
        "restarts": _opt("int_list", None),
        "restart_weights": _opt("float_list", None),
        "clear_state": _opt("bool", False),
        "eta_min": _opt("float", 1e-7),
        "pixel_criterion": _opt("str", "l1"),
        "pixel_weight": _opt("float", 1.0),
        "losses": lambda data, prefix, ignored: _validate_losses(data, prefix, ignored),
        "manual_seed": _opt("int", None),
        "val_freq": _opt("int", 2000),
        "collapse_guard": COLLAPSE_GUARD,
        "amp": _opt("str", "off", choices=tuple(AMP_DTYPES)),
        "ema_decay": _opt("float", 0.0),
        "compile": _opt("bool", False),
        "channels_last": _opt("bool", None),
    },
    "logger": {
        "print_freq": _opt("int", 100),
        "save_checkpoint_freq": _opt("int", 2000),
    },
}

# Keys the original option files carry that DCLS does not use: accepted and ignored.
LEGACY_KEYS: dict[str, frozenset[str]] = {
    "": frozenset({"pca_matrix_path", "is_train", "dist", "model", "distortion"}),
    "degradation": frozenset({"code_length", "rate_cln", "sig", "stored_kernel", "pre_kernel_path", "random_kernel"}),
    "dataset": frozenset({"LR_size", "data_type"}),
}
# Legacy keys DCLS supports with one value only: any other value is an error, not silently ignored.
LEGACY_ONLY_VALUE = {
    ("degradation", "random_kernel"): (True, "DCLS trains on random kernels; false is not supported"),
    ("", "model"): ("blind", "this project trains and tests the blind SR model only"),
    ("", "distortion"): ("sr", "this project does super-resolution only"),
}

PHASE_PATTERN = re.compile(r"^(train|val|test\w*)$")
TRAIN_SECTIONS = ("degradation", "train", "logger")


def _is_legacy(section: str, key: str) -> bool:
    return key in LEGACY_KEYS.get(section, frozenset())


def _coerce(value: Any, field: Field, key: str) -> Any:
    """Check ``value`` against ``field`` and return it in canonical form (e.g. ``2e3`` -> ``2000``)."""
    if value is None:
        if field.nullable:
            return None
        raise ConfigError(f"{key}: must be set (got null)")
    kind = field.kind
    if kind == "any":
        return value
    if kind.endswith("_list"):
        if not isinstance(value, (list, tuple)):
            value = [value]
        item = Field(kind[: -len("_list")])
        return [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    out = _coerce_scalar(value, kind, key)
    if field.choices and out not in field.choices:
        options = ", ".join(str(c) for c in field.choices)
        raise ConfigError(f"{key}: {out!r} is not one of {options}")
    return out


def _coerce_scalar(value: Any, kind: str, key: str) -> Any:
    if kind == "bool":
        if isinstance(value, bool):
            return value
    elif kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif kind == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            # PyYAML reads exponents without a dot (``4e-4``) as strings.
            try:
                parsed = float(value)
            except ValueError:
                pass
            else:
                if math.isfinite(parsed):
                    return parsed
    elif kind == "str":
        if isinstance(value, str):
            return value
    else:
        raise AssertionError(f"unknown option kind {kind}")
    raise ConfigError(f"{key}: expected {kind}, got {type(value).__name__} {value!r}")


def _validate_section(
    data: Any, schema: Mapping[str, Any], prefix: str, section: str, ignored: list[str]
) -> dict[str, Any]:
    """Fill defaults, coerce types and reject unknown keys of one mapping. A schema entry is a Field, a nested
    section (a mapping) or a function ``(data, prefix, ignored) -> value`` that validates its own part."""
    where = prefix.rstrip(".") or "options"
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    for key in data:
        if not isinstance(key, str):
            raise ConfigError(f"{prefix}{key}: option names must be strings")
        if key not in schema:
            if not _is_legacy(section, key):
                raise ConfigError(f"{prefix}{key}: unknown option{_suggest(key, schema)}")
            only = LEGACY_ONLY_VALUE.get((section, key))
            if only is not None and data[key] != only[0]:
                raise ConfigError(f"{prefix}{key}: {only[1]}")
            ignored.append(f"{prefix}{key}")
    out: dict[str, Any] = {}
    for key, spec in schema.items():
        full = f"{prefix}{key}"
        if callable(spec):
            out[key] = spec(data.get(key), f"{full}.", ignored)
        elif isinstance(spec, Mapping):
            out[key] = _validate_section(data.get(key), spec, f"{full}.", key, ignored)
        elif key in data:
            out[key] = _coerce(data[key], spec, full)
        elif spec.required:
            raise ConfigError(f"{full}: required option is missing")
        else:
            out[key] = copy.deepcopy(spec.default)
    return out


def _validate_phases(data: Any, prefix: str, ignored: list[str]) -> dict[str, Any]:
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix.rstrip('.')}: expected a mapping of phases (train, val, test1, ...)")
    out = {}
    for phase, spec in data.items():
        if not isinstance(phase, str) or not PHASE_PATTERN.match(phase):
            raise ConfigError(f"{prefix}{phase}: unknown dataset phase (expected train, val or test<N>)")
        out[phase] = _validate_section(spec, DATASET, f"{prefix}{phase}.", "dataset", ignored)
        _registered(DATASET_REGISTRY, out[phase]["mode"], f"{prefix}{phase}.mode")
    return out


def _registered(registry: Registry, name: Any, key: str) -> Callable[..., Any]:
    """The entry ``name`` of ``registry``, or a ConfigError naming the key and the known entries."""
    if not isinstance(name, str) or name not in registry:
        close = difflib.get_close_matches(str(name), registry.names(), n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ConfigError(f"{key}: unknown {registry.kind} {name!r} ({hint}known: {', '.join(registry.names())}; "
                          "register your own and list its module in custom_imports)")
    return registry.get(name)


def _arguments(factory: Callable[..., Any], data: Mapping[str, Any], prefix: str, section: str, ignored: list[str],
               skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """``data`` validated as the keyword arguments of ``factory`` (all of them, defaults filled)."""
    schema = signature_schema(factory, skip)
    if schema is None:  # it takes **kwargs: every key goes through as it is
        return dict(data)
    return _validate_section(data, schema, prefix, section, ignored)


def _validate_spec(data: Any, registry: Registry, prefix: str, ignored: list[str], *, default_type: str | None = None,
                   skip: tuple[str, ...] = (), section: str = "", extra: Mapping[str, Field] | None = None
                   ) -> dict[str, Any] | None:
    """A ``{type: <registered name>, <keyword arguments>}`` mapping: the type checked against ``registry``, the
    arguments against its constructor (``skip``: set by the run, not the options; ``extra``: keys the run reads
    itself). Absent: None, or the ``default_type`` with its defaults."""
    if data is None and default_type is None:
        return None
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix.rstrip('.')}: expected a mapping with 'type' and its arguments")
    name = data.get("type", default_type)
    if name is None:
        raise ConfigError(f"{prefix}type: required (one of {', '.join(registry.names())})")
    factory = _registered(registry, name, f"{prefix}type")
    own = {k: v for k, v in data.items() if k != "type" and k not in (extra or {})}
    out = {"type": name, **_validate_section({k: data[k] for k in extra or {} if k in data}, extra or {}, prefix,
                                             section, ignored)}
    return {**out, **_arguments(factory, own, prefix, section, ignored, skip)}


def _validate_losses(data: Any, prefix: str, ignored: list[str]) -> tuple[dict[str, Any], ...] | None:
    """``train.losses``: a list of ``{type, weight, name, <keyword arguments>}`` (None: the original's terms)."""
    if data is None:
        return None
    if not isinstance(data, (list, tuple)) or not data:
        raise ConfigError(f"{prefix.rstrip('.')}: expected a non-empty list of {{type: <loss>, weight: <float>}}")
    extra = {"weight": _opt("float", 1.0), "name": _opt("str", None)}
    terms = [_validate_spec(spec, LOSS_REGISTRY, f"{prefix.rstrip('.')}[{i}].", ignored, extra=extra)
             for i, spec in enumerate(data)]
    return tuple(terms)


def _validate_network(data: Any, prefix: str, ignored: list[str]) -> dict[str, Any]:
    """``which_model_G`` (a registered architecture, default DCLS) and its ``setting`` (keyword arguments;
    ``upscale``, every architecture's scale argument, defaults to the run's ``scale``). A ``setting.estimator``
    is checked against the estimator registry."""
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix.rstrip('.')}: expected a mapping with which_model_G and setting")
    name = _coerce(data.get("which_model_G", "DCLS"), Field("str"), f"{prefix}which_model_G")
    factory = _registered(ARCH_REGISTRY, name, f"{prefix}which_model_G")
    for key in data:
        if key not in ("which_model_G", "setting"):
            raise ConfigError(f"{prefix}{key}: unknown option{_suggest(key, ('which_model_G', 'setting'))}")
    raw = data.get("setting") or {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{prefix}setting: expected a mapping of {name}'s keyword arguments")
    setting = _arguments(factory, {k: v for k, v in raw.items() if k != "upscale"}, f"{prefix}setting.", "network_G",
                         ignored, skip=("upscale",))
    setting["upscale"] = _coerce(raw.get("upscale"), _opt("int", None), f"{prefix}setting.upscale")
    if isinstance(setting.get("estimator"), Mapping):
        setting["estimator"] = _validate_spec(setting["estimator"], ESTIMATOR_REGISTRY, f"{prefix}setting.estimator.",
                                              ignored, skip=("kernel_size",))
    return {"which_model_G": name, "setting": setting}


def _suggest(key: str, schema: Mapping[str, Any]) -> str:
    """A ``did you mean`` hint for a misspelled key."""
    close = difflib.get_close_matches(key, list(schema), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` -> (["a", "b", "c"], value), the value read as YAML (``~`` is null)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text}: expected key.sub=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {text}: value is not valid YAML ({_first_line(exc)})") from None
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Set each ``key.sub=value`` in a copy of the raw options, creating sections as needed."""
    data = copy.deepcopy(data)
    for text in overrides:
        keys, value = parse_override(text)
        node = data
        for i, k in enumerate(keys[:-1]):
            child = node.get(k)
            if child is None:
                child = node[k] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {text}: '{'.'.join(keys[: i + 1])}' is not a section")
            node = child
        node[keys[-1]] = value
    return data


def _first_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read an options file with ``yaml.safe_load``; unreadable or malformed files are a ConfigError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: options file not found") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read options file ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: invalid YAML ({_first_line(exc)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping of options at the top level")
    return data


def validate(data: Mapping[str, Any], is_train: bool, check_paths: bool = True) -> tuple[Mapping[str, Any], list[str]]:
    """Import ``custom_imports``, then validate raw options; return the complete options (defaults filled,
    derived keys set), read-only, and the ignored keys."""
    if not isinstance(data, Mapping):
        raise ConfigError("options: expected a mapping at the top level")
    imports = _coerce(data.get("custom_imports", []), SCHEMA["custom_imports"], "custom_imports")
    import_plugins(imports)
    ignored: list[str] = []
    schema = dict(SCHEMA)
    if not is_train:
        for section in TRAIN_SECTIONS:
            if section not in data:
                del schema[section]
    opt = _validate_section(data, schema, "", "", ignored)
    _check_consistency(opt, is_train)
    _derive(opt, is_train)
    if check_paths:
        _check_paths(opt)
    return freeze(opt), ignored


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


def _check_consistency(opt: dict[str, Any], is_train: bool) -> None:
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
        _registered(LOSS_REGISTRY, tr["pixel_criterion"], "train.pixel_criterion")
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


def _derive(opt: dict[str, Any], is_train: bool) -> None:
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


def _check_paths(opt: dict[str, Any]) -> None:
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


def load_options(
    path: str | os.PathLike, is_train: bool, overrides: Iterable[str] = (), check_paths: bool = True
) -> tuple[Mapping[str, Any], list[str]]:
    """Read, override and validate an options file; return (options, ignored legacy keys)."""
    raw = apply_overrides(read_yaml(path), overrides)
    return validate(raw, is_train, check_paths=check_paths)


def dump_options(opt: Mapping[str, Any], path: str | os.PathLike, header: str = "") -> None:
    """Write the complete options as YAML (atomically); the file validates and reruns as it is."""
    text = yaml.safe_dump(_plain(opt), sort_keys=False, default_flow_style=None)
    prefix = "".join(f"# {line}\n" for line in header.splitlines())
    atomic_write_bytes(path, (prefix + text).encode("utf-8"))


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj
