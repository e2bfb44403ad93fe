"""Data: image LMDBs, the GT / LQGT / LQ datasets (registered in DATASET_REGISTRY) and their DataLoaders."""

from ..registry import DATASET_REGISTRY
from .datasets import GTDataset, LQDataset, LQGTDataset
from .loader import build_dataloader, build_dataset

__all__ = ["DATASET_REGISTRY", "GTDataset", "LQGTDataset", "LQDataset", "build_dataset", "build_dataloader"]
