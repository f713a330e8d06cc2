"""What a trial's network costs to train, and the networks no cheaper one beats (the
accuracy-vs-cost front): a user's budget is hours, so the best network is not always the one to use.

Plain Python over stored trials (TensorFlow-free): `summary`, `report` and the pruner read it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hpsearch.records import TrialRecord

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial


def seconds_per_epoch(epoch_seconds: list[float]) -> float | None:
    """Steady-state seconds per epoch: the median without the first epoch, which traces the graph."""
    steady = epoch_seconds[1:] or epoch_seconds
    return float(statistics.median(steady)) if steady else None


@dataclass(frozen=True)
class Cost:
    """One complete trial's value and what its network costs: seconds of a full trial, parameters."""

    number: int
    value: float
    full_seconds: float
    params: int | None


def trial_cost(trial: FrozenTrial, epochs: int) -> Cost | None:
    """A complete trial's cost at `epochs` (the study's trial length); None without timings."""
    record = TrialRecord(trial)
    per_epoch = seconds_per_epoch(record.epoch_seconds)
    if per_epoch is None or trial.value is None:
        return None
    params = record.params_count
    return Cost(trial.number, float(trial.value), per_epoch * epochs, int(params) if params else None)


def cost_front(costs: list[Cost], maximize: bool) -> list[Cost]:
    """The trials that no cheaper trial matches (Pareto-optimal in value and seconds), cheapest first."""
    front: list[Cost] = []
    for cost in sorted(costs, key=lambda c: (c.full_seconds, -c.value if maximize else c.value)):
        if not front or (cost.value > front[-1].value if maximize else cost.value < front[-1].value):
            front.append(cost)
    return front


def too_costly(epoch_seconds: list[float], epochs: int, cap_seconds: float | None) -> float | None:
    """The seconds a full trial of this network would take, when that is over `cap_seconds`;
    judged from the second epoch on (the first includes tracing the graph)."""
    per_epoch = seconds_per_epoch(epoch_seconds)
    if cap_seconds is None or per_epoch is None or len(epoch_seconds) < 2:
        return None
    projected = per_epoch * epochs
    return projected if projected > cap_seconds else None

