"""Training-data throughput: batches/s of the GT dataset read from an LMDB through the training loader.

    python benchmarks/bench_data.py [--lmdb X.lmdb] [--batches 20] [--repeats 3]

Batch 16 of 256x256 crops with flips/rotations (the paper's training input), ``n_workers`` 0 and 2, from
raw-pixel and PNG-encoded LMDBs. Without ``--lmdb`` it builds DIV2K-sized (1356x2040) synthetic photographs
in a temporary folder. Prints the median over repeats of ``--batches`` batches each, and the ratio to 0 workers.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from dcls.data.lmdb_io import write_lmdb
from dcls.engine.data_stream import build_train_loader


def synthetic_photo(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Structure at several scales plus fine texture, so PNG sizes and decode times are photograph-like."""
    coarse = rng.random((height // 32, width // 32, 3)).astype(np.float32)
    img = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    img += 0.1 * rng.random((height, width, 3), dtype=np.float32)
    return np.clip(img * 230, 0, 255).astype(np.uint8)


def batches_per_second(root: str, workers: int, batches: int, repeats: int) -> list[float]:
    opt = {"name": "bench", "mode": "GT", "phase": "train", "dataroot_GT": root, "GT_size": 256, "use_flip": True,
           "use_rot": True, "batch_size": 16, "n_workers": workers, "use_shuffle": True}
    loader, _ = build_train_loader(opt, seed=0, rank=0, world_size=1, pin_memory=False)
    iterator = iter(loader)
    rates = []
    for _ in range(repeats + 1):  # the first round warms up (worker start, page cache)
        start = time.perf_counter()
        for _ in range(batches):
            try:
                next(iterator)
            except StopIteration:
                iterator = iter(loader)
                next(iterator)
        rates.append(batches / (time.perf_counter() - start))
    return rates[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lmdb", help="measure this LMDB instead of synthetic ones")
    parser.add_argument("--images", type=int, default=16, help="synthetic images per LMDB")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.lmdb:
            roots = {Path(args.lmdb).name: args.lmdb}
        else:
            rng = np.random.default_rng(0)
            photos = [(f"img{i:03d}", synthetic_photo(rng, 1356, 2040)) for i in range(args.images)]
            roots = {}
            for label, level in (("raw", 0), ("png", 1)):
                roots[label] = str(Path(tmp) / f"{label}.lmdb")
                write_lmdb(photos, roots[label], compress_level=level)
        print("| LMDB | n_workers | batches/s (median) | vs 0 workers |")
        print("| --- | --- | --- | --- |")
        for label, root in roots.items():
            base = None
            for workers in (0, 2):
                median = statistics.median(batches_per_second(root, workers, args.batches, args.repeats))
                base = base or median
                print(f"| {label} | {workers} | {median:.2f} | {median / base:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
