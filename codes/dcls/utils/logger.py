"""The ``dcls`` logger: a log file plus screen output that does not break tqdm progress bars."""

from __future__ import annotations

import logging
import os
import sys
import time

from tqdm import tqdm

LOGGER_NAME = "dcls"
FORMAT = "%(asctime)s %(levelname)s: %(message)s"


class TqdmHandler(logging.Handler):
    """Writes records through ``tqdm.write`` so they appear above an active progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # logging must never raise
            self.handleError(record)


def timestamp() -> str:
    return time.strftime("%y%m%d-%H%M%S")


def close_logger() -> None:
    """Detach and close every handler of the ``dcls`` logger (the end of a run: its log file is released)."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


def setup_logger(log_file: str | os.PathLike | None = None, rank: int = 0, screen: bool = True) -> logging.Logger:
    """Configure the ``dcls`` logger afresh: INFO to ``log_file`` and the screen on rank 0, warnings elsewhere."""
    close_logger()
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    logger.propagate = False
    formatter = logging.Formatter(FORMAT, datefmt="%y-%m-%d %H:%M:%S")
    if screen:
        handler = TqdmHandler()
        handler.setFormatter(logging.Formatter(f"[rank {rank}] {FORMAT}" if rank else FORMAT, "%H:%M:%S"))
        logger.addHandler(handler)
    if log_file is not None and rank == 0:
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(formatter)
        logger.addHandler(file_handler)
    return logger
