"""Stopping on Ctrl-C and SIGTERM without losing a trial or leaving one RUNNING.

A signal handler that raises can land anywhere: inside Optuna's write of a trial's result,
between `study.ask()` and the objective, in a garbage-collector callback (where Python prints
"Exception ignored" and carries on), or halfway through starting worker processes. So the first
SIGINT or SIGTERM only records that a stop was asked for, and the code looks at that record at
safe points: between training batches (the trial then ends FAIL "interrupted" and is queued
again), between trials, and in the launcher's loops. A second signal means "now" and raises
KeyboardInterrupt, so a process stuck outside a safe point can still be stopped by hand.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from types import FrameType

SIGNAL_EXIT_CODE = 130  # what shells report for a process ended by Ctrl-C
PAUSE_SLICE_SECONDS = 0.1

_received: int | None = None  # the first stop signal received, if any


class StopRequested(Exception):
    """Raised at a safe point after a stop signal: an ordinary exception, so Optuna records the
    trial it interrupts as failed (and hpsearch queues it again) instead of leaving it RUNNING."""


def _record(signum: int, frame: FrameType | None) -> None:
    global _received
    if _received is not None:
        raise KeyboardInterrupt  # the second signal: stop now
    _received = signum


def _on_stop_signals(handler: Callable[[int, FrameType | None], None]) -> None:
    """Handle SIGTERM and SIGINT. SIGINT stays ignored when the process was started with it
    ignored (a background job of a non-interactive shell): a Ctrl-C meant for the foreground."""
    signal.signal(signal.SIGTERM, handler)
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, handler)


def stop_gracefully() -> None:
    """Make SIGTERM and SIGINT ask for a stop instead of raising wherever the process is."""
    _on_stop_signals(_record)


def call_on_stop_signal(stop: Callable[[], None]) -> None:
    """For a process that holds no trial (the dashboard): SIGTERM or SIGINT calls `stop`."""
    _on_stop_signals(lambda signum, frame: stop())


def stop_requested() -> bool:
    return _received is not None


def check() -> None:
    """Raise StopRequested if a stop signal has arrived."""
    if _received is not None:
        raise StopRequested(f"stopped by {signal.Signals(_received).name}")


def pause(seconds: float) -> None:
    """Sleep up to `seconds`, waking early when a stop is asked for."""
    deadline = time.monotonic() + seconds
    while _received is None and (left := deadline - time.monotonic()) > 0:
        time.sleep(min(PAUSE_SLICE_SECONDS, left))
