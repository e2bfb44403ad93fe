"""The training sample stream: shuffled per epoch, split across ranks, and resumable at any batch.

Every sample gets its own seed, a pure function of (manual_seed, epoch, position in the epoch), and the
dataset's crop/flip generator is reseeded with it just before the sample is read. What a batch holds
therefore depends neither on which DataLoader worker reads it nor on where a run was interrupted, which
is what makes a resumed run bit-identical to an uninterrupted one; positions, hence seeds, differ
between ranks and workers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..data import build_dataset
from .preemption import ignore_stop_signals

MIN_BATCHES_PER_EPOCH = 100  # small data sets are repeated so an epoch keeps the worker pipeline busy


def sample_seeds(seed: int, epoch: int, positions: np.ndarray) -> np.ndarray:
    """One 32-bit seed per epoch position: a SplitMix64-style hash of (seed, epoch, position)."""
    with np.errstate(over="ignore"):
        x = (np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)) ^ (np.uint64(epoch) * np.uint64(0xBF58476D1CE4E5B9))
        x = x + positions.astype(np.uint64) * np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return (x >> np.uint64(32)).astype(np.int64)


class SeededSamples(Dataset):
    """Wraps a dataset so that item ``(index, seed)`` is read with the dataset's RNG reseeded to ``seed``."""

    def __init__(self, dataset: Dataset) -> None:
        if not hasattr(dataset, "reseed"):
            raise TypeError(f"{type(dataset).__name__} has no reseed(seed) method")
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, item: tuple[int, int]) -> Any:
        index, seed = item
        self.dataset.reseed(int(seed))
        return self.dataset[int(index)]


class ResumableSampler(Sampler):
    """Per-epoch shuffled ``(index, seed)`` pairs for one rank, starting at any batch of the epoch.

    An epoch covers the data set ``ratio`` times (``ratio`` large enough for ``MIN_BATCHES_PER_EPOCH``
    batches per rank), shuffled with (seed, epoch); rank ``r`` of ``w`` takes positions ``r, r+w, ...``.
    """

    def __init__(self, size: int, batch_size: int, rank: int = 0, world_size: int = 1, seed: int = 0,
                 shuffle: bool = True) -> None:
        if size <= 0:
            raise ValueError("the training set is empty")
        self.size, self.batch_size = size, batch_size
        self.rank, self.world_size = rank, world_size
        self.seed, self.shuffle = seed, shuffle
        self.ratio = max(1, math.ceil(MIN_BATCHES_PER_EPOCH * batch_size * world_size / size))
        self.batches_per_epoch = (size * self.ratio // world_size) // batch_size
        self.epoch, self.start_batch = 0, 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch to draw and the batch of it to start from (for resuming)."""
        self.epoch, self.start_batch = epoch, start_batch

    def __len__(self) -> int:
        return max(0, self.batches_per_epoch - self.start_batch) * self.batch_size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        total = self.size * self.ratio
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(total) % self.size
        else:
            order = np.arange(total) % self.size
        positions = np.arange(self.rank, total, self.world_size)[: self.batches_per_epoch * self.batch_size]
        positions = positions[self.start_batch * self.batch_size:]
        seeds = sample_seeds(self.seed, self.epoch, positions)
        for pos, s in zip(positions.tolist(), seeds.tolist()):
            yield int(order[pos]), s


def build_train_loader(dataset_opt: dict[str, Any], seed: int, rank: int, world_size: int,
                       pin_memory: bool) -> tuple[DataLoader, ResumableSampler]:
    """DataLoader of the training set (``batch_size`` split over ranks) and its resumable sampler."""
    total_batch = dataset_opt["batch_size"]
    if total_batch % world_size:
        raise ValueError(f"datasets.train.batch_size: {total_batch} is not divisible by {world_size} processes")
    batch = total_batch // world_size
    dataset = build_dataset(dataset_opt)
    sampler = ResumableSampler(len(dataset), batch, rank, world_size, seed, shuffle=dataset_opt["use_shuffle"])
    if sampler.batches_per_epoch == 0:
        raise ValueError("datasets.train: too few images for one batch")
    workers = dataset_opt["n_workers"]
    loader = DataLoader(
        SeededSamples(dataset),
        batch_size=batch,
        sampler=sampler,
        num_workers=workers,
        drop_last=True,
        pin_memory=pin_memory,
        persistent_workers=workers > 0,
        worker_init_fn=ignore_stop_signals if workers > 0 else None,
        generator=torch.Generator().manual_seed(seed + rank),
    )
    return loader, sampler
