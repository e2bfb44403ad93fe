"""Data: image LMDBs, the GT / LQGT / LQ datasets (registered in DATASET_REGISTRY) and their DataLoaders."""

from .datasets import GTDataset, LQDataset, LQGTDataset
from .loader import build_dataloader, build_dataset

__all__ = ["GTDataset", "LQGTDataset", "LQDataset", "build_dataset", "build_dataloader"]
