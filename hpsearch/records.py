"""Names of what every study and trial records in the storage (user attributes), and end reasons.

Kept apart from `objective.py`, which needs TensorFlow, so that commands reading trials back
(progress, list, summary) stay light.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

# On the study: what every worker and read-only command must agree on.
TARGET_ATTR = "target_trials"
STUDY_UID_ATTR = "study_uid"  # drawn at creation: what tells this study from an earlier one of its name
DESCRIPTION_ATTR = "description"
METRIC_ATTR = "metric"
DATA_ATTR = "data"  # where the images came from, so `export` can retrain without the study file
SEED_ATTR = "seed"
EPOCHS_ATTR = "epochs"  # every trial's length; with DATA_ATTR and SEED_ATTR, fixed once the study exists
BUDGET_ATTR = "budget"  # the compute budget's canonical text (`budget.py`), or None for none
SPEC_ATTR = "spec"  # the resolved spec the study was created with (`spec.spec_document`)
DATA_FINGERPRINT_ATTR = "data_fingerprint"  # what identifies its images (`Splits.fingerprint`)

# On each trial.
BASELINE_ATTR = "baseline"  # the hand-tuned network a trial trains, on baseline trials only
OVERRIDES_ATTR = "baseline_overrides"  # fixed values a baseline sets that the study does not search
WARM_START_ATTR = "warm_start"  # on a warm start: the earlier trial it starts from ("study#trial")
TOO_COSTLY_ATTR = "too_costly"  # on a trial pruned for its cost: the seconds a full trial would have taken
CONFIRMS_ATTR = "confirms"  # on a confirm round's trial: the number of the search trial it retrains longer
ARCHITECTURE_ATTR = "architecture"
TRAINING_ATTR = "training"
HISTORY_ATTR = "history"
BEST_EPOCH_ATTR = "best_epoch"  # 1-based epoch of the best validation metric: the trial's value
PARAMS_ATTR = "params_count"
EPOCH_SECONDS_ATTR = "epoch_seconds"
IMAGES_PER_SECOND_ATTR = "images_per_second"
END_REASON_ATTR = "end_reason"
RETRY_OF_ATTR = "retry_of"  # on a retry: the number of the trial's first attempt (its checkpoint's key)
RESUMED_EPOCHS_ATTR = "resumed_epochs"  # on a retry resumed from a checkpoint: the epochs it did not train again
WORKER_ATTR = "worker"  # host:pid of the process that trained the trial
BACKEND_ATTR = "backend"  # the Keras backend it trained on
TEST_ACCURACY_ATTR = "test_accuracy"



class EndReason(str, Enum):
    """Why a trial ended. It is stored as text that begins with the reason and goes on with what a
    reader needs (`pruned at epoch 3`, `error: ValueError: ...`), which the dashboard shows as is;
    `EndReason.of` reads the text back, so no caller tests prefixes itself."""

    COMPLETE = "complete"
    PRUNED = "pruned"
    DIVERGED = "diverged"  # the network's fault: its loss became NaN or exploded
    INTERRUPTED = "interrupted"  # a stop signal or a spent time budget: queued again
    LOST = "lost"  # its worker or the database went away: queued again
    OUT_OF_MEMORY = "out of memory"  # does not fit in host or GPU memory: not retried
    SURPLUS = "not needed"  # other workers reached the study's target first
    ERROR = "error"  # anything else (a bug, bad data): not retried

    @classmethod
    def of(cls, text: str) -> EndReason:
        """The reason a stored text begins with; ERROR for a text no reason begins."""
        for reason in cls:
            if text == reason.value or text.startswith((f"{reason.value} ", f"{reason.value}:")):
                return reason
        return cls.ERROR

    @property
    def retried(self) -> bool:
        """Whether a trial that ended so is queued again: it failed for reasons outside the network."""
        return self in (EndReason.INTERRUPTED, EndReason.LOST)


INTERRUPTED = EndReason.INTERRUPTED.value
OUT_OF_MEMORY = EndReason.OUT_OF_MEMORY.value
LOST_PREFIX = f"{EndReason.LOST.value}: "
SURPLUS = f"{EndReason.SURPLUS.value}: other workers reached the study's target"
# A failed trial that recorded no reason: its worker died, or the database went away, mid-trial;
# the heartbeat check failed it and the storage queued it again.
NO_RESULT = f"{LOST_PREFIX}no result recorded (its worker stopped or lost the database)"


def worker_identity(pid: int | None = None, host: str | None = None) -> str:
    """A worker process (this one by default) as its trials record it, so a launcher that had to
    kill it can find its trials."""
    return f"{host or socket.gethostname()}:{os.getpid() if pid is None else pid}"


def end_reason(trial: FrozenTrial) -> str:
    """Why a trial ended: the reason it recorded, or else what its state says."""
    recorded = trial.user_attrs.get(END_REASON_ATTR)
    if recorded is not None:
        return str(recorded)
    return NO_RESULT if trial.state.name == "FAIL" else trial.state.name.lower()


def trial_label(trial: FrozenTrial) -> str:
    """How a trial is named to the user: its number, and where a starting point comes from."""
    if WARM_START_ATTR in trial.user_attrs:
        return f"trial {trial.number} (warm start from {trial.user_attrs[WARM_START_ATTR]})"
    baseline = trial.user_attrs.get(BASELINE_ATTR)
    return f"trial {trial.number}" + (f" (baseline {baseline})" if baseline else "")


def best_first(trials: Iterable[FrozenTrial], maximize: bool) -> list[FrozenTrial]:
    """The complete trials with a value, best first (equal values keep trial order)."""
    complete = [t for t in trials if t.state.name == "COMPLETE" and t.value is not None]
    return sorted(complete, key=lambda t: float(t.value), reverse=maximize)  # type: ignore[arg-type]


def why_no_network(trial: FrozenTrial) -> str | None:
    """Why a trial has no network to rebuild (export), or None when it recorded one."""
    if ARCHITECTURE_ATTR in trial.user_attrs:
        return None
    if trial.state.name == "WAITING":
        return f"trial {trial.number} is queued and has not trained yet"
    if trial.state.name == "RUNNING":
        return f"trial {trial.number} has only just started and has not built its network yet"
    return f"trial {trial.number} ended before building its network ({end_reason(trial)})"
