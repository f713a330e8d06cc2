"""A trial's record read back typed: every reader gets the same defaults for a trial that recorded
nothing (queued, or ended before training), and a retry's epochs count once."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from hpsearch.records import (
    BASELINE_ATTR,
    CONFIRMS_ATTR,
    END_REASON_ATTR,
    EPOCH_SECONDS_ATTR,
    HISTORY_ATTR,
    INTERRUPTED,
    RESUMED_EPOCHS_ATTR,
    RETRY_OF_ATTR,
    TrialRecord,
)


def _trial(state: TrialState = TrialState.COMPLETE, **user_attrs: object) -> optuna.trial.FrozenTrial:
    trial = optuna.create_trial(state=state, value=0.5 if state == TrialState.COMPLETE else None,
                                user_attrs=user_attrs)
    trial.number = 7
    return trial


def test_a_trial_that_recorded_nothing_reads_as_nothing() -> None:
    record = TrialRecord(_trial(TrialState.WAITING))
    assert (record.baseline, record.confirms, record.architecture, record.best_epoch, record.worker) == (None,) * 5
    assert (record.history, record.training, record.overrides, record.epoch_seconds) == ({}, {}, {}, [])
    assert (record.epochs_done, record.epochs_trained, record.seconds_trained) == (0, 0, 0.0)
    assert record.checkpoint_key == 7 and record.recorded_end is None and not record.interrupted


def test_a_resumed_retry_counts_only_the_epochs_it_trained_itself() -> None:
    record = TrialRecord(_trial(**{
        HISTORY_ATTR: {"loss": [2.0, 1.5, 1.2, 1.0], "val_accuracy": [0.3, 0.4, 0.5, 0.6]},
        EPOCH_SECONDS_ATTR: [10.0, 11.0, 3.0, 4.0], RESUMED_EPOCHS_ATTR: 2, RETRY_OF_ATTR: 3,
        BASELINE_ATTR: "vgg", CONFIRMS_ATTR: 4, END_REASON_ATTR: INTERRUPTED,
    }))
    assert (record.epochs_done, record.epochs_trained, record.seconds_trained) == (4, 2, 7.0)
    assert record.checkpoint_key == 3  # its first attempt's checkpoint
    assert record.baseline == "vgg" and record.confirms == 4 and record.interrupted
