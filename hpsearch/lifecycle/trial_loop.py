"""The loop every training process runs, `hpsearch worker` and `hpsearch confirm` alike: one trial
at a time from the shared study until there is nothing left to train, with one poll interval and
one policy for stop signals, dead workers, trials taken over, and a database that went away.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from enum import Enum

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import fail_stale_trials

from hpsearch.lifecycle import stopping
from hpsearch.lifecycle.retries import queue_unqueued_retries, recover_taken_over, release_trials
from hpsearch.records import worker_identity
from hpsearch.store.storage import TrialCallback, is_storage_failure

TAKEN_OVER = (ValueError, UpdateFinishedTrialError)  # what Optuna raises on telling a finished trial
POLL_SECONDS = 2.0  # how often a process with nothing to train looks at the study again
STORAGE_PATIENCE_SECONDS = 120.0  # how long a process waits for a lost database to come back


class Next(Enum):
    """What a training process does next, as the study stands."""

    TRAIN = "train"  # a trial: a queued one, or a new draw
    WAIT = "wait"  # others are finishing the last trials: stand by, in case one of them dies
    DONE = "done"


def run_trials(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    decide: Callable[[], Next],
    current_trial: Callable[[], int | None],
    callbacks: Sequence[TrialCallback] = (),
    keep_going: Callable[[], bool] = lambda: True,
) -> None:
    """Train one trial at a time until `decide` says DONE, a stop is asked for (the trial in
    training then ends at a safe point, queued again by its callbacks), or `keep_going` says no.

    Before each decision the dead workers' trials are failed and queued again (the storage's
    stale-trial callback) and this process's owed retries are queued. A result refused because
    another process failed the trial as stale meanwhile (`current_trial` names the trial) has its
    retry queued here (only then: any other error goes up). A database that went away is waited
    for, up to STORAGE_PATIENCE_SECONDS without a trial getting through or a wait that it answered. A second signal (KeyboardInterrupt: no safe point reached)
    hands back the trials this process holds."""
    storage_lost_since: float | None = None
    try:
        while keep_going() and not stopping.stop_requested():
            try:
                queue_unqueued_retries(study)  # retries a database outage kept this process from queueing
                fail_stale_trials(study)
                step = decide()
                if step is Next.DONE:
                    break
                if step is Next.WAIT:
                    storage_lost_since = None  # the storage answered, and nothing more was asked of it
                    stopping.pause(POLL_SECONDS)
                    continue
                study.optimize(objective, n_trials=1, callbacks=list(callbacks), catch=(Exception,),
                               gc_after_trial=True)
                storage_lost_since = None
            except Exception as error:
                if not is_storage_failure(error):
                    # Optuna refuses the result of a trial another process failed as stale.
                    if not (isinstance(error, TAKEN_OVER) and recover_taken_over(study, current_trial())):
                        raise
                    continue
                # The database restarted or the network dropped: the trial in flight is lost (and
                # retried once stale); wait for the storage to come back rather than give up at once.
                storage_lost_since = storage_lost_since or time.monotonic()
                if time.monotonic() - storage_lost_since > STORAGE_PATIENCE_SECONDS:
                    raise
                stopping.pause(POLL_SECONDS)
    except KeyboardInterrupt:
        release_trials(study, {worker_identity()})
        raise
