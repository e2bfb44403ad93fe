"""Preemption-safe training: SIGTERM, SIGINT or SIGUSR1 (SLURM's warning signal) ask the run to stop.

The handler only records the request; the trainer finishes the current step, writes weights and a training
state for that iteration, logs it and exits with :data:`EXIT_PREEMPTED`, so ``--auto_resume`` continues
exactly there. In a distributed run the ranks agree every step on whether any of them was asked, so all
stop after the same iteration. A second SIGINT (Ctrl-C twice) interrupts at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)
EXIT_PREEMPTED = 75
"""Exit status of a run stopped by a signal after saving (EX_TEMPFAIL: try again, i.e. resume)."""


class StopRequest:
    """Which stop signal arrived first (None while none has), and whether the run stopped (for this rank's
    signal or another rank's)."""

    def __init__(self) -> None:
        self.signal: signal.Signals | None = None
        self.stopped = False

    @property
    def requested(self) -> bool:
        return self.signal is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        if self.signal is None:
            self.signal = signal.Signals(signum)


@contextmanager
def stop_on_signals(ignore_after_stop: bool = False) -> Iterator[StopRequest]:
    """Record the stop signals while the block runs (in the main thread; elsewhere nothing is installed),
    restoring the previous handlers after, or, with ``ignore_after_stop`` once the run stopped, ignoring them
    (a process about to exit: a launcher's closing signal must not turn its status into a kill)."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {sig: signal.signal(sig, request._handle) for sig in STOP_SIGNALS}
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_IGN if ignore_after_stop and request.stopped else handler)


def ignore_stop_signals(_worker_id: int = 0) -> None:
    """DataLoader ``worker_init_fn``: workers leave the stop signals to the trainer (a scheduler signalling the
    whole process group must not kill a worker mid-step); they end when the trainer ends."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
