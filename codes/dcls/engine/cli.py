"""Command lines of ``codes/train.py`` and ``codes/test.py``: argument parsing and one-line user errors.

User errors (bad options, missing data, unusable checkpoints, unreadable images, a checkpoint that cannot be
written) print ``error: ...`` on one line and exit with status 2, without a traceback. A training run stopped
by SIGTERM, SIGINT or SIGUSR1 saves a checkpoint of its last iteration and exits with status 75
(:data:`~dcls.engine.preemption.EXIT_PREEMPTED`); a finished run exits with 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import torch

from ..config import load_options
from ..errors import UserError
from ..evaluation.tester import run_tests
from ..utils.device import choose_device
from ..utils.logger import close_logger, setup_logger, timestamp
from .distributed import DistInfo, barrier, cleanup, init_distributed
from .experiment import prepare_experiment, resolve_resume, write_options
from .preemption import EXIT_PREEMPTED, stop_on_signals
from .trainer import Trainer

EXIT_USER_ERROR = 2

logger = logging.getLogger("dcls")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-opt", "--opt", required=True, metavar="FILE", help="options YAML file")
    p.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda if available, else cpu")
    p.add_argument("--no-accel", "--no_accel", dest="accel", action="store_false",
                   help="run the reference network as written in dcls.archs, without the speed-up layer "
                        "(the options' accel: false)")
    p.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                   help="override options, e.g. --set train.niter=1000 datasets.train.batch_size=16")


def _overrides(args: argparse.Namespace) -> list[str]:
    """``--set`` overrides plus those of ``--device`` and ``--no-accel`` (options are read-only once validated)."""
    return [*args.overrides, *([f"device={args.device}"] if args.device else []),
            *([] if args.accel else ["accel=false"])]


def train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train DCLS from an options file.")
    _common(p)
    p.add_argument("--launcher", choices=("none", "pytorch"), default="none",
                   help="pytorch: one process per device under torchrun / torch.distributed.launch")
    p.add_argument("--auto_resume", "--auto-resume", action="store_true",
                   help="resume from the newest usable training state of this experiment, if any (implied when "
                        "torchrun restarts the workers)")
    p.add_argument("--local_rank", "--local-rank", type=int, default=None, help=argparse.SUPPRESS)
    return p


def test_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Evaluate a DCLS model on the test sets of an options file.")
    _common(p)
    p.add_argument("--ensemble", action="store_true", help="average the 8 flips/rotations (x8 self-ensemble)")
    p.add_argument("--amp", choices=("bf16", "fp16"), default="off",
                   help="mixed precision (autocast); each set is also evaluated in float32 to report the difference")
    return p


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def run_guarded(main: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run ``main``; a user error becomes one line on stderr and exit status 2. The log file is closed after."""
    try:
        return main(args)
    except UserError as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    finally:
        close_logger()


def _note_ignored_gpu_ids(opt: dict, device: torch.device) -> None:
    """The original's option files name GPUs; on a CPU run say that they were ignored (once logging is set up)."""
    if opt["gpu_ids"] and device.type == "cpu":
        logger.info("gpu_ids %s ignored: running on CPU", list(opt["gpu_ids"]))


def restarted_by_torchrun() -> bool:
    """True in workers that torchrun restarted (``--max-restarts``): they continue the run."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")) > 0


def _start_training(args: argparse.Namespace, opt: dict, ignored: list[str], dist: DistInfo) -> Trainer:
    """Resume point, experiment folder, log, options file and the trainer of this rank."""
    resume, skipped = resolve_resume(opt, args.auto_resume or restarted_by_torchrun())
    prepare_experiment(opt, resume, dist.rank)
    barrier()
    _note_ignored_gpu_ids(opt, dist.device)
    for reason in skipped:
        logger.warning("skipping unusable checkpoint: %s", reason)
    if ignored:
        logger.info("ignored options the original used but DCLS does not: %s", ", ".join(ignored))
    if resume is not None:
        logger.info("resuming from %s", resume)
    trainer = Trainer(opt, dist, resume)
    if dist.is_main:
        header = f"options of this run, from {Path(args.opt).resolve()}"
        if args.overrides:
            header += "\nwith --set " + " ".join(args.overrides)
        write_options(opt, trainer.seed, resumed=resume is not None, header=header)
    return trainer


def _train(args: argparse.Namespace, process_ends: bool = False) -> int:
    opt, ignored = load_options(args.opt, is_train=True, overrides=_overrides(args))
    dist = init_distributed(args.launcher, opt["device"], opt["gpu_ids"], args.local_rank)
    try:
        trainer = _start_training(args, opt, ignored, dist)
    except BaseException:
        cleanup()
        raise
    with stop_on_signals(ignore_after_stop=process_ends) as stop:
        try:
            summary = trainer.fit(stop)
        finally:
            cleanup()  # still inside: torchrun ending the other ranks of a stopped run only sets the flag again
    return EXIT_PREEMPTED if summary["stopped"] else 0


def _test(args: argparse.Namespace) -> int:
    opt, ignored = load_options(args.opt, is_train=False, overrides=_overrides(args))
    device = choose_device(opt["device"], opt["gpu_ids"])
    results = Path(opt["path"]["results_root"])
    results.mkdir(parents=True, exist_ok=True)
    setup_logger(results / f"test_{opt['name']}_{timestamp()}.log")
    _note_ignored_gpu_ids(opt, device)
    if ignored:
        logger.info("ignored options the original used but DCLS does not: %s", ", ".join(ignored))
    run_tests(opt, device, ensemble=args.ensemble, amp=args.amp)
    logger.info("results written to %s", results)
    return 0


def train_main(argv: Sequence[str] | None = None, *, process_ends: bool = False) -> int:
    """``python codes/train.py -opt F [--launcher none|pytorch] [--auto_resume] [--device D] [--set k=v ...]``.

    ``process_ends`` (the command line): after a stop, the stop signals stay ignored until the process exits, so
    the launcher ending the other ranks cannot turn its exit status 75 into a kill."""
    return run_guarded(partial(_train, process_ends=process_ends), train_parser().parse_args(argv))


def test_main(argv: Sequence[str] | None = None) -> int:
    """``python codes/test.py -opt F [--ensemble] [--device D] [--set k=v ...]``."""
    return run_guarded(_test, test_parser().parse_args(argv))
