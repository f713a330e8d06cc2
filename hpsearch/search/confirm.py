"""Confirm a search's winners: retrain its best trials for longer and see whether their order held.

Short trials rank networks imperfectly (a network that learns fast can lose to one that learns
long). The confirm round is a study of its own in the same storage, `<study>.confirm`: the same
data and space, longer trials, no pruner, and one queued trial per winner (its parameters and
its baseline overrides), so any number of processes or machines running `hpsearch confirm` share
the work through the storage, and a worker that dies has its trial retried like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from hpsearch.lifecycle.trial_loop import Next, run_trials
from hpsearch.data.sources import Splits
from hpsearch.records import (
    CONFIRMS_ATTR,
    END_REASON_ATTR,
    OVERRIDES_ATTR,
    SURPLUS,
    TrialRecord,
    best_first,
)
from hpsearch.space.pruners import NoPruning
from hpsearch.space.spec import StudySpec
from hpsearch.store.storage import TrialCallback

if TYPE_CHECKING:
    from hpsearch.train.objective import Objective  # TensorFlow: imported when a round trains

CONFIRM_SUFFIX = ".confirm"
LONGER = 4  # a confirm round trains this many times the search's epochs unless told otherwise


def confirm_name(study_name: str) -> str:
    return study_name + CONFIRM_SUFFIX


def confirm_spec(spec: StudySpec, top: int, epochs: int) -> StudySpec:
    """The confirm round as a study: `spec`'s data and space, `epochs` per trial, no pruner (a
    winner is trained to the end), no baselines (the winners are queued instead)."""
    search = spec.search.model_copy(update={"trials": top, "budget": None, "pruner": NoPruning()})
    training = spec.training.model_copy(update={"epochs": epochs})
    return spec.model_copy(
        update={"name": confirm_name(spec.name), "search": search, "training": training, "baselines": ()}
    )


def _maximizes(study: optuna.Study) -> bool:
    return study.direction == optuna.study.StudyDirection.MAXIMIZE


def winners(study: optuna.Study, top: int) -> list[FrozenTrial]:
    """The `top` complete trials, best first."""
    return best_first(study.get_trials(deepcopy=False), _maximizes(study))[:top]


def queue_winners(confirm: optuna.Study, chosen: list[FrozenTrial]) -> list[int]:
    """Queue each chosen trial not yet in the confirm round; returns the numbers queued."""
    present = _confirmed_numbers(confirm.get_trials(deepcopy=False))
    queued = []
    for trial in chosen:
        if trial.number in present:
            continue
        overrides = TrialRecord(trial).overrides
        confirm.enqueue_trial(trial.params, user_attrs={CONFIRMS_ATTR: trial.number, OVERRIDES_ATTR: overrides})
        queued.append(trial.number)
    return queued


def _confirmed_numbers(trials: list[FrozenTrial]) -> set[int]:
    """The search trials that these confirm-round trials retrain."""
    return {number for t in trials if (number := TrialRecord(t).confirms) is not None}


class NothingToConfirm(RuntimeError):
    """Another process took the last queued winner first; Optuna's fresh trial steps back."""


class OnlyQueued:
    """The objective for a confirm round: it trains queued winners only (Optuna samples a new
    trial when another process took the last queued one first; that trial ends failed, surplus)."""

    def __init__(self, objective: Objective) -> None:
        self.objective = objective

    def __call__(self, trial: optuna.Trial) -> float:
        if TrialRecord(trial).confirms is None:
            trial.set_user_attr(END_REASON_ATTR, SURPLUS)
            raise NothingToConfirm(SURPLUS)
        return self.objective(trial)


def run_confirmations(
    spec: StudySpec, storage: BaseStorage, splits: Splits, checkpoints: Path,
    on_trial: TrialCallback | None = None,
) -> optuna.Study:
    """Train the confirm round's queued trials in this process until none is left (waiting while
    other processes finish theirs, to retry one whose worker died). A stop signal ends the trial
    in training at a safe point, queued again (see `stopping.py`); a second one hands it back."""
    from hpsearch.train.objective import Objective  # loads TensorFlow
    from hpsearch.lifecycle.retries import requeue_lost
    from hpsearch.search.study import open_study

    study = open_study(spec, storage)
    objective = OnlyQueued(Objective(spec, splits, checkpoints))

    def decide() -> Next:
        states = [t.state for t in study.get_trials(deepcopy=False)]
        if TrialState.WAITING in states:
            return Next.TRAIN
        return Next.WAIT if TrialState.RUNNING in states else Next.DONE

    run_trials(study, objective, decide, lambda: objective.objective.current_trial,
               [requeue_lost] + ([on_trial] if on_trial else []))
    return study


@dataclass(frozen=True)
class Confirmed:
    """One winner: its rank and value in the search, and what its longer training found."""

    trial: int  # the search trial's number
    rank: int  # 1 for the search's best
    short_value: float
    long_value: float | None  # None while not (or not successfully) retrained
    test_accuracy: float | None
    confirm_trial: int | None


def confirmations(search: optuna.Study, confirm: optuna.Study) -> list[Confirmed]:
    """The confirm round's outcome for each search trial it retrained, in the search's order."""
    done = {
        number: t
        for t in confirm.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if (number := TrialRecord(t).confirms) is not None
    }
    queued = _confirmed_numbers(confirm.get_trials(deepcopy=False))
    rows = []
    for rank, trial in enumerate(winners(search, len(search.trials)), start=1):
        if trial.number not in queued:
            continue
        long = done.get(trial.number)
        rows.append(Confirmed(
            trial=trial.number, rank=rank, short_value=float(trial.value or 0.0),
            long_value=float(long.value) if long and long.value is not None else None,
            test_accuracy=TrialRecord(long).test_accuracy if long else None,
            confirm_trial=long.number if long else None,
        ))
    return rows


def rank_agreement(rows: list[Confirmed], maximize: bool) -> float | None:
    """Spearman's rank correlation between the short and the long values (1: the order held);
    None with fewer than two retrained winners."""
    from scipy.stats import spearmanr

    pairs = [(r.short_value, r.long_value) for r in rows if r.long_value is not None]
    if len(pairs) < 2:
        return None
    short, long = zip(*pairs)
    rho = spearmanr(short, long).statistic
    return None if rho != rho else float(rho)  # NaN when one side has no spread


@dataclass(frozen=True)
class Winner:
    """The confirm round's best trial, and the search trial it retrained."""

    trial: FrozenTrial
    search_trial: int


def confirmed_winner(confirm: optuna.Study) -> Winner | None:
    """The best trial of a confirm round (`confirm_name`), when it has a complete one: what
    `export` should retrain, as it was judged over the longer training."""
    ranked = best_first((t for t in confirm.get_trials(deepcopy=False) if TrialRecord(t).confirms is not None),
                        _maximizes(confirm))
    if not ranked:
        return None
    return Winner(ranked[0], TrialRecord(ranked[0]).confirms or 0)
