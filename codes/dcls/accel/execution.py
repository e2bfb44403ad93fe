"""How a network runs on a GPU, beside what it computes: cuDNN autotuning, TF32, compilation."""

from __future__ import annotations

import torch
import torch.nn as nn


def tune_backend(device: torch.device | str, fixed_shapes: bool, tf32: bool | None = None) -> None:
    """On CUDA: let cuDNN time its algorithms once per input shape when shapes repeat (fixed training crops),
    and with ``tf32`` set, allow (True) or forbid (False) TF32 matrix products and convolutions."""
    if torch.device(device).type != "cuda":
        return
    torch.backends.cudnn.benchmark = fixed_shapes
    if tf32 is not None:
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32


def compile_network(net: nn.Module) -> nn.Module:
    """``torch.compile`` of a network (parameters shared; save the uncompiled one: its names are unprefixed)."""
    return torch.compile(net)
