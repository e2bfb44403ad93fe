"""Build a dataset from its option dict, and a reproducible (optionally distributed) DataLoader for it."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, get_worker_info

from .datasets import DATASET_REGISTRY


def build_dataset(opt: dict[str, Any]) -> Dataset:
    """Instantiate the dataset named by ``opt["mode"]`` ("GT", "LQGT" or "LQ") with the whole option dict."""
    mode = opt.get("mode")
    if mode is None:
        raise KeyError(f"dataset {opt.get('name', '?')}: option 'mode' is required (GT, LQGT or LQ)")
    return DATASET_REGISTRY.get(str(mode))(opt)


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: give each worker's dataset copy its own seeded random stream.

    The seed PyTorch hands a worker is the loader's base seed (drawn from its seeded ``generator``) plus
    the worker id, so crops differ between workers yet repeat exactly from run to run.
    """
    info = get_worker_info()
    reseed = getattr(info.dataset, "reseed", None)
    if reseed is not None:
        reseed(info.seed)


def build_dataloader(
    dataset: Dataset,
    opt: dict[str, Any],
    *,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
) -> DataLoader:
    """A DataLoader configured from the dataset options (``phase``, ``batch_size``, ``n_workers``, ``use_shuffle``).

    Train phase: ``batch_size`` is the total over all ranks (each rank loads ``batch_size // world_size``),
    ``n_workers`` are per rank, incomplete batches are dropped; with ``world_size > 1`` a DistributedSampler
    splits the data (call ``loader.sampler.set_epoch(epoch)`` every epoch). Other phases: batch 1, in order.
    Randomness comes from ``seed + rank`` only.
    """
    workers = int(opt.get("n_workers", 0))
    generator = torch.Generator().manual_seed(seed + rank)
    reseed = getattr(dataset, "reseed", None)
    if reseed is not None:  # the stream used when loading in the main process (n_workers 0)
        reseed(seed + rank)
    if opt.get("phase", "train") != "train":
        return DataLoader(
            dataset, batch_size=1, shuffle=False, num_workers=workers, worker_init_fn=seed_worker, generator=generator
        )
    batch_size = opt.get("batch_size")
    if batch_size is None:
        raise KeyError(f"dataset {opt.get('name', '?')}: option 'batch_size' is required for training")
    if int(batch_size) % world_size:
        raise ValueError(f"batch_size {batch_size} is not divisible by the {world_size} processes")
    shuffle = bool(opt.get("use_shuffle", True))
    sampler = None
    if world_size > 1:
        sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed)
    return DataLoader(
        dataset,
        batch_size=int(batch_size) // world_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        num_workers=workers,
        drop_last=True,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=workers > 0,
        worker_init_fn=seed_worker,
        generator=generator,
    )
