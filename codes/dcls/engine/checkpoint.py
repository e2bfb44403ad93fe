"""Training checkpoints as the original lays them out, written atomically and loaded safely.

``models/<iter>_G.pth`` holds the bare network ``state_dict`` (no ``module.`` prefix; see :mod:`dcls.weights`),
``models/<iter>_G_ema.pth`` the EMA weights (when ``train.ema_decay`` is on), and
``training_state/<iter>.state`` the optimizer, schedulers, gradient scaler, counters, EMA decay and RNG
states. All hold only tensors and plain Python values, so they load with ``torch.load(weights_only=True)``.
The weights files are written before the state file, so a state file on disk always has its weights beside it.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointError
from ..weights import read_state_dict, torch_load_safe, torch_save_atomic

STATE_KEYS = ("iter", "epoch", "optimizers", "schedulers")


def capture_rng_state() -> dict[str, Any]:
    """Python, numpy-global, torch CPU and CUDA RNG states as plain values and tensors."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state` (CUDA states only where CUDA is available)."""
    random.setstate(_as_tuple(state["python"]))
    npst = state["numpy"]
    np.random.set_state(("MT19937", npst["keys"].numpy().astype(np.uint32), npst["pos"], npst["has_gauss"],
                         npst["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(obj: Any) -> Any:
    return tuple(_as_tuple(v) for v in obj) if isinstance(obj, (list, tuple)) else obj


def save_training_state(path: str | os.PathLike, state: Mapping[str, Any]) -> None:
    """Write a training state (see :data:`STATE_KEYS`) atomically."""
    torch_save_atomic(dict(state), path)


def load_training_state(path: str | os.PathLike) -> dict[str, Any]:
    """Read a training state written by :func:`save_training_state`; an incomplete one is a CheckpointError."""
    state = torch_load_safe(path)
    if not isinstance(state, Mapping) or any(k not in state for k in STATE_KEYS):
        raise CheckpointError(f"{path}: not a training state (needs {', '.join(STATE_KEYS)})")
    return dict(state)


def model_path_for(models_dir: str | os.PathLike, iteration: int) -> Path:
    return Path(models_dir) / f"{iteration}_G.pth"


def ema_path_for(models_dir: str | os.PathLike, iteration: int) -> Path:
    return Path(models_dir) / f"{iteration}_G_ema.pth"


def state_path_for(state_dir: str | os.PathLike, iteration: int) -> Path:
    return Path(state_dir) / f"{iteration}.state"


def find_resume_state(state_dir: str | os.PathLike, models_dir: str | os.PathLike) -> tuple[Path | None, list[str]]:
    """The newest training state that loads and whose weights file loads too, and why newer ones were skipped."""
    folder = Path(state_dir)
    if not folder.is_dir():
        return None, []
    candidates = sorted(
        ((int(p.stem), p) for p in folder.glob("*.state") if p.stem.isdigit()), reverse=True
    )
    skipped: list[str] = []
    for iteration, path in candidates:
        try:
            state = load_training_state(path)
            if int(state["iter"]) != iteration:
                raise CheckpointError(f"{path}: holds iteration {state['iter']}")
            read_state_dict(model_path_for(models_dir, iteration))
            if state.get("ema_decay"):
                read_state_dict(ema_path_for(models_dir, iteration))
        except CheckpointError as exc:
            skipped.append(str(exc))
            continue
        return path, skipped
    return None, skipped
