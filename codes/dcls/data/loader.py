"""Build a dataset from its option dict, and the in-order DataLoader of a validation or test set.

Training batches come from :func:`dcls.engine.data_stream.build_train_loader` (shuffled, split over ranks,
resumable); validation and test sets draw no randomness, so their loader needs no seeding.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from ..registry import DATASET_REGISTRY
from ..utils.frozen import thaw


def build_dataset(opt: Mapping[str, Any]) -> Dataset:
    """Instantiate the registered dataset ``opt["mode"]`` (built in: GT, LQGT, LQ) with (a plain copy of) the
    whole option dict of its phase."""
    mode = opt.get("mode")
    if mode is None:
        raise KeyError(f"dataset {opt.get('name', '?')}: option 'mode' is required")
    return DATASET_REGISTRY.get(str(mode))(thaw(opt))


def build_dataloader(dataset: Dataset, opt: Mapping[str, Any]) -> DataLoader:
    """Batches of one image, in order, read by ``opt["n_workers"]`` worker processes (0: in this process).

    Its own generator keeps iterating the loader (which draws the workers' base seed) off torch's global
    random stream, so validating does not change what training draws next.
    """
    workers = int(opt.get("n_workers", 0))
    return DataLoader(dataset, batch_size=1, shuffle=False, num_workers=workers, generator=torch.Generator())
