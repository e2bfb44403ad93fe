"""Mixed precision: autocast runs the convolutions in bfloat16 or float16, while the parts of DCLS that need
float32's range and accuracy stay in float32 (docs/method.md: the kernel must sum to 1, the CLS solve divides
by a small spectrum).

Float32 regions, in the reference network itself: the estimator's kernel synthesis and normalisation
(:class:`~dcls.archs.dcls_arch.Estimator`), the CLS solve with its FFTs (:class:`~dcls.archs.dcls_arch.CLS`),
and everything after the forward (losses, metrics), which runs outside autocast. Weights, optimizer state and
checkpoints stay float32.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

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
