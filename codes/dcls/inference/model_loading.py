"""Build the DCLS network for inference from an options file or from (checkpoint, scale, setting), with its
weights loaded and the speed-up layer applied for the device."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from dcls.accel import accelerate
from dcls.archs import build_network
from dcls.archs.spec import PAPER, describe, published_config, recognise
from dcls.config import apply_overrides, read_yaml, validate
from dcls.errors import CheckpointError, ConfigError
from dcls.weights import load_network, read_state_dict

SIZE_OPTIONS = ("nf", "nb", "ng", "input_para")
"""The network sizes the command line can set, for models other than the paper's."""


@dataclass
class ModelSpec:
    """Everything needed to build and load the network."""

    checkpoint: Path
    scale: int
    arch: str = "DCLS"
    kwargs: dict[str, Any] = field(default_factory=dict)


def spec_from_args(checkpoint: str, scale: int, setting: int, sizes: dict[str, int | None]) -> ModelSpec:
    """Spec for ``--checkpoint --scale --setting``; ``sizes`` (nf, nb, ng, input_para) override the paper's."""
    try:
        kwargs: dict[str, Any] = published_config(setting, scale)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    kwargs.update({k: v for k, v in sizes.items() if v is not None})
    return ModelSpec(Path(checkpoint), scale, "DCLS", kwargs)


def spec_from_options(path: str, checkpoint: str | None, input_dir: str = ".") -> ModelSpec:
    """Spec from a train/test options file (original schema); ``checkpoint`` replaces
    ``path.pretrain_model_G``. The file's data sets are replaced by the inference inputs (an LQ-only set),
    so test options whose benchmark folders are absent on this machine still work."""
    raw = read_yaml(path)
    raw["datasets"] = {"test1": {"name": "inference", "mode": "LQ", "dataroot_LQ": input_dir}}
    if checkpoint is not None:
        raw = apply_overrides(raw, [f"path.pretrain_model_G={checkpoint}"])
    opt, _ = validate(raw, is_train=False, check_paths=False)
    net = opt["network_G"]
    return ModelSpec(Path(opt["path"]["pretrain_model_G"]), opt["scale"], net["which_model_G"], dict(net["setting"]))


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options that say which network to load (shared by inference and plot_kernels)."""
    group = parser.add_argument_group("model")
    group.add_argument("-opt", "--opt", help="train/test options YAML (network sizes, scale, pretrain_model_G)")
    group.add_argument("--checkpoint", help="weights (.pth); with -opt it replaces path.pretrain_model_G")
    group.add_argument("--scale", type=int, choices=(2, 3, 4), help="upscaling factor (without -opt)")
    group.add_argument("--setting", type=int, choices=(1, 2), default=1,
                       help="paper setting: 1 = isotropic 21x21 kernels, 2 = anisotropic 11x11 (x2) / 31x31 (x4)")
    for name in SIZE_OPTIONS:
        group.add_argument(f"--{name}", type=int, help=f"network size (without -opt; default {getattr(PAPER, name)})")


def spec_from_namespace(args: argparse.Namespace, input_dir: str) -> ModelSpec:
    """The spec the options of :func:`add_model_arguments` describe; ConfigError for contradictory ones."""
    sizes = {k: getattr(args, k) for k in SIZE_OPTIONS}
    if args.opt:
        if args.scale is not None or any(v is not None for v in sizes.values()):
            raise ConfigError("--scale/--nf/--nb/--ng/--input_para apply without -opt; the options file sets them")
        return spec_from_options(args.opt, args.checkpoint, input_dir)
    if not args.checkpoint or args.scale is None:
        raise ConfigError("give -opt OPTIONS.yml, or --checkpoint WEIGHTS.pth with --scale (and --setting)")
    return spec_from_args(args.checkpoint, args.scale, args.setting, sizes)


def build_model(spec: ModelSpec, device: torch.device | str = "cpu") -> torch.nn.Module:
    """The network with its checkpoint loaded strictly (:func:`dcls.weights.load_network`: weights_only, CPU,
    ``module.`` stripped; a mismatch is a one-line CheckpointError that says what the checkpoint is), on
    ``device`` and accelerated for inference (:func:`dcls.accel.accelerate`)."""
    model = build_network(spec.arch, spec.kwargs)
    try:
        load_network(model, spec.checkpoint, strict=True)
    except CheckpointError as exc:
        found = _recognised(spec.checkpoint)
        if found is None:
            raise
        raise CheckpointError(f"{exc}. The checkpoint is {describe(found)}: give its training options with -opt, "
                              "or --scale/--setting/--nf/--nb/--ng/--input_para to match") from None
    return accelerate(model, device, training=False)


def _recognised(checkpoint: Path) -> dict[str, int] | None:
    """The DCLS configuration of a readable checkpoint, else None."""
    try:
        return recognise(read_state_dict(checkpoint))
    except (CheckpointError, ValueError):
        return None
