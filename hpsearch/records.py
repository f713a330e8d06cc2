"""Names of what every study and trial records in the storage (user attributes), a trial's
record read back typed (`TrialRecord`), and end reasons.

Kept apart from `objective.py`, which needs TensorFlow, so that commands reading trials back
(progress, list, summary) stay light.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial, Trial

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
NEAR_START_ATTR = "near_start"  # system attribute of a trial drawn near a starting point: its number
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


@dataclass(frozen=True)
class TrialRecord:
    """What a trial recorded in its user attributes, typed, with the default each reader assumes
    when it recorded nothing (a queued trial, or one that ended before training). A live `Trial`
    reads the same way while it trains."""

    trial: FrozenTrial | Trial

    def _get(self, name: str, default: Any = None) -> Any:
        return self.trial.user_attrs.get(name, default)

    @property
    def baseline(self) -> str | None:
        """The hand-tuned network it trains, on a baseline trial (warm starts and proven recipes too)."""
        return self._get(BASELINE_ATTR)

    @property
    def overrides(self) -> dict[str, Any]:
        return dict(self._get(OVERRIDES_ATTR, {}))

    @property
    def warm_start(self) -> str | None:
        return self._get(WARM_START_ATTR)

    @property
    def confirms(self) -> int | None:
        """On a confirm round's trial: the number of the search trial it retrains longer."""
        number = self._get(CONFIRMS_ATTR)
        return None if number is None else int(number)

    @property
    def architecture(self) -> dict[str, Any] | None:
        return self._get(ARCHITECTURE_ATTR)

    @property
    def training(self) -> dict[str, Any]:
        return dict(self._get(TRAINING_ATTR, {}))

    @property
    def history(self) -> dict[str, list[float]]:
        """Per-epoch curves by metric name (loss, val_accuracy...)."""
        return dict(self._get(HISTORY_ATTR, {}))

    @property
    def epochs_done(self) -> int:
        """Epochs its curves cover, those a resumed retry inherited from its checkpoint included."""
        return len(self.history.get("loss", []))

    @property
    def epochs_trained(self) -> int:
        """Epochs this attempt trained itself: each epoch counts once, on the attempt that trained it."""
        return self.epochs_done - self.resumed_epochs

    @property
    def seconds_trained(self) -> float:
        """Seconds this attempt spent training its own epochs (not those its checkpoint brought back)."""
        return float(sum(self.epoch_seconds[self.resumed_epochs:]))

    @property
    def best_epoch(self) -> int | None:
        epoch = self._get(BEST_EPOCH_ATTR)
        return None if epoch is None else int(epoch)

    @property
    def params_count(self) -> int | None:
        return self._get(PARAMS_ATTR)

    @property
    def epoch_seconds(self) -> list[float]:
        return list(self._get(EPOCH_SECONDS_ATTR, []))

    @property
    def resumed_epochs(self) -> int:
        """On a retry resumed from a checkpoint: the epochs it did not train again."""
        return int(self._get(RESUMED_EPOCHS_ATTR, 0))

    @property
    def checkpoint_key(self) -> int:
        """The number its checkpoint is kept under: its first attempt's, shared by every retry."""
        return int(self._get(RETRY_OF_ATTR, self.trial.number))

    @property
    def worker(self) -> str | None:
        return self._get(WORKER_ATTR)

    @property
    def test_accuracy(self) -> float | None:
        return self._get(TEST_ACCURACY_ATTR)

    @property
    def recorded_end(self) -> str | None:
        """The end reason it recorded itself (`end_reason` says what its state means otherwise)."""
        recorded = self._get(END_REASON_ATTR)
        return None if recorded is None else str(recorded)

    @property
    def interrupted(self) -> bool:
        """Stopped on purpose (a signal, a deadline, a spent budget), not crashed."""
        return self.recorded_end == INTERRUPTED


def worker_identity(pid: int | None = None, host: str | None = None) -> str:
    """A worker process (this one by default) as its trials record it, so a launcher that had to
    kill it can find its trials."""
    return f"{host or socket.gethostname()}:{os.getpid() if pid is None else pid}"


def end_reason(trial: FrozenTrial) -> str:
    """Why a trial ended: the reason it recorded, or else what its state says."""
    recorded = TrialRecord(trial).recorded_end
    if recorded is not None:
        return recorded
    return NO_RESULT if trial.state.name == "FAIL" else trial.state.name.lower()


def trial_label(trial: FrozenTrial) -> str:
    """How a trial is named to the user: its number, and where a starting point comes from."""
    record = TrialRecord(trial)
    if record.warm_start is not None:
        return f"trial {trial.number} (warm start from {record.warm_start})"
    return f"trial {trial.number}" + (f" (baseline {record.baseline})" if record.baseline else "")


def epochs_trained(trials: Iterable[FrozenTrial]) -> int:
    """The epochs a study's trials trained, a retry's resumed ones counted once (on the attempt
    that trained them): what the study cost in training."""
    return sum(TrialRecord(trial).epochs_trained for trial in trials)


def best_first(trials: Iterable[FrozenTrial], maximize: bool) -> list[FrozenTrial]:
    """The complete trials with a value, best first (equal values keep trial order)."""
    complete = [t for t in trials if t.state.name == "COMPLETE" and t.value is not None]
    return sorted(complete, key=lambda t: float(t.value), reverse=maximize)  # type: ignore[arg-type]


def why_no_network(trial: FrozenTrial) -> str | None:
    """Why a trial has no network to rebuild (export), or None when it recorded one."""
    if TrialRecord(trial).architecture is not None:
        return None
    if trial.state.name == "WAITING":
        return f"trial {trial.number} is queued and has not trained yet"
    if trial.state.name == "RUNNING":
        return f"trial {trial.number} has only just started and has not built its network yet"
    return f"trial {trial.number} ended before building its network ({end_reason(trial)})"
