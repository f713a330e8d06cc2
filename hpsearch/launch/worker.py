"""One worker: load the data once, then run trials of the shared study until it reaches its target.

Several workers (processes, machines) may share one study. Each starts a trial only while the
finished trials plus the ones running elsewhere fall short of the target, and waits while the
target is covered by running trials, so that a trial lost with its worker (retried once its
heartbeat goes stale) is still finished by somebody. The study ends with exactly its target of
finished trials.

A study with a compute budget (`budget.py`) also ends when the budget is spent, as measured from
the shared storage before every trial: under an epoch budget no new trial starts and the running
ones finish; under a time budget the trial still training when the time runs out is stopped at
its next safe point, as a stop signal would stop it, and queued again for a later `resume`.
"""

from __future__ import annotations

import time
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpsearch.lifecycle import stopping
from hpsearch.data.sources import Splits
from hpsearch.train.objective import Objective
from hpsearch.records import EndReason, TrialRecord
from hpsearch.lifecycle.retries import requeue_lost
from hpsearch.lifecycle.trial_loop import Next, run_trials
from hpsearch.space.spec import StudySpec
from hpsearch.store.storage import TrialCallback
from hpsearch.search.study import record_data, study_progress


class RepeatedFailures(RuntimeError):
    """A worker stopped because its trials kept failing; the message is one sentence."""


class StopOnRepeatedErrors:
    """Stop a worker whose trials keep failing with errors or running out of memory (not
    divergence, which is the network's fault): likely a bug, or a machine too small for the space."""

    def __init__(self, limit: int = 3) -> None:
        self.limit = limit
        self.in_a_row = 0
        self.last_reason = ""

    @property
    def stopped(self) -> bool:
        return self.in_a_row >= self.limit

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        reason = TrialRecord(trial).recorded_end or EndReason.ERROR.value  # none: failed before training
        is_error = trial.state == TrialState.FAIL and EndReason.of(reason) in (EndReason.ERROR, EndReason.OUT_OF_MEMORY)
        self.in_a_row = self.in_a_row + 1 if is_error else 0
        self.last_reason = reason


def run_worker(
    spec: StudySpec,
    storage: optuna.storages.BaseStorage,
    study: optuna.Study,
    splits: Splits,
    checkpoints: Path,
    on_trial: TrialCallback | None = None,
) -> None:
    """Run trials of `study` (opened by `open_study` after `check_data` accepted `splits`) in this
    process until it has `spec.search.trials` finished ones or has spent its stored budget, or until
    a stop signal (see `stopping.py`): the trial in training then ends FAIL "interrupted" and is
    queued again. Raises RepeatedFailures when trials keep failing, DataMismatch when another first
    worker recorded other data than `splits` meanwhile."""
    record_data(study, splits)
    objective = Objective(spec, splits, checkpoints)
    errors = StopOnRepeatedErrors()
    callbacks: list[TrialCallback] = [errors, requeue_lost] + ([on_trial] if on_trial else [])

    def decide() -> Next:
        progress = study_progress(study, storage, active=True)
        if progress.over:
            return Next.DONE
        # Read again before every trial: `resume --budget` elsewhere may have raised it.
        left = progress.budget.seconds_left if progress.budget else None
        stopping.stop_at(None if left is None else time.time() + left)
        covered = progress.finished + progress.states["RUNNING"] >= progress.target
        return Next.WAIT if covered and not progress.states["WAITING"] else Next.TRAIN

    run_trials(study, objective, decide, lambda: objective.current_trial, callbacks,
               keep_going=lambda: not errors.stopped)
    if errors.stopped:
        raise RepeatedFailures(f"this worker stopped after {errors.limit} trials in a row failed, the last "
                               f"with: {errors.last_reason}")
