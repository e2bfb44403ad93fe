"""Mixed precision: autocast runs the convolutions in bfloat16 or float16, while the parts of DCLS that need
float32's range and accuracy stay in float32 (docs/method.md: the kernel must sum to 1, the CLS solve divides
by a small spectrum).

Float32 regions: the estimator's kernel synthesis and normalisation (:class:`Float32KernelEstimator`), the
CLS solve with its FFTs (:class:`~dcls.accel.cls.PooledCLS`), and everything after the forward (losses,
metrics), which runs outside autocast. Weights, optimizer state and checkpoints stay float32.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch
import torch.nn as nn

from ..archs.dcls_arch import Estimator

AMP_DTYPES: dict[str, torch.dtype | None] = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}
"""The ``amp`` option values and the autocast dtype of each."""

HALF_DTYPES = (torch.bfloat16, torch.float16)


def amp_dtype(mode: str) -> torch.dtype | None:
    """The autocast dtype of an ``amp`` mode (``off``: None); an unknown mode is a ValueError."""
    if mode not in AMP_DTYPES:
        raise ValueError(f"amp: '{mode}' is not one of {', '.join(AMP_DTYPES)}")
    return AMP_DTYPES[mode]


def autocast(device: torch.device | str, mode: str) -> AbstractContextManager:
    """Autocast for ``mode`` on the device's type (a no-op context for ``off``)."""
    dtype = amp_dtype(mode)
    if dtype is None:
        return nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


def float32_region(device: torch.device | str) -> AbstractContextManager:
    """Autocast switched off inside (inputs must be made float32 with :func:`upcast`)."""
    return torch.autocast(torch.device(device).type, enabled=False)


def upcast(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32 when it is half precision, else unchanged (float64 stays float64)."""
    return x.float() if x.dtype in HALF_DTYPES else x


class Float32KernelEstimator(nn.Module):
    """An :class:`~dcls.archs.dcls_arch.Estimator` (the same layers and parameter names) whose feature layers
    follow autocast and whose kernel synthesis and normalisation always run in float32."""

    latent = Estimator.latent
    synthesize = Estimator.synthesize
    _layer_weights = Estimator._layer_weights

    def __init__(self, reference: Estimator) -> None:
        super().__init__()
        self.head, self.body, self.tail, self.dec = reference.head, reference.body, reference.tail, reference.dec
        self.filter_structures, self.ksize = reference.filter_structures, reference.ksize
        self.G_chan, self.in_nc = reference.G_chan, reference.in_nc

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        latent = self.latent(lr)
        with float32_region(lr.device):
            return self.synthesize(upcast(latent))
