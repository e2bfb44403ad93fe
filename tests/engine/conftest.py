"""Fixtures for the engine tests: a tiny LMDB training set, a Gaussian8 x4 set made from photographs, option files
for a tiny DCLS, and one finished training run shared by the tests that only read its outputs.

Every run uses one torch thread (in this process and in subprocesses): on a busy 2-core machine two OpenMP
threads per process are many times slower, and bit-exact comparisons need the same thread count everywhere.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest
import skimage.data
import torch
import yaml

from dcls.data.gaussian8 import generate_gaussian8
from dcls.data.lmdb_io import write_lmdb

REPO = Path(__file__).resolve().parents[2]
TRAIN_PY = REPO / "codes" / "train.py"
TEST_PY = REPO / "codes" / "test.py"
SCALE = 4
TINY_NET = {"nf": 8, "nb": 1, "ng": 1, "input_para": 8, "kernel_size": 21, "reduction": 2}


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one intra-op thread inside the block, restoring the previous count after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _single_thread(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    with one_thread():
        yield


def _smooth_photo(height: int, width: int, seed: int) -> np.ndarray:
    """A deterministic BGR uint8 image with structure at several scales."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((height // 6 + 2, width // 6 + 2, 3)).astype(np.float32)
    img = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    return (np.clip(0.8 * img + 0.2 * rng.random((height, width, 3)), 0, 1) * 255).round().astype(np.uint8)


def _skimage_photo(name: str, size: tuple[int, int]) -> np.ndarray:
    img = cv2.cvtColor(getattr(skimage.data, name)(), cv2.COLOR_RGB2BGR)
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class EngineData:
    """Paths of the tiny data sets."""

    train_lmdb: Path
    g8_hr: Path  # Gaussian8 x4 folders (8 pairs per photograph)
    g8_lr: Path
    g8_hr_lmdb: Path
    g8_lr_lmdb: Path


@pytest.fixture(scope="session")
def engine_data(tmp_path_factory: pytest.TempPathFactory) -> EngineData:
    """Four 100x104 training images in an LMDB; Gaussian8 x4 of two 64x64 photographs (folders and LMDBs)."""
    root = tmp_path_factory.mktemp("engine_data")
    write_lmdb(((f"img{i}", _smooth_photo(100, 104, i)) for i in range(4)), root / "train.lmdb")
    photos = root / "photos"
    photos.mkdir()
    for name in ("astronaut", "coffee"):
        assert cv2.imwrite(str(photos / f"{name}.png"), _skimage_photo(name, (64, 64)))
    generate_gaussian8(photos, root / "g8", SCALE, make_lmdb=True, progress=False)
    g8 = root / "g8"
    return EngineData(root / "train.lmdb", g8 / "HR" / "x4", g8 / "LRblur" / "x4", g8 / "x4HRblur.lmdb",
                      g8 / "x4LRblur.lmdb")


def train_options(data: EngineData, name: str = "tiny", **sections: Any) -> dict[str, Any]:
    """Options of a tiny x4 training run (12 iterations, validation every 6, checkpoints every 4)."""
    opt: dict[str, Any] = {
        "name": name,
        "use_tb_logger": True,
        "device": "cpu",  # bit-exact resume is a CPU guarantee; tests/engine/test_cuda_run.py covers CUDA
        "model": "blind",
        "scale": SCALE,
        "degradation": {"ksize": 21, "sig_min": 0.2, "sig_max": 4.0, "rate_iso": 1.0},
        "datasets": {
            "train": {"name": "tiny_train", "mode": "GT", "dataroot_GT": str(data.train_lmdb), "n_workers": 0,
                      "batch_size": 2, "GT_size": 84},
            "val": {"name": "tiny_val", "mode": "LQGT", "dataroot_GT": str(data.g8_hr),
                    "dataroot_LQ": str(data.g8_lr), "n_workers": 0},
        },
        "network_G": {"which_model_G": "DCLS", "setting": dict(TINY_NET)},
        "train": {"niter": 12, "manual_seed": 0, "val_freq": 6},
        "logger": {"print_freq": 2, "save_checkpoint_freq": 4},
    }
    for key, value in sections.items():
        opt[key] = {**opt[key], **value} if isinstance(opt.get(key), dict) else value
    return opt


def eval_options(data: EngineData, checkpoint: Path, name: str = "tiny_test", lmdb: bool = True) -> dict[str, Any]:
    """Options of test.py on the Gaussian8 set (LMDBs by default) with the tiny network."""
    gt, lq = (data.g8_hr_lmdb, data.g8_lr_lmdb) if lmdb else (data.g8_hr, data.g8_lr)
    return {
        "name": name,
        "model": "blind",
        "scale": SCALE,
        "gpu_ids": [0],
        "device": "cpu",
        "datasets": {"test1": {"name": "g8", "mode": "LQGT", "dataroot_GT": str(gt), "dataroot_LQ": str(lq),
                               "n_workers": 0}},
        "network_G": {"which_model_G": "DCLS", "setting": dict(TINY_NET)},
        "path": {"pretrain_model_G": str(checkpoint)},
    }


def write_yaml(path: Path, opt: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(opt, sort_keys=False))
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "codes"), env.get("PYTHONPATH")) if p)
    env["OMP_NUM_THREADS"] = "1"
    return env


def torchrun(*args: str | Path) -> list[str]:
    """The command line of torchrun (its script beside this Python, else ``python -m torch.distributed.run``)."""
    script = Path(sys.executable).with_name("torchrun")
    launcher = [str(script)] if script.is_file() else [sys.executable, "-m", "torch.distributed.run"]
    return [*launcher, "--master_addr=127.0.0.1", f"--master_port={free_port()}", *map(str, args)]


def run_python(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python args...`` in ``cwd`` with one torch thread, capturing text output."""
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=subprocess_env(), capture_output=True,
                          text=True, timeout=timeout)


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


@dataclass(frozen=True)
class FinishedRun:
    """A finished tiny training run: its folder, options file and the experiment it wrote."""

    workdir: Path
    options: Path
    experiment: Path
    stderr: str


@pytest.fixture(scope="session")
def finished_run(engine_data: EngineData, tmp_path_factory: pytest.TempPathFactory) -> FinishedRun:
    """``train.py`` run once in-process (12 iterations, val at 6 and 12, checkpoints at 4, 8, 12)."""
    from dcls.engine.cli import train_main

    workdir = tmp_path_factory.mktemp("finished_run")
    options = write_yaml(workdir / "train_tiny.yml", train_options(engine_data))
    mp = pytest.MonkeyPatch()
    mp.chdir(workdir)
    capture = workdir / "stderr.txt"
    try:
        with one_thread(), open(capture, "w") as err, contextlib.redirect_stderr(err):
            rc = train_main(["-opt", str(options)])
    finally:
        mp.undo()
    assert rc == 0, capture.read_text()[-3000:]
    return FinishedRun(workdir, options, workdir / "experiments" / "tiny", capture.read_text())


def copy_experiment(run: FinishedRun, dest: Path) -> Path:
    """A copy of a finished run's working folder (so a test may resume or damage it)."""
    shutil.copytree(run.workdir, dest)
    return dest


@pytest.fixture(scope="session")
def eng() -> SimpleNamespace:
    """The helpers above, for test modules (conftest modules are not importable with importlib mode)."""
    return SimpleNamespace(
        REPO=REPO, TRAIN_PY=TRAIN_PY, TEST_PY=TEST_PY, SCALE=SCALE, TINY_NET=TINY_NET, one_thread=one_thread,
        train_options=train_options, eval_options=eval_options, write_yaml=write_yaml, free_port=free_port,
        subprocess_env=subprocess_env, torchrun=torchrun, run_python=run_python, load_weights=load_weights,
        assert_same_weights=assert_same_weights, copy_experiment=copy_experiment,
    )
