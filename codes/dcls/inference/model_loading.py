"""Which network inference runs: a :class:`ModelSpec` from an options file or from (checkpoint, scale, setting),
built with :func:`dcls.modeling.build_model`."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from dcls.archs.spec import PAPER, SETTING_KERNEL_SIZES, published_config
from dcls.config import apply_overrides, read_yaml, validate
from dcls.errors import CheckpointError, ConfigError
from dcls.modeling import build_model
from dcls.utils.frozen import thaw

SIZE_OPTIONS = ("nf", "nb", "ng", "input_para")
"""The network sizes the command line can set, for models other than the paper's."""


@dataclass
class ModelSpec:
    """Everything needed to build and load the network (``accelerate``: with the speed-up layer)."""

    checkpoint: Path
    scale: int
    arch: str = "DCLS"
    kwargs: dict[str, Any] = field(default_factory=dict)
    accelerate: bool = True

    def build(self, device: torch.device | str = "cpu") -> torch.nn.Module:
        """The network with its checkpoint loaded strictly, on ``device``, for inference
        (:func:`dcls.modeling.build_model`); a checkpoint of another model is a one-line CheckpointError that
        says which options would fit it."""
        network = {"which_model_G": self.arch, "setting": self.kwargs}
        try:
            return build_model(network, device, weights=self.checkpoint, accelerate=self.accelerate)
        except CheckpointError as exc:
            if ". The checkpoint is" not in str(exc):
                raise
            raise CheckpointError(f"{exc}: give its training options with -opt, or --scale/--setting/--nf/--nb/--ng/"
                                  "--input_para to match") from None


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
    return ModelSpec(Path(opt["path"]["pretrain_model_G"]), opt["scale"], net["which_model_G"], thaw(net["setting"]),
                     opt["accel"])


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options that say which network to load (shared by inference and plot_kernels)."""
    group = parser.add_argument_group("model")
    group.add_argument("-opt", "--opt", help="train/test options YAML (network sizes, scale, pretrain_model_G)")
    group.add_argument("--checkpoint", help="weights (.pth); with -opt it replaces path.pretrain_model_G")
    group.add_argument("--scale", type=int, choices=(2, 3, 4), help="upscaling factor (without -opt)")
    group.add_argument("--setting", type=int, choices=tuple(SETTING_KERNEL_SIZES), default=1,
                       help="1 = isotropic Gaussian blur (21x21 kernels), 2 = anisotropic (11x11 at x2, 31x31 at x4), "
                            "3 = realistic: blur of several shapes, noise and JPEG (x4, docs/realistic.md)")
    for name in SIZE_OPTIONS:
        group.add_argument(f"--{name}", type=int, help=f"network size (without -opt; default {getattr(PAPER, name)})")
    group.add_argument("--no-accel", "--no_accel", dest="accel", action="store_false",
                       help="run the reference network as written in dcls.archs, without the speed-up layer")


def spec_from_namespace(args: argparse.Namespace, input_dir: str) -> ModelSpec:
    """The spec the options of :func:`add_model_arguments` describe; ConfigError for contradictory ones."""
    sizes = {k: getattr(args, k) for k in SIZE_OPTIONS}
    if args.opt:
        if args.scale is not None or any(v is not None for v in sizes.values()):
            raise ConfigError("--scale/--nf/--nb/--ng/--input_para apply without -opt; the options file sets them")
        spec = spec_from_options(args.opt, args.checkpoint, input_dir)
    elif not args.checkpoint or args.scale is None:
        raise ConfigError("give -opt OPTIONS.yml, or --checkpoint WEIGHTS.pth with --scale (and --setting)")
    else:
        spec = spec_from_args(args.checkpoint, args.scale, args.setting, sizes)
    return dataclasses.replace(spec, accelerate=spec.accelerate and args.accel)
