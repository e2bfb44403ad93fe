"""DCLS training, readable top to bottom in :meth:`Trainer.fit`:
data -> synthesis -> forward -> losses -> backward -> step -> schedulers -> log -> validate -> checkpoint.

Randomness is keyed, not streamed: the kernels of iteration ``i`` on rank ``r`` come from a numpy
Generator seeded with (seed, r, i), and every training crop from its own (seed, epoch, position) seed
(:mod:`.data_stream`). With the optimizer, schedulers, counters and RNG states in every checkpoint, a run
killed at any point and resumed ends with bit-identical weights on the CPU (EMA weights included). A stop
signal (:mod:`.preemption`) ends the run after the current step with a checkpoint of that iteration.
"""

from __future__ import annotations

import copy
import errno
import logging
import math
import random
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from ..accel.execution import compile_network, tune_backend
from ..data import build_dataloader, build_dataset
from ..degradation import DegradedBatch
from ..errors import CheckpointError, ConfigError
from ..evaluation import InferenceSettings, SuperResolver, average, evaluate
from ..losses import build_loss_terms, correct_kernel
from ..modeling import build_model
from ..registry import DEGRADATION_REGISTRY
from ..step import UpdateCap, apply_update, build_optimizer, compute_losses
from ..utils.kernel_vis import kernel_grid
from ..weights import load_network, save_network
from . import checkpoint as ckpt
from .data_stream import build_train_loader
from .distributed import DistInfo, all_reduce_mean, any_rank, barrier, broadcast_floats
from .ema import ModelEMA
from .guard import CollapseGuard
from .preemption import StopRequest
from .schedulers import apply_warmup, build_scheduler

logger = logging.getLogger("dcls")


def build_degradation(opt: Mapping[str, Any]) -> Any:
    """The training degradation the ``degradation`` options name (``type``, default the paper's Gaussian blur),
    built with the run's scale: ``degradation(hr, rng) -> DegradedBatch``."""
    return DEGRADATION_REGISTRY.build_spec(opt["degradation"], scale=opt["scale"])


def seed_everything(seed: int) -> None:
    """Seed Python, numpy's global RNG and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Trainer:
    """Owns the model, optimizer, schedulers, data and counters of one training run (one rank)."""

    def __init__(self, opt: Mapping[str, Any], dist: DistInfo, resume: Path | None = None) -> None:
        self.opt, self.dist, self.device = opt, dist, dist.device
        tr = opt["train"]
        self.niter, self.warmup_iter = tr["niter"], tr["warmup_iter"]
        self.val_freq, self.grad_clip_norm = tr["val_freq"], tr["grad_clip_norm"]
        self.print_freq = opt["logger"]["print_freq"]
        self.save_freq = opt["logger"]["save_checkpoint_freq"]
        self.scale = opt["scale"]
        self.amp = tr["amp"]
        self.iteration = self.epoch = self.batch_in_epoch = 0
        self.best_psnr, self.best_iter = -math.inf, 0
        self.last_saved = -1
        self.state = self._load_resume(resume)
        self.seed = self._choose_seed()

        seed_everything(self.seed)  # identical initial weights on every rank
        weights, strict = self._weights_to_load()
        self.model = build_model(opt["network_G"], self.device, weights=weights, strict=strict, training=True,
                                 accelerate=opt["accel"], channels_last=tr["channels_last"])
        tune_backend(self.device, fixed_shapes=True)  # training crops all have GT_size
        self.ema = ModelEMA(self.model, copy.deepcopy(self.model).eval(), tr["ema_decay"]) if tr["ema_decay"] else None
        self._load_ema_weights(resume)
        self.optimizer = build_optimizer(self.model, tr["lr_G"], tr["lr_E"], (tr["beta1"], tr["beta2"]),
                                         tr["weight_decay_G"], tr["adam_eps"])
        ratio = tr["max_update_ratio"]
        self.update_cap = UpdateCap(self.optimizer, ratio) if ratio is not None else None
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp == "fp16")
        self.schedulers = [build_scheduler(self.optimizer, tr)]
        self.loss_terms = build_loss_terms(tr["losses"], tr["pixel_criterion"], tr["pixel_weight"])
        for term in self.loss_terms:
            term.loss.to(self.device)
        self.degradation = build_degradation(opt)
        self.train_loader, self.sampler = self._build_train_loader()
        self.has_val = "val" in opt["datasets"]
        self.val_loader = self._build_val_loader()  # rank 0 only
        self.net: nn.Module = self.model
        if dist.distributed:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=device_ids)
        if tr["compile"]:
            self.net = compile_network(self.net)
        seed_everything(self.seed + dist.rank)
        if self.state is not None:
            self._restore_state(self.state)
        apply_warmup(self.optimizer, self.iteration + 1, self.warmup_iter)
        guard = tr["collapse_guard"]
        self.guard = CollapseGuard(self.model, self.optimizer, self.schedulers, **guard,
                                   ema=self.ema.average if self.ema else None)
        if self.state is not None:
            self.guard.events = int(self.state.get("guard_events", 0))
        self.guard.remember(self.iteration)
        self.tb = self._open_tensorboard(resumed=self.state is not None)
        self.last_kernel: tuple[torch.Tensor, DegradedBatch] | None = None  # estimated kernel, its batch

    # ----------------------------------------------------------------- the loop
    def fit(self, stop: StopRequest | None = None) -> dict[str, Any]:
        """Train until ``train.niter`` iterations, or until ``stop`` is requested on any rank (then after the
        current step, with a checkpoint of that iteration); return a summary of the run."""
        self._log_start()
        bar = tqdm(total=self.niter, initial=self.iteration, desc=self.opt["name"], unit="it",
                   dynamic_ncols=True, disable=not self.dist.is_main)
        start = time.time()
        for batch in self.batches():                  # data (resumable, per-sample seeded)
            self.iteration += 1
            losses = self.train_step(batch)           # synthesis, forward, losses, backward, step
            self.update_learning_rate()               # schedulers (+ warm-up)
            self.log(losses, bar)
            if self.has_val and self.iteration % self.val_freq == 0:
                self.validate()
            if self.iteration % self.save_freq == 0:
                self.save_checkpoint()
            bar.update(1)
            if self.iteration >= self.niter:
                break
            if stop is not None and any_rank(stop.requested, self.device):
                bar.close()
                return self.stop(stop, time.time() - start)
        bar.close()
        return self.finish(time.time() - start)

    def batches(self) -> Iterator[dict[str, Any]]:
        """Training batches from the current (epoch, batch) position onwards, epoch after epoch."""
        while self.iteration < self.niter:
            self.sampler.set_epoch(self.epoch, self.batch_in_epoch)
            for batch in self.train_loader:
                self.batch_in_epoch += 1
                yield batch
                if self.iteration >= self.niter:
                    return
            self.epoch += 1
            self.batch_in_epoch = 0

    def synthesize(self, hr: torch.Tensor) -> DegradedBatch:
        """LR inputs from HR crops on the training device; kernels keyed by (seed, rank, iteration)."""
        rng = np.random.default_rng([self.seed, self.dist.rank, self.iteration])
        return self.degradation(hr, rng)

    def train_step(self, batch: dict[str, Any]) -> dict[str, float] | None:
        """One optimisation step: synthesis, forward and loss terms, the collapse guard's verdict on them, then
        backward and update. Returns each term's value (mean over ranks) by name; ``None`` when the guard
        refused the step (a non-finite loss, or the fp16 scale collapsed) and recovered."""
        hr = batch["GT"].to(self.device, non_blocking=True)
        deg = self.synthesize(hr)
        out = compute_losses(self.net, hr, deg, self.loss_terms, self.amp)  # the Restorer sees kernel.detach()
        values = all_reduce_mean(torch.stack([v.detach() for v in out.losses.values()]).float())
        losses = dict(zip(out.losses, values.tolist()))
        if not self.guard.loss_ok(values):
            said = ", ".join(f"{k} {v:.4g}" for k, v in losses.items())
            self.guard.recover(self.iteration, f"non-finite loss ({said})")
            return None
        overflowed = apply_update(self.optimizer, out.total, self.scaler, self.update_cap, self.grad_clip_norm)
        if self.guard.step_overflowed(overflowed):
            self.guard.recover(self.iteration, f"{self.guard.overflow_steps} fp16 updates in a row skipped "
                                               f"(non-finite gradients; scale {self.scaler.get_scale():.3g})")
            return None
        if self.ema is not None and not overflowed:
            self.ema.update()
        self.last_kernel = (out.kernel[:1].detach(), deg)
        return losses

    def update_learning_rate(self) -> None:
        """Step the schedulers once per iteration, then set the warm-up's rate for the next step."""
        for scheduler in self.schedulers:
            scheduler.step()
        apply_warmup(self.optimizer, self.iteration + 1, self.warmup_iter)

    def log(self, losses: dict[str, float] | None, bar: tqdm) -> None:
        """Every ``print_freq`` iterations: losses and learning rate to the log, the bar and TensorBoard."""
        if self.iteration % self.print_freq or not self.dist.is_main:
            return
        lrs = [g["lr"] for g in self.optimizer.param_groups]
        if losses is None:
            bar.set_postfix_str("collapse guard: step skipped")
            return
        text = " ".join(f"{k}: {v:.4e}" for k, v in losses.items())
        logger.info("<epoch:%3d, iter:%8d, lr:%.3e> %s", self.epoch, self.iteration, lrs[0], text)
        bar.set_postfix(losses, refresh=False)
        if self.tb is not None:
            for k, v in losses.items():
                self.tb.add_scalar(f"train/{k}", v, self.iteration)
            self.tb.add_scalar("train/lr_G", lrs[0], self.iteration)
            self.tb.add_scalar("train/lr_E", lrs[1], self.iteration)

    def validate(self) -> float:
        """PSNR-Y (crop = scale) on the val set by rank 0; every rank applies the same guard decision."""
        psnr = math.nan
        if self.dist.is_main:
            psnr = self.evaluate_val()
        psnr = broadcast_floats([psnr], self.device)[0]
        if not self.guard.psnr_ok(psnr, self.best_psnr):
            self.guard.recover(self.iteration, f"validation PSNR {psnr:.2f} dB, best {self.best_psnr:.2f} dB")
        elif psnr > self.best_psnr:
            self.best_psnr, self.best_iter = psnr, self.iteration
        logger.info("# Validation # PSNR: %.6f, Best PSNR: %.6f | Iter: %d", psnr, self.best_psnr, self.best_iter)
        if self.tb is not None:
            self.tb.add_scalar("val/psnr_y", psnr, self.iteration)
        return psnr

    def save_checkpoint(self) -> None:
        """Weights (and EMA weights) then training state (rank 0, each file atomically); the saved state becomes
        the last good one. A failed write (a full disk) removes this iteration's files, so the previous
        checkpoint stays the newest, and stops every rank with a CheckpointError."""
        failure = ""
        if self.dist.is_main:
            failure = self._write_checkpoint()
        if broadcast_floats([float(bool(failure))], self.device)[0]:
            raise CheckpointError(failure or f"rank 0 could not write the checkpoint of iter {self.iteration}")
        barrier()
        self.guard.remember(self.iteration)
        self.last_saved = self.iteration

    def _write_checkpoint(self) -> str:
        """Write this iteration's files; on an OSError remove them again and return the message to stop with."""
        paths = self.opt["path"]
        files = [(self.model, ckpt.model_path_for(paths["models"], self.iteration))]
        if self.ema is not None:
            files.append((self.ema.average, ckpt.ema_path_for(paths["models"], self.iteration)))
        state_path = ckpt.state_path_for(paths["training_state"], self.iteration)
        try:
            for network, path in files:
                save_network(network, path)
            ckpt.save_training_state(state_path, self._state_dict())
        except OSError as exc:
            for path in [state_path, *(p for _, p in files)]:
                path.unlink(missing_ok=True)
            reason = "no space left on device" if exc.errno == errno.ENOSPC else exc.strerror or str(exc)
            kept = f"iter {self.last_saved}" if self.last_saved >= 0 else "none written yet"
            return (f"cannot write the checkpoint of iter {self.iteration} to {state_path.parent.parent}: {reason}; "
                    f"the previous checkpoint is intact ({kept})")
        logger.info("saved checkpoint of iter %d%s", self.iteration, " (with EMA weights)" if self.ema else "")
        return ""

    def stop(self, request: StopRequest, seconds: float) -> dict[str, Any]:
        """End a run asked to stop: checkpoint of the current iteration (if not just saved), log (every rank says
        where it stopped, so a distributed stop can be checked), summary."""
        request.stopped = True
        if self.last_saved != self.iteration:
            self.save_checkpoint()
        name = request.signal.name if request.signal is not None else "another rank's signal"
        logger.log(logging.INFO if self.dist.is_main else logging.WARNING,
                   "stopped by %s at iter %d after %.1f s: checkpoint of iter %d saved; resume with --auto_resume",
                   name, self.iteration, seconds, self.iteration)
        if self.tb is not None:
            self.tb.close()
        barrier()
        return {**self._summary(seconds), "stopped": name}

    def finish(self, seconds: float) -> dict[str, Any]:
        """Final checkpoint (if not just saved) and ``latest_G.pth``; return the run's summary."""
        if self.last_saved != self.iteration:
            self.save_checkpoint()
        if self.dist.is_main:
            save_network(self.model, Path(self.opt["path"]["models"]) / "latest_G.pth")
            if self.ema is not None:
                save_network(self.ema.average, Path(self.opt["path"]["models"]) / "latest_G_ema.pth")
            best = (f"best PSNR-Y {self.best_psnr:.4f} dB at iter {self.best_iter}" if math.isfinite(self.best_psnr)
                    else "no validation run")
            logger.info("finished at iter %d in %.1f s; %s; collapse-guard events: %d",
                        self.iteration, seconds, best, self.guard.events)
        if self.tb is not None:
            self.tb.close()
        barrier()
        return self._summary(seconds)

    def _summary(self, seconds: float) -> dict[str, Any]:
        return {"iteration": self.iteration, "best_psnr": self.best_psnr, "best_iter": self.best_iter,
                "guard_events": self.guard.events, "seconds": seconds, "stopped": None}

    # ----------------------------------------------------------------- helpers
    def evaluate_val(self, save_images: bool = True) -> float:
        """PSNR-Y on the val set of the EMA weights when on, else of the trained weights (the first validation log
        says which), each image run as testing runs it (the kernel estimated on the whole image); the SR images
        are saved under ``path.val_images/<iter>`` with ``save_images``."""
        network = self.ema.average if self.ema is not None else self.model
        resolver = SuperResolver(network, self.scale, InferenceSettings(kernel_crop=0), self.device)
        save_dir = Path(self.opt["path"]["val_images"]) / str(self.iteration) if save_images else None
        first: dict[str, Any] = {}

        def predict(lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            sr, kernel = resolver(lr)
            if not first:
                first.update(lr=lr[0], sr=sr[0].cpu())
            return sr, kernel

        rows = evaluate(predict, self.val_loader, self.scale, full_metrics=False, save_dir=save_dir)
        self.model.train()
        if self.ema is not None:
            self.ema.average.eval()
        if self.tb is not None and first:
            self._tb_images(first)
        return average(rows)["psnr_y"] if rows else math.nan

    def _tb_images(self, first: dict[str, Any]) -> None:
        gt = next(iter(self.val_loader))["GT"][0]
        self.tb.add_image("val/LR", first["lr"].clamp(0, 1), self.iteration)
        self.tb.add_image("val/SR", first["sr"].clamp(0, 1), self.iteration)
        self.tb.add_image("val/GT", gt, self.iteration)
        if self.last_kernel is not None:
            kernel, deg = self.last_kernel
            target = correct_kernel(deg.lr_blured[:1], deg.lr[:1], kernel.shape[-1])
            rows = [kernel[0, 0], target[0, 0], *([] if deg.kernels is None else [deg.kernels[0]])]
            grid = kernel_grid([[k.detach().cpu()] for k in rows], row_labels=["estimated", "LR target", "HR true"])
            self.tb.add_image("train/kernels", grid[:, :, ::-1].copy(), self.iteration, dataformats="HWC")

    def _state_dict(self) -> dict[str, Any]:
        setting = self.opt["network_G"]["setting"]
        return {
            "iter": self.iteration,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "optimizers": [self.optimizer.state_dict()],
            "schedulers": [s.state_dict() for s in self.schedulers],
            "rng": ckpt.capture_rng_state(),
            "seed": self.seed,
            "best_psnr": self.best_psnr,
            "best_iter": self.best_iter,
            "guard_events": self.guard.events,
            "scaler": self.scaler.state_dict(),
            "ema_decay": self.ema.decay if self.ema is not None else 0.0,
            "network": {"scale": self.scale, **{k: setting[k] for k in ("kernel_size", "nf") if k in setting}},
        }

    def _load_resume(self, resume: Path | None) -> dict[str, Any] | None:
        if resume is None:
            return None
        state = ckpt.load_training_state(resume)
        net = state.get("network", {})
        setting = self.opt["network_G"]["setting"]
        ours_by_key = {"scale": self.scale, "kernel_size": setting.get("kernel_size"), "nf": setting.get("nf")}
        for key, ours in ours_by_key.items():
            if key in net and ours is not None and net[key] != ours:
                raise CheckpointError(f"{resume}: state is for {key} {net[key]}, the options say {ours}")
        return state

    def _choose_seed(self) -> int:
        configured = self.opt["train"]["manual_seed"]
        if self.state is not None and "seed" in self.state:
            if configured is not None and configured != self.state["seed"]:
                logger.warning("manual_seed %s ignored: resuming a run seeded with %s", configured, self.state["seed"])
            return int(self.state["seed"])
        if configured is not None:
            return int(configured)
        seed = random.SystemRandom().randrange(2**31) if self.dist.is_main else 0
        return int(broadcast_floats([seed], self.device)[0])

    def _weights_to_load(self) -> tuple[Path | str | None, bool]:
        """The weights to start from and whether to load them strictly: the resumed iteration's, else
        ``path.pretrain_model_G`` (with ``path.strict_load``), else none."""
        paths = self.opt["path"]
        if self.state is not None:
            return ckpt.model_path_for(paths["models"], int(self.state["iter"])), True
        return paths["pretrain_model_G"], paths["strict_load"]

    def _load_ema_weights(self, resume: Path | None) -> None:
        """On resume the EMA continues from ``<iter>_G_ema.pth`` (a state saved without EMA starts it afresh)."""
        if self.ema is None or resume is None:
            return
        path = ckpt.ema_path_for(self.opt["path"]["models"], int(self.state["iter"]))
        if self.state.get("ema_decay"):
            load_network(self.ema.average, path, strict=True)
        else:
            logger.warning("the resumed state has no EMA weights: EMA starts from the weights of iter %d",
                           self.state["iter"])

    def _restore_state(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizers"][0])
        if state.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])
        for scheduler, sd in zip(self.schedulers, state["schedulers"]):
            scheduler.load_state_dict(sd)
        self.iteration, self.epoch = int(state["iter"]), int(state["epoch"])
        self.batch_in_epoch = int(state.get("batch_in_epoch", 0))
        self.best_psnr = float(state.get("best_psnr", -math.inf))
        self.best_iter = int(state.get("best_iter", 0))
        self.last_saved = self.iteration
        if "rng" in state and self.dist.is_main:
            ckpt.restore_rng_state(state["rng"])

    def _build_train_loader(self) -> tuple[Any, Any]:
        ds_opt = self.opt["datasets"]["train"]
        try:
            return build_train_loader(ds_opt, self.seed, self.dist.rank, self.dist.world_size,
                                      pin_memory=self.device.type == "cuda")
        except (ValueError, KeyError, FileNotFoundError) as exc:
            raise ConfigError(f"datasets.train: {exc}") from None

    def _build_val_loader(self) -> Any:
        ds_opt = self.opt["datasets"].get("val")
        if ds_opt is None or not self.dist.is_main:
            return None
        try:
            return build_dataloader(build_dataset(ds_opt), ds_opt)
        except (ValueError, KeyError, FileNotFoundError) as exc:
            raise ConfigError(f"datasets.val: {exc}") from None

    def _open_tensorboard(self, resumed: bool) -> Any:
        if not (self.opt["use_tb_logger"] and self.dist.is_main):
            return None
        from torch.utils.tensorboard import SummaryWriter

        log_dir = Path(self.opt["path"]["experiments_root"]) / "tb_logger"
        return SummaryWriter(log_dir=str(log_dir), purge_step=self.iteration + 1 if resumed else None)

    def _log_start(self) -> None:
        n_params = sum(p.numel() for p in self.model.parameters())
        logger.info("network %s: %s parameters; device %s, %d process(es); seed %d",
                    self.opt["network_G"]["which_model_G"], f"{n_params:,d}", self.device,
                    self.dist.world_size, self.seed)
        tr = self.opt["train"]
        terms = ", ".join(f"{t.name} = {t.weight:g} x {type(t.loss).__name__}" for t in self.loss_terms)
        logger.info("loss terms: %s; degradation %s", terms, type(self.degradation).__name__)
        logger.info("mixed precision %s; EMA %s; compiled %s; validation on the %s weights", self.amp,
                    f"decay {self.ema.decay}" if self.ema else "off", "yes" if tr["compile"] else "no",
                    "EMA" if self.ema else "trained")
        logger.info("training set: %d images, %d batches of %d per epoch per rank; niter %d",
                    self.sampler.size, self.sampler.batches_per_epoch, self.sampler.batch_size, self.niter)
        if self.iteration:
            logger.info("resuming from epoch %d, iter %d", self.epoch, self.iteration)
