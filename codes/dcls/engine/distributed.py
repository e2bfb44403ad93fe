"""torch.distributed helpers in one place: process setup, rank, world size, barrier, reductions.

Launch with ``torchrun --nproc_per_node=N`` (sets ``LOCAL_RANK``) or ``python -m torch.distributed.launch``
(passes ``--local-rank=N`` or, before PyTorch 2.0, ``--local_rank=N``); the process group is initialised
from the environment (``env://``) with NCCL on CUDA and Gloo on CPU. Under a torchrun agent that restarts
failed workers (``--max-restarts``), each attempt gets keys of its own in the agent's store.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import ConfigError
from ..utils.device import choose_device


@dataclass(frozen=True)
class DistInfo:
    """Where this process runs: its global rank, the number of processes and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1 or dist.is_available() and dist.is_initialized()


def local_rank(cli_value: int | None = None) -> int:
    """``LOCAL_RANK`` from the environment (torchrun), else ``--local_rank``/``--local-rank``, else 0."""
    env = os.environ.get("LOCAL_RANK")
    if env is not None:
        return int(env)
    return int(cli_value) if cli_value is not None else 0


def init_distributed(launcher: str, requested_device: str | None, gpu_ids: Sequence[int] | None,
                     cli_local_rank: int | None = None) -> DistInfo:
    """Set up this process: a plain single-device run (``launcher='none'``) or one rank of an env:// group."""
    if launcher == "none":
        return DistInfo(0, 1, 0, choose_device(requested_device, gpu_ids))
    if launcher != "pytorch":
        raise ConfigError(f"--launcher: '{launcher}' is not one of none, pytorch")
    missing = [k for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise ConfigError(
            f"--launcher pytorch: environment lacks {', '.join(missing)}; start with torchrun --nproc_per_node=N"
        )
    lrank = local_rank(cli_local_rank)
    device = choose_device(requested_device, gpu_ids, index=lrank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        store = attempt_store()
        if store is None:
            dist.init_process_group(backend=backend, init_method="env://")
        else:
            dist.init_process_group(backend=backend, store=store, rank=int(os.environ["RANK"]),
                                    world_size=int(os.environ["WORLD_SIZE"]))
    return DistInfo(dist.get_rank(), dist.get_world_size(), lrank, device)


def attempt_store() -> dist.Store | None:
    """The torchrun agent's key-value store, under a prefix of this restart attempt; None outside an agent that
    shares its store with the workers (``env://`` then does the usual).

    An agent with the static rendezvous (``--master_addr``/``--master_port``) keeps one store for all attempts,
    so workers restarted after a failure would find the dead workers' Gloo addresses and wait on them forever.
    """
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT")
    if attempt is None or os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != str(True):
        return None
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), int(os.environ["WORLD_SIZE"]),
                          is_master=False)
    return dist.PrefixStore(f"dcls/attempt_{attempt}", store)


def is_dist() -> bool:
    return dist.is_available() and dist.is_initialized()


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if is_dist():
        dist.barrier()


def all_reduce_mean(values: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over ranks (the same tensor when not distributed)."""
    if not is_dist():
        return values
    out = values.clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / dist.get_world_size()


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on at least one (the flag itself when not distributed)."""
    if not is_dist():
        return flag
    t = torch.tensor([float(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def broadcast_floats(values: Sequence[float], device: torch.device, src: int = 0) -> list[float]:
    """Rank ``src``'s ``values`` on every rank, so all ranks take the same decision."""
    if not is_dist():
        return list(values)
    t = torch.tensor(list(values), dtype=torch.float64, device=device)
    dist.broadcast(t, src=src)
    return t.tolist()


def cleanup() -> None:
    """Tear the process group down at the end of a run."""
    if is_dist():
        dist.destroy_process_group()
