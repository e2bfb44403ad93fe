"""Build a dataset from its option dict, and the in-order DataLoader of a validation or test set.

Training batches come from :func:`dcls.engine.data_stream.build_train_loader` (shuffled, split over ranks,
resumable); validation and test sets draw no randomness, so their loader needs no seeding.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from .datasets import DATASET_REGISTRY


def build_dataset(opt: dict[str, Any]) -> Dataset:
    """Instantiate the dataset named by ``opt["mode"]`` ("GT", "LQGT" or "LQ") with the whole option dict."""
    mode = opt.get("mode")
    if mode is None:
        raise KeyError(f"dataset {opt.get('name', '?')}: option 'mode' is required (GT, LQGT or LQ)")
    return DATASET_REGISTRY.get(str(mode))(opt)


def build_dataloader(dataset: Dataset, opt: dict[str, Any]) -> DataLoader:
    """Batches of one image, in order, read by ``opt["n_workers"]`` worker processes (0: in this process).

    Its own generator keeps iterating the loader (which draws the workers' base seed) off torch's global
    random stream, so validating does not change what training draws next.
    """
    workers = int(opt.get("n_workers", 0))
    return DataLoader(dataset, batch_size=1, shuffle=False, num_workers=workers, generator=torch.Generator())
