"""Training-data throughput: batches/s and samples/s of the GT dataset read from an LMDB through the training loader.

    python benchmarks/bench_data.py [--lmdb X.lmdb] [--batch 16] [--workers 0 2] [--batches 20] [--repeats 3]
    python benchmarks/bench_data.py --preset paper

Crops of 256x256 with flips/rotations (the paper's training input), from raw-pixel and PNG-encoded LMDBs.
Without ``--lmdb`` it builds DIV2K-sized (1356x2040) synthetic photographs in a temporary folder. Prints the
median over repeats of ``--batches`` batches each, and the ratio to the first worker count. ``--preset paper``:
batches of 64 from the raw LMDB with 0, 2 and 4 workers, beside what training at the paper's batch consumes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from dcls.data.lmdb_io import write_lmdb
from dcls.engine.data_stream import build_train_loader

GOAL_ITERS_PER_S = 5.8  # 500k iterations in 24 hours
FEED_MARGIN = 3  # the loader must deliver at least this multiple of what the GPU consumes
PRESETS = {"paper": {"batch": 64, "workers": [0, 2, 4], "storage": ["raw"]}}


def synthetic_photo(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Structure at several scales plus fine texture, so PNG sizes and decode times are photograph-like."""
    coarse = rng.random((height // 32, width // 32, 3)).astype(np.float32)
    img = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    img += 0.1 * rng.random((height, width, 3), dtype=np.float32)
    return np.clip(img * 230, 0, 255).astype(np.uint8)


def batches_per_second(root: str, batch: int, workers: int, batches: int, repeats: int) -> list[float]:
    opt = {"name": "bench", "mode": "GT", "phase": "train", "dataroot_GT": root, "GT_size": 256, "use_flip": True,
           "use_rot": True, "batch_size": batch, "n_workers": workers, "use_shuffle": True}
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
    parser.add_argument("--preset", choices=sorted(PRESETS), help="paper: batch 64, workers 0 2 4, raw LMDB")
    parser.add_argument("--lmdb", help="measure this LMDB instead of synthetic ones")
    parser.add_argument("--images", type=int, default=16, help="synthetic images per LMDB")
    parser.add_argument("--batch", type=int, default=16, help="crops per batch")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="loader worker counts to compare")
    parser.add_argument("--storage", nargs="+", choices=("raw", "png"), default=["raw", "png"],
                        help="synthetic LMDBs to build")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.preset:
        vars(args).update(PRESETS[args.preset])
    print(f"batch {args.batch} of 256x256 crops; {os.cpu_count()} CPU cores")
    with tempfile.TemporaryDirectory() as tmp:
        if args.lmdb:
            roots = {Path(args.lmdb).name: args.lmdb}
        else:
            rng = np.random.default_rng(0)
            photos = [(f"img{i:03d}", synthetic_photo(rng, 1356, 2040)) for i in range(args.images)]
            roots = {}
            for label in args.storage:
                roots[label] = str(Path(tmp) / f"{label}.lmdb")
                write_lmdb(photos, roots[label], compress_level=1 if label == "png" else 0)
        print("| LMDB | n_workers | batches/s (median) | samples/s | vs first |")
        print("| --- | --- | --- | --- | --- |")
        for label, root in roots.items():
            base = None
            for workers in args.workers:
                median = statistics.median(batches_per_second(root, args.batch, workers, args.batches, args.repeats))
                base = base or median
                print(f"| {label} | {workers} | {median:.2f} | {median * args.batch:.0f} | {median / base:.2f}x |",
                      flush=True)
    need = GOAL_ITERS_PER_S * args.batch
    print(f"training at {GOAL_ITERS_PER_S} it/s (500k iterations in 24 h) consumes {need:.0f} samples/s; "
          f"{FEED_MARGIN}x that is {FEED_MARGIN * need:.0f} samples/s")


if __name__ == "__main__":
    main()
