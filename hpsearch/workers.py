"""A worker: load the data once, then run trials from the shared study until it reaches its target."""

from __future__ import annotations

from collections.abc import Callable

import optuna
from optuna.storages import BaseStorage
from optuna.study import MaxTrialsCallback
from optuna.trial import FrozenTrial, TrialState

from hpsearch.data import Splits, load_raw, prepare
from hpsearch.objective import END_REASON_ATTR, Objective
from hpsearch.spec import StudySpec
from hpsearch.study import FINISHED, open_study, study_progress

TrialCallback = Callable[[optuna.Study, FrozenTrial], None]


def load_splits(spec: StudySpec) -> Splits:
    """The study's data, read and prepared once per worker and reused by every trial."""
    data = spec.data
    return prepare(
        load_raw(data.dataset, seed=spec.search.seed),
        validation_fraction=data.validation_fraction,
        seed=spec.search.seed,
        subset=data.subset,
        pad_to=data.pad_to,
    )


class StopOnRepeatedErrors:
    """Stop a worker whose trials keep failing with errors (not divergence): likely a bug or OOM."""

    def __init__(self, limit: int = 3) -> None:
        self.limit = limit
        self.in_a_row = 0

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        is_error = trial.state == TrialState.FAIL and str(
            trial.user_attrs.get(END_REASON_ATTR, "error")
        ).startswith("error")
        self.in_a_row = self.in_a_row + 1 if is_error else 0
        if self.in_a_row >= self.limit:
            study.stop()


def run_worker(
    spec: StudySpec,
    storage: BaseStorage,
    splits: Splits,
    on_trial: TrialCallback | None = None,
) -> optuna.Study:
    """Run trials of the study in this process until it has `spec.search.trials` finished ones."""
    study = open_study(spec, storage)
    if study_progress(study).done:
        return study
    callbacks: list[TrialCallback] = [
        MaxTrialsCallback(spec.search.trials, states=FINISHED),
        StopOnRepeatedErrors(),
    ]
    if on_trial is not None:
        callbacks.append(on_trial)
    study.optimize(Objective(spec, splits), callbacks=callbacks, catch=(Exception,), gc_after_trial=True)
    return study
