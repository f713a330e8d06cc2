"""Stopping real runs at chosen moments and killing real workers mid-trial, and what they left.

Shared by the tests (which assert on the outcomes) and `benchmarks/robustness.py` (which counts
them over many rounds). Studies train tiny networks on the bundled digits.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from optuna.trial import FrozenTrial, TrialState

from hpsearch.records import HISTORY_ATTR, INTERRUPTED, RESUMED_EPOCHS_ATTR, end_reason
from tests.helpers import (
    FAST_HEARTBEAT,
    count,
    processes_of,
    run_cli,
    start_cli,
    stored_trials,
    training_now,
    wait_until,
    write_study,
)

# Moments in a run's life a stop signal is sent at; "between trials" needs short trials.
MOMENTS = ("study created", "trial asked for", "mid-epoch", "between trials")


def digits_study(directory: Path, prefix: str, epochs: int, trials: int, space: str, data: str = "") -> Path:
    """A fresh study of tiny networks on digits: `trials` trials of `epochs` epochs, no pruning."""
    return write_study(
        directory, f"{prefix}-{secrets.token_hex(3)}",
        f'[data]\ndataset = "digits"\n{data}[training]\nepochs = {epochs}\n[search]\ntrials = {trials}\n'
        '[search.pruner]\ntype = "none"\n'
        "[space]\nblocks = 1\nconvs_per_block = 1\ndense_units = 16\n"
        + space + "learning_rate = { low = 1e-3, high = 1e-2, log = true }\n",
    )


def trials_if_any(url: str, name: str) -> list[FrozenTrial] | None:
    """The study's trials, or None while the study does not exist."""
    try:
        return stored_trials(url, name)
    except KeyError:
        return None


def _moment_reached(url: str, name: str, moment: str) -> Callable[[], bool]:
    def reached() -> bool:
        trials = trials_if_any(url, name)
        if trials is None:
            return False
        return {
            "study created": True,
            "trial asked for": count(trials, TrialState.RUNNING) >= 1,
            "mid-epoch": training_now(url, name, 1),
            "between trials": count(trials, TrialState.COMPLETE) >= 2,
        }[moment]

    return reached


@dataclass(frozen=True)
class StopOutcome:
    """What one stopped run left behind."""

    what: str
    exit_code: int
    output: str
    held_nothing: bool  # killed by the signal before its handler was in place, with no study yet
    running_left: int
    interrupted: int  # trials recorded as interrupted
    not_requeued: list[int]  # interrupted trials with no WAITING copy of their parameters
    other_failures: list[str]  # failed trials with another reason
    survivors: list[str]  # processes of the run still alive 30 s after it exited


def stop_run(directory: Path, url: str, workers: int, sent: signal.Signals, moment: str | None,
             delay: float = 0.0, backend: str | None = None) -> StopOutcome:
    """Start `hpsearch run --workers N` (on `backend`, else the default) on a fresh study, send
    `sent` at `moment` (or `delay` seconds after start when `moment` is None), wait for the run to
    end, and look at the study."""
    # More trials than a round finishes; short ones when the stop should land between two.
    study = digits_study(directory, "stop", epochs=3 if moment == "between trials" else 40, trials=200,
                         space="base_filters = { choices = [4, 8] }\nbatch_size = { choices = [32, 64] }\n")
    what = f"{sent.name} at {moment or f'{delay:.1f} s after start'} ({workers} worker(s))"
    log = directory / f"{study.stem}.log"
    on = ("--backend", backend) if backend else ()
    run = start_cli("run", str(study), "--storage", url, "--workers", str(workers), *on, log=log, env=FAST_HEARTBEAT)
    try:
        if moment is None:
            time.sleep(delay)  # the moment itself is what varies; nothing waits on it
        else:
            wait_until(_moment_reached(url, study.stem, moment), 120, what)
    finally:
        run.send_signal(sent)
    code = run.wait(timeout=120)
    try:
        wait_until(lambda: not processes_of(study), 30, f"{what}: the run's workers to exit")
    except AssertionError:
        pass  # reported as survivors
    trials = trials_if_any(url, study.stem)
    waiting = [t.params for t in trials or [] if t.state == TrialState.WAITING]
    failed = [t for t in trials or [] if t.state == TrialState.FAIL]
    return StopOutcome(
        what=what, exit_code=code, output=log.read_text(errors="replace"),
        held_nothing=code < 0 and trials is None,
        running_left=count(trials or [], TrialState.RUNNING),
        interrupted=sum(end_reason(t) == INTERRUPTED for t in failed),
        not_requeued=[t.number for t in failed if end_reason(t) == INTERRUPTED and t.params not in waiting],
        other_failures=[f"trial {t.number}: {end_reason(t)}" for t in failed if end_reason(t) != INTERRUPTED],
        survivors=processes_of(study),
    )


@dataclass(frozen=True)
class KillOutcome:
    """A worker SIGKILLed mid-trial, and the retry a second worker ran."""

    study: str
    killed: FrozenTrial
    retry: FrozenTrial
    worker_result: subprocess.CompletedProcess[str]
    trials: list[FrozenTrial]

    @property
    def epochs_finished(self) -> int:
        """Epochs the killed attempt finished (and recorded) before the kill."""
        return len(self.killed.user_attrs.get(HISTORY_ATTR, {}).get("loss", []))

    @property
    def epochs_trained_again(self) -> int:
        """Epochs the retry trained that the killed attempt had already finished."""
        return max(0, self.epochs_finished - int(self.retry.user_attrs.get(RESUMED_EPOCHS_ATTR, 0)))


def kill_and_retry(directory: Path, url: str, checkpoints: Path, epochs: int, kill_after: int,
                   before_retry: Callable[[], None] = lambda: None,
                   backends: tuple[str | None, str | None] = (None, None)) -> KillOutcome:
    """SIGKILL a worker once its trial has reported `kill_after` epochs; then run a second worker,
    which retries the trial once its heartbeat is stale (`before_retry` runs in between). Each
    worker trains on its `backends` entry (None: the default)."""
    # Digits padded to 32x32: epochs of about half a second rather than 0.07 s, so the poll below
    # sees the trial between epoch `kill_after` and its end (a tiny trial could finish unseen).
    study = digits_study(directory, "checkpointed", epochs, trials=1, space="base_filters = 8\nbatch_size = 32\n",
                         data="pad_to = 32\n")
    common = ("--storage", url, "--checkpoints", str(checkpoints))
    first, then = (("--backend", backend) if backend else () for backend in backends)
    doomed = start_cli("worker", str(study), *common, *first, log=directory / f"{study.stem}.log", env=FAST_HEARTBEAT)

    def far_enough() -> bool:
        trials = trials_if_any(url, study.stem) or []
        if any(t.state == TrialState.COMPLETE for t in trials):
            raise AssertionError(f"the trial finished before the poll saw epoch {kill_after}; use more --epochs")
        return any(t.state == TrialState.RUNNING and len(t.intermediate_values) >= kill_after for t in trials)

    try:
        wait_until(far_enough, 180, f"the first worker to train {kill_after} epochs")
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
    (killed,) = [t for t in stored_trials(url, study.stem) if t.state == TrialState.RUNNING]
    before_retry()
    result = run_cli("worker", str(study), *common, *then, env=FAST_HEARTBEAT)
    trials = stored_trials(url, study.stem)
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
    return KillOutcome(study.stem, killed, retry, result, trials)
