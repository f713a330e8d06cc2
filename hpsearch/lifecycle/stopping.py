"""Stopping on Ctrl-C and SIGTERM without losing a trial or leaving one RUNNING.

A signal handler that raises can land anywhere: inside Optuna's write of a trial's result,
between `study.ask()` and the objective, in a garbage-collector callback (where Python prints
"Exception ignored" and carries on), or halfway through starting worker processes. So the first
SIGINT or SIGTERM only records that a stop was asked for, and the code looks at that record at
safe points: between training batches (the trial then ends FAIL "interrupted" and is queued
again), between trials, and in the launcher's loops. A second signal means "now" and raises
KeyboardInterrupt, so a process stuck outside a safe point can still be stopped by hand.

A study's time budget (`budget.py`) running out is a stop asked for by the clock: `stop_at` sets
the moment, and from then on the same safe points stop the same way, so the trial in training is
queued again and a later `resume` with a larger budget continues it from its checkpoint.
"""

from __future__ import annotations

import atexit
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

SIGNAL_EXIT_CODE = 130  # what shells report for a process ended by Ctrl-C
# What a worker process receives when its launcher dies (PR_SET_PDEATHSIG): a stop at the next safe
# point that never escalates, since the kernel sends it again each time the worker is handed to
# another of the dying launcher's threads, and a second SIGTERM would mean "now".
LAUNCHER_GONE = signal.SIGHUP
PAUSE_SLICE_SECONDS = 0.1

_received: int | None = None  # the first stop signal received, if any
_deadline: float | None = None  # when the study's time budget runs out (time.time()), if it has one


class StopRequested(Exception):
    """Raised at a safe point after a stop signal: an ordinary exception, so Optuna records the
    trial it interrupts as failed (and hpsearch queues it again) instead of leaving it RUNNING."""


def _record(signum: int, frame: FrameType | None) -> None:
    global _received
    if _received is not None:
        raise KeyboardInterrupt  # the second signal: stop now
    _received = signum


def _record_launcher_gone(signum: int, frame: FrameType | None) -> None:
    global _received
    _received = _received or signum


def _quiet_when_interrupt_cannot_raise(unraisable: sys.UnraisableHookArgs) -> None:
    """A second signal's KeyboardInterrupt that lands in a finalizer or a garbage-collector
    callback cannot propagate; Python would print "Exception ignored" with a traceback and carry
    on. The first signal's stop still holds, so the process stops at its next safe point as
    promised: nothing is lost, and there is nothing to show."""
    if not isinstance(unraisable.exc_value, KeyboardInterrupt):
        sys.__unraisablehook__(unraisable)


def _on_stop_signals(handler: Callable[[int, FrameType | None], None]) -> None:
    """Handle SIGTERM and SIGINT. SIGINT stays ignored when the process was started with it
    ignored (a background job of a non-interactive shell): a Ctrl-C meant for the foreground."""
    signal.signal(signal.SIGTERM, handler)
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, handler)
    sys.unraisablehook = _quiet_when_interrupt_cannot_raise


def _ignore_launcher_gone() -> None:
    """At exit: Python puts the signals it handled back to their default action before the process
    ends (for SIGHUP: die), and the kernel may send `LAUNCHER_GONE` again in that moment; a process
    already exiting with its stop would then end killed instead of with its exit code."""
    signal.signal(LAUNCHER_GONE, signal.SIG_IGN)


def stop_gracefully() -> None:
    """Make SIGTERM and SIGINT ask for a stop instead of raising wherever the process is, and the
    launcher's death (`LAUNCHER_GONE`, however often it comes, until the process ends) ask for one too."""
    _on_stop_signals(_record)
    signal.signal(LAUNCHER_GONE, _record_launcher_gone)
    atexit.unregister(_ignore_launcher_gone)  # once, however often this is called
    atexit.register(_ignore_launcher_gone)


@contextmanager
def graceful() -> Iterator[None]:
    """`stop_gracefully` for the block, and the handlers as they were afterwards, so a program
    calling `hpsearch.run` gets its own Ctrl-C back. A stop asked before the block counts only
    when these handlers were already in place (the CLI installs them first thing)."""
    global _received, _deadline
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread can take signals; a thread (a Ray actor's call) gets `request_stop`
        return
    previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT), signal.getsignal(LAUNCHER_GONE)
    previous_hook = sys.unraisablehook
    if previous[0] is not _record:
        _received = None
    _deadline = None
    stop_gracefully()
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])
        signal.signal(LAUNCHER_GONE, previous[2])
        sys.unraisablehook = previous_hook


def request_stop() -> None:
    """Ask for a stop as a SIGTERM would, from code (a Ray actor told to stop by its driver)."""
    global _received
    _received = _received or signal.SIGTERM


def call_on_stop_signal(stop: Callable[[], None]) -> None:
    """For a process that holds no trial (the dashboard): SIGTERM or SIGINT calls `stop`."""
    _on_stop_signals(lambda signum, frame: stop())


def stop_at(deadline: float | None) -> None:
    """Ask for a stop at wall-clock time `deadline` (as `time.time()` counts; None: never). Wall
    time, not a monotonic clock, because trials record their start and end in wall time and the
    budget is measured from those records."""
    global _deadline
    _deadline = deadline


def deadline_passed() -> bool:
    return _deadline is not None and time.time() >= _deadline


def signal_received() -> bool:
    """A stop signal arrived (a deadline passing is not one: the run then ends normally)."""
    return _received is not None


def stop_requested() -> bool:
    """A stop signal arrived or the deadline passed: stop at the next safe point."""
    return _received is not None or deadline_passed()


def check() -> None:
    """Raise StopRequested if a stop signal has arrived or the deadline has passed."""
    if _received is not None:
        raise StopRequested(f"stopped by {signal.Signals(_received).name}")
    if deadline_passed():
        raise StopRequested("the study's time budget is spent")


def pause(seconds: float) -> None:
    """Sleep up to `seconds`, waking early when a stop is asked for."""
    deadline = time.monotonic() + seconds
    while not stop_requested() and (left := deadline - time.monotonic()) > 0:
        time.sleep(min(PAUSE_SLICE_SECONDS, left))
