"""A synthetic landscape over a study's real search space, for benchmarks of the samplers and
pruners that must not spend minutes training: a smooth bump per parameter, centred at a point
fixed by the parameter's name, so every seed and every run sees the same landscape. Also how
such benchmarks walk a trial through a learning curve under a pruner, and the table row they
print from their runs over many seeds."""

from __future__ import annotations

import hashlib
import statistics
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState


def _centre(name: str) -> float:
    """A fixed point in [0, 1] per parameter name: where the landscape peaks."""
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def position(value: Any, distribution: optuna.distributions.BaseDistribution) -> float:
    """A parameter value mapped to [0, 1] of its range (categorical: its index among the choices)."""
    if isinstance(distribution, CategoricalDistribution):
        return distribution.choices.index(value) / max(1, len(distribution.choices) - 1)
    low, high = distribution.low, distribution.high  # type: ignore[attr-defined]
    return 0.0 if high == low else (value - low) / (high - low)


def score(trial: optuna.trial.FrozenTrial | optuna.Trial, params: dict[str, Any]) -> float:
    """The landscape's value at `params` (at most 1, at the peak)."""
    distributions = trial.distributions
    return statistics.mean(1 - (position(v, distributions[k]) - _centre(k)) ** 2 for k, v in params.items())


def replay_curve(study: optuna.Study, trial: optuna.Trial, curve: list[float]) -> int:
    """Report `curve` epoch by epoch (epochs counted from 1, as hpsearch's objective does) until
    the study's pruner stops the trial, then tell the study; returns the epochs trained. A trial
    that trains every epoch completes, worth its best epoch as in hpsearch."""
    for epoch, value in enumerate(curve, start=1):
        trial.report(value, epoch)
        if epoch < len(curve) and trial.should_prune():
            study.tell(trial, state=TrialState.PRUNED)
            return epoch
    study.tell(trial, max(curve))
    return len(curve)


def table_row(label: str, runs: list[dict[str, float]], columns: tuple[tuple[str, int], ...]) -> str:
    """A markdown row: `label`, then mean ± sd over the runs of each (key, decimals) column."""
    cells = []
    for key, digits in columns:
        values = [run[key] for run in runs]
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        cells.append(f"{statistics.mean(values):.{digits}f} ± {sd:.{digits}f}")
    return f"| {label} | {' | '.join(cells)} |"
