"""What a trial's learning curves say about it: overfitting, underfitting, stuck at chance...

The labels answer the questions users bring ("why is val_loss climbing while accuracy rises?",
"why is my VGG at 10%?") from the per-epoch curves every trial records; no TensorFlow needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from optuna.trial import FrozenTrial, TrialState

from hpsearch.records import EndReason, TrialRecord, end_reason

CHANCE_MARGIN = 0.05  # validation accuracy within this of 1/classes counts as chance level
OVERFIT_GAP = 0.10  # training accuracy this far above validation accuracy
VAL_LOSS_RISE = 1.10  # final validation loss 10% above its best while training loss still falls
UNDERFIT_ACCURACY = 0.90  # a network that cannot reach this on its own training images...
UNDERFIT_GAP = 0.02  # ...and does no better on them than on the validation images
# Cross-entropy at chance is ln(classes), about 2.3 for 10 classes; a mean loss a hundred times
# that means the weights blew up, even while it is still a finite number.
EXPLODED_LOSS = 1000.0


@dataclass(frozen=True)
class Diagnosis:
    label: str  # overfitting, underfitting, chance level, diverged, pruned, good fit, failed
    detail: str  # one sentence with the numbers behind the label


def loss_diverged(loss: float) -> bool:
    """Whether a training loss shows the network blew up: NaN, infinite, or absurdly large."""
    return not math.isfinite(loss) or loss > EXPLODED_LOSS


def _finite(values: list[float]) -> bool:
    return bool(values) and all(math.isfinite(v) for v in values)


def diagnose_curves(history: dict[str, list[float]], num_classes: int) -> Diagnosis:
    """Label a finished training run from its per-epoch loss and accuracy curves."""
    loss, val_loss = history.get("loss", []), history.get("val_loss", [])
    accuracy, val_accuracy = history.get("accuracy", []), history.get("val_accuracy", [])
    if not (_finite(loss) and _finite(val_loss)) or any(loss_diverged(v) for v in loss):
        return Diagnosis("diverged", "the training loss became NaN, infinite or exploded")
    if not (accuracy and val_accuracy):
        return Diagnosis("unknown", "no accuracy curves were recorded")
    train, val = accuracy[-1], val_accuracy[-1]
    chance = 1.0 / max(num_classes, 2)
    if val <= chance + CHANCE_MARGIN:
        if train <= chance + 2 * CHANCE_MARGIN:
            why = "the network learns nothing (check the data, the learning rate, the initializer)"
        else:
            why = (f"training accuracy climbs to {train:.1%}, so check that validation images are "
                   "preprocessed like training ones (hpsearch doctor) and the batch-norm placement")
        return Diagnosis("chance level", f"validation accuracy {val:.1%} sits at chance ({chance:.0%}): {why}")
    best_val_loss = min(val_loss)
    if train - val >= OVERFIT_GAP:
        return Diagnosis(
            "overfitting",
            f"training accuracy {train:.1%} is {100 * (train - val):.1f} points above validation "
            f"accuracy {val:.1%}: more regularization (dropout, augmentation) or less capacity",
        )
    if len(val_loss) >= 3 and val_loss[-1] > VAL_LOSS_RISE * best_val_loss and loss[-1] < loss[0]:
        epoch = val_loss.index(best_val_loss) + 1
        return Diagnosis(
            "overfitting",
            f"validation loss rose from {best_val_loss:.3f} (epoch {epoch}) to {val_loss[-1]:.3f} "
            "while training loss kept falling",
        )
    if train < UNDERFIT_ACCURACY and train - val < UNDERFIT_GAP:
        return Diagnosis(
            "underfitting",
            f"training accuracy {train:.1%} is no better than validation {val:.1%}: more epochs, "
            "more capacity or less regularization",
        )
    return Diagnosis("good fit", f"training {train:.1%}, validation {val:.1%}")


def diagnose_trial(trial: FrozenTrial) -> Diagnosis:
    """The diagnosis of a stored trial, from its state, end reason and curves."""
    reason = end_reason(trial)
    record = TrialRecord(trial)
    history = record.history
    num_classes = int((record.architecture or {}).get("num_classes", 10))
    if trial.state == TrialState.PRUNED:
        return Diagnosis("pruned", reason)
    if EndReason.of(reason) is EndReason.DIVERGED:
        return Diagnosis("diverged", reason)
    if trial.state != TrialState.COMPLETE:
        return Diagnosis(trial.state.name.lower(), reason)
    return diagnose_curves(history, num_classes)
