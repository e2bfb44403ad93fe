"""Distributed training on the CPU (gloo): torchrun and torch.distributed.launch runs, and how ranks split the work."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from dcls.config import validate
from dcls.engine.data_stream import ResumableSampler, build_train_loader, sample_seeds
from dcls.engine.distributed import attempt_store
from dcls.engine.trainer import Trainer, build_degradation

DIST_NITER = 8


def _dist_options(eng, engine_data) -> dict:
    return eng.train_options(engine_data, name="dist", train={"niter": DIST_NITER, "val_freq": 4},
                             logger={"print_freq": 2, "save_checkpoint_freq": 4})


def _check_distributed_run(proc, experiment: Path, eng) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "Traceback" not in out
    logs = list(experiment.glob("train_dist_*.log"))
    assert len(logs) == 1, "only rank 0 writes a log file"
    log = logs[0].read_text()
    assert "device cpu, 2 process(es)" in log
    assert "batches of 1 per epoch per rank" in log  # batch_size 2 split over 2 ranks
    assert log.count("# Validation # PSNR:") == 2
    assert log.count("saved checkpoint of iter") == 2
    assert f"finished at iter {DIST_NITER}" in log
    assert sorted(p.name for p in (experiment / "models").iterdir()) == ["4_G.pth", "8_G.pth", "latest_G.pth"]
    assert sorted(p.name for p in (experiment / "training_state").iterdir()) == ["4.state", "8.state"]
    assert len(list((experiment / "tb_logger").iterdir())) == 1
    assert [p.name for p in experiment.glob("options*.yml")] == ["options.yml"]
    assert not list(experiment.parent.glob("dist_archived_*")), "a second rank must not archive rank 0's folder"
    weights = eng.load_weights(experiment / "models" / f"{DIST_NITER}_G.pth")
    assert not any(k.startswith("module.") for k in weights)
    assert all(torch.isfinite(v).all() for v in weights.values())


@pytest.mark.slow
def test_torchrun_two_cpu_processes(engine_data, eng, tmp_path) -> None:
    options = eng.write_yaml(tmp_path / "o.yml", _dist_options(eng, engine_data))
    cmd = eng.torchrun("--nproc_per_node=2", eng.TRAIN_PY, "-opt", options, "--launcher", "pytorch")
    proc = subprocess.run(cmd, cwd=tmp_path, env=eng.subprocess_env(), capture_output=True, text=True, timeout=120)
    _check_distributed_run(proc, tmp_path / "experiments" / "dist", eng)


@pytest.mark.slow
def test_torch_distributed_launch_passes_local_rank(engine_data, eng, tmp_path) -> None:
    options = eng.write_yaml(tmp_path / "o.yml", _dist_options(eng, engine_data))
    proc = eng.run_python(["-m", "torch.distributed.launch", "--nproc_per_node=2", f"--master_port={eng.free_port()}",
                           eng.TRAIN_PY, "-opt", options, "--launcher", "pytorch"], cwd=tmp_path)
    _check_distributed_run(proc, tmp_path / "experiments" / "dist", eng)


def test_ranks_take_disjoint_positions_and_seeds_that_cover_the_epoch() -> None:
    size, batch, seed = 10, 3, 7
    ranks = [ResumableSampler(size, batch, rank=r, world_size=2, seed=seed) for r in (0, 1)]
    for sampler in ranks:
        sampler.set_epoch(2)
    items = [list(sampler) for sampler in ranks]
    assert len(items[0]) == len(items[1]) == ranks[0].batches_per_epoch * batch
    seeds = [{s for _, s in it} for it in items]
    assert not seeds[0] & seeds[1], "two ranks must never draw the same crop"
    whole = ResumableSampler(size, batch * 2, rank=0, world_size=1, seed=seed)
    whole.set_epoch(2)
    assert sorted(s for it in items for _, s in it) == sorted(s for _, s in whole)
    counts = np.bincount([i for it in items for i, _ in it], minlength=size)
    assert counts.max() - counts.min() <= 1  # every image equally often


def test_a_resumed_sampler_continues_the_same_sequence() -> None:
    sampler = ResumableSampler(6, 2, rank=1, world_size=2, seed=3)
    sampler.set_epoch(4)
    full = list(sampler)
    sampler.set_epoch(4, start_batch=5)
    assert list(sampler) == full[10:] and len(sampler) == len(full) - 10
    sampler.set_epoch(5)
    assert list(sampler) != full
    assert sample_seeds(3, 4, np.arange(3)).tolist() == sample_seeds(3, 4, np.arange(3)).tolist()


def test_the_total_batch_is_split_over_ranks(engine_data, eng) -> None:
    validated = validate(eng.train_options(engine_data), is_train=True)[0]["datasets"]["train"]
    ds = {**validated, "batch_size": 4}
    loaders = [build_train_loader(ds, seed=0, rank=r, world_size=2, pin_memory=False) for r in (0, 1)]
    batches = [next(iter(loader))["GT"] for loader, _ in loaders]
    assert [b.shape[0] for b in batches] == [2, 2]
    assert not torch.equal(batches[0], batches[1])
    ds = {**validated, "batch_size": 3}
    with pytest.raises(ValueError, match="not divisible by 2 processes"):
        build_train_loader(ds, seed=0, rank=0, world_size=2, pin_memory=False)


def test_ranks_synthesise_different_kernels_for_the_same_iteration(engine_data, eng) -> None:
    degradation = build_degradation(validate(eng.train_options(engine_data), is_train=True)[0])
    hr = torch.rand(2, 3, 84, 84)

    def kernels(rank: int, iteration: int) -> torch.Tensor:
        fake = SimpleNamespace(seed=0, dist=SimpleNamespace(rank=rank), iteration=iteration, degradation=degradation)
        return Trainer.synthesize(fake, hr).kernels

    assert torch.equal(kernels(0, 5), kernels(0, 5))
    assert not torch.equal(kernels(0, 5), kernels(1, 5))
    assert not torch.equal(kernels(0, 5), kernels(0, 6))


def test_each_torchrun_restart_attempt_has_keys_of_its_own(monkeypatch, eng) -> None:
    """A restarted worker must not read the dead workers' keys from the agent's store (it would wait forever)."""
    port = eng.free_port()
    server = torch.distributed.TCPStore("127.0.0.1", port, is_master=True, timeout=timedelta(seconds=10),
                                      wait_for_workers=False)
    for name, value in {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TORCHELASTIC_RESTART_COUNT", raising=False)
    assert attempt_store() is None, "outside torchrun, env:// does the usual"
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    monkeypatch.setenv("TORCHELASTIC_USE_AGENT_STORE", "False")
    assert attempt_store() is None, "workers that host their own store start from an empty one"
    monkeypatch.setenv("TORCHELASTIC_USE_AGENT_STORE", "True")
    server.set("0/rank_1", b"address of a dead worker")
    attempt_store().set("0/rank_1", b"address of the new worker")
    assert server.get("dcls/attempt_1/0/rank_1") == b"address of the new worker"
    assert server.get("0/rank_1") == b"address of a dead worker"
