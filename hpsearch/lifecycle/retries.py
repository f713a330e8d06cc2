"""Trials that ended for reasons outside the network are trained again, with the same parameters.

A trial interrupted by a stop signal, cut off from the database, or left RUNNING by a worker that
died (its heartbeat went stale) is failed, and a WAITING copy is queued that the next free worker
picks up. The failed attempt stays in the study as it happened; the copy starts clean, so the
epochs and seconds an attempt spent are counted once, on the attempt that spent them.
"""

from __future__ import annotations

import sys
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from hpsearch.records import (
    BASELINE_ATTR,
    CONFIRMS_ATTR,
    END_REASON_ATTR,
    INTERRUPTED,
    OVERRIDES_ATTR,
    RETRY_OF_ATTR,
    EndReason,
    TrialRecord,
)
from hpsearch.store.storage import is_storage_failure, one_at_a_time, storage_url

MAX_RETRIES = 3  # crashes of one trial retried; stops asked for (signals, budgets) are not counted
# What a trial is, rather than what one attempt at it did; the retry carries only these.
IDENTITY_ATTRS = (BASELINE_ATTR, OVERRIDES_ATTR, CONFIRMS_ATTR)
CRASHES_ATTR = "crashes"  # system attribute: attempts before this one that crashed (not stopped on purpose)


def crashes_before_retry(trial: FrozenTrial) -> int:
    """How many of `trial`'s attempts, itself included, crashed: a stop asked for by a signal, a
    deadline or a spent budget ends an attempt "interrupted" and is not a crash, so a trial stopped
    and resumed any number of times is never dropped."""
    stopped = TrialRecord(trial).interrupted
    return int(trial.system_attrs.get(CRASHES_ATTR, 0)) + (0 if stopped else 1)


def retried_attempts(study: optuna.Study) -> set[int]:
    """The numbers of the attempts that have a retry queued (a retry's history ends with them)."""
    return {t.system_attrs["retry_history"][-1] for t in study.get_trials(deepcopy=False)
            if t.system_attrs.get("retry_history")}


def retry_trial(study: optuna.Study, trial: FrozenTrial) -> None:
    """Queue a WAITING copy of `trial` that remembers its attempts (`failed_trial`,
    `retry_history`, as Optuna's RetryFailedTrialCallback records them, which the dashboard
    knows), exactly once however many processes notice the failure: the check for an existing
    retry and the queueing happen under the storage's lock (`storage.one_at_a_time`). After
    MAX_RETRIES crashes the trial is left failed. Unlike that callback, the copy does not inherit
    the attempt's curves, timings and end reason; a checkpoint the attempt left (`checkpoints.py`)
    brings back what it really resumes from."""
    crashes = crashes_before_retry(trial)
    if crashes > MAX_RETRIES:
        return
    history = [*trial.system_attrs.get("retry_history", []), trial.number]
    system_attrs: dict[str, Any] = {**trial.system_attrs, "retry_history": history, CRASHES_ATTR: crashes}
    system_attrs.setdefault("failed_trial", trial.number)
    try:
        with one_at_a_time(storage_url(study)):
            if trial.number in retried_attempts(study):
                return
            study.add_trial(
                optuna.create_trial(
                    state=TrialState.WAITING,
                    params=trial.params,
                    distributions=trial.distributions,
                    user_attrs={
                        **{key: trial.user_attrs[key] for key in IDENTITY_ATTRS if key in trial.user_attrs},
                        RETRY_OF_ATTR: system_attrs["failed_trial"],
                    },
                    system_attrs=system_attrs,
                )
            )
    except Exception as error:
        if is_storage_failure(error):  # the database went away again: queue it once it is back
            _unqueued.append((study.study_name, trial))
        raise


# Retries this process could not queue because the database was unreachable at that moment (a
# trial lost to a database restart fails first, and its retry is queued right after, when the
# restart may still be going on); `queue_unqueued_retries` queues them once it is back.
# Each is kept with its study's name, so that a process that goes on to another study (the Python
# API's run, then confirm) never queues one study's retry in the other.
_unqueued: list[tuple[str, FrozenTrial]] = []


def queue_unqueued_retries(study: optuna.Study) -> None:
    """Queue the retries this process owes `study` (see `_unqueued`); a storage failure leaves
    them owed."""
    for owed in [entry for entry in _unqueued if entry[0] == study.study_name]:
        _unqueued.remove(owed)
        retry_trial(study, owed[1])  # on failure it is owed again, and the error goes up


def requeue_lost(study: optuna.Study, trial: FrozenTrial) -> None:
    """Optuna callback: queue a trial again when it failed for reasons outside the network
    (interrupted, storage connection lost)."""
    reason = EndReason.of(TrialRecord(trial).recorded_end or "")
    if trial.state == TrialState.FAIL and reason.retried:
        retry_trial(study, trial)


def release_trials(study: optuna.Study, workers: set[str]) -> list[int]:
    """Fail as interrupted, and queue again, the RUNNING trials of `workers` (host:pid), which
    were stopped before they could do it themselves (a second Ctrl-C, a SIGKILL after the grace
    period); and queue the retry of any of their trials that a second Ctrl-C cut off between
    being failed as interrupted and being queued again. Returns the trial numbers released."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.FAIL))
    retried = retried_attempts(study)
    released = []
    for trial in trials:
        record = TrialRecord(trial)
        if record.worker not in workers:
            continue
        if trial.state == TrialState.RUNNING:
            try:
                # Optuna has no public call to set another process's trial attribute; its storage does.
                study._storage.set_trial_user_attr(trial._trial_id, END_REASON_ATTR, INTERRUPTED)
                study.tell(trial.number, state=TrialState.FAIL)
            except (UpdateFinishedTrialError, ValueError, RuntimeError):
                continue  # it finished (or was released) meanwhile
        elif trial.number in retried or not record.interrupted:
            continue
        requeue_lost(study, study.get_trials(deepcopy=False)[trial.number])
        released.append(trial.number)
    return released


def recover_taken_over(study: optuna.Study, number: int | None) -> bool:
    """Whether trial `number`, which this worker was training, was failed meanwhile by another
    worker as stale (this worker's heartbeat lapsed, as it can on an overloaded machine); Optuna
    then refuses this worker's own result with a ValueError. If so, the retry is queued here too
    (`retry_trial` queues it once, whichever process gets there first), so that this worker's next
    trial is that retry rather than a new draw while the other worker is still queueing it, and
    the user is told why the result was dropped."""
    if number is None:
        return False
    trial = next((t for t in study.get_trials(deepcopy=False) if t.number == number), None)
    if trial is None or trial.state != TrialState.FAIL:
        return False
    retry_trial(study, trial)
    print(f"note: trial {number} was failed as stale by another worker while this one trained it "
          "(its heartbeat lapsed: an overloaded machine?); its retry trains it again", file=sys.stderr)
    return True
