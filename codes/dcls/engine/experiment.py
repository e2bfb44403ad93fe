"""The experiment folder: which state to resume from, archiving an old run, folders, log file, options dump."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import dump_options
from ..errors import ConfigError
from ..utils.logger import setup_logger, timestamp
from .checkpoint import find_resume_state

logger = logging.getLogger("dcls")

FOLDER_KEYS = ("experiments_root", "models", "training_state", "val_images")


def resolve_resume(opt: dict[str, Any], auto_resume: bool) -> tuple[Path | None, list[str]]:
    """``path.resume_state`` if set, else with ``auto_resume`` the newest usable state of this experiment.

    Also returns why newer states were skipped (to be logged once the log file exists).
    """
    paths = opt["path"]
    if paths["resume_state"]:
        return Path(paths["resume_state"]), []
    if auto_resume:
        return find_resume_state(paths["training_state"], paths["models"])
    return None, []


def archive_existing(folder: Path) -> Path | None:
    """Rename an existing experiment folder to ``<name>_archived_<time>`` so a new run never overwrites it."""
    if not folder.exists():
        return None
    target = folder.with_name(f"{folder.name}_archived_{timestamp()}")
    n = 1
    while target.exists():
        target = folder.with_name(f"{folder.name}_archived_{timestamp()}_{n}")
        n += 1
    os.replace(folder, target)
    return target


def prepare_experiment(opt: dict[str, Any], resume: Path | None, rank: int) -> None:
    """Create the folders (rank 0, archiving an old run unless resuming) and start logging."""
    paths = opt["path"]
    root = Path(paths["experiments_root"])
    archived = None
    if rank == 0:
        if resume is None:
            archived = archive_existing(root)
        try:
            for key in FOLDER_KEYS:
                Path(paths[key]).mkdir(parents=True, exist_ok=True)
            Path(paths["log"]).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"path.experiments_root: cannot create {exc.filename} ({exc.strerror})") from None
    log_file = Path(paths["log"]) / f"train_{opt['name']}_{timestamp()}.log" if rank == 0 else None
    setup_logger(log_file, rank=rank)
    if archived is not None:
        logger.info("existing experiment folder archived to %s", archived)


def write_options(opt: Mapping[str, Any], seed: int, resumed: bool, header: str) -> Path:
    """Dump the complete options of this run into the experiment folder, with the run's ``seed`` as
    ``train.manual_seed`` (the options themselves stay as validated), so the file reruns the same run."""
    root = Path(opt["path"]["experiments_root"])
    path = root / (f"options_resume_{timestamp()}.yml" if resumed else "options.yml")
    dump_options({**opt, "train": {**opt["train"], "manual_seed": seed}}, path, header=header)
    return path
