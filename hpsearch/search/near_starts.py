"""Draws near the starting points: a share of the sampler's trials spread around the best finished
starting points (the study's baselines, their proven-recipe versions, warm starts).

A search that starts from a strong network should also look close to it, where a small change
(a little more dropout, a slightly lower learning rate) may beat it; TPE alone sees a starting
point only as one good trial among those of its Hyperband bracket, and draws most of its trials
far from it. `[search] near_starts` sets the share (`SearchSpec.near_share`). Such a draw is
judged against its starting point at the same epoch, not only by the pruner (`train/objective.py`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from hpsearch.records import NEAR_START_ATTR, TrialRecord, best_first

NEAR_WIDTH = 0.1  # the spread around a starting point: a tenth of each range (in log space for log ranges)
KEEP_CHOICE = 0.8  # the chance a categorical value stays the starting point's


class NearStarts(optuna.samplers.BaseSampler):
    """The study's sampler, except that a share of its trials is drawn near a finished starting
    point (the best ones more often: the best twice as often as the second): numbers spread around
    its values, choices mostly kept. Parameters a starting point does not fix are drawn by the
    wrapped sampler."""

    def __init__(self, base: optuna.samplers.BaseSampler, seed: int | None, share: float) -> None:
        self.base = base
        self.share = share
        self.rng = np.random.default_rng(seed)
        # Trial id -> the starting point it is drawn near. Kept here as well as on the trial: Optuna
        # hands the sampler the trial as read before `before_trial`, without the tag.
        self.near: dict[int, optuna.trial.FrozenTrial] = {}

    def reseed_rng(self) -> None:
        self.base.reseed_rng()
        self.rng = np.random.default_rng()

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.base.before_trial(study, trial)
        if TrialRecord(trial).baseline or "fixed_params" in trial.system_attrs or trial.params:
            return  # a starting point, another enqueued trial or a retry (its first attempt's values and tag)
        if self.rng.random() >= self.share:
            return
        # Every trial of the study, not only the ones a Hyperband bracket shows its sampler.
        trials = study._storage.get_all_trials(study._study_id, deepcopy=False)
        finished = best_first((t for t in trials if TrialRecord(t).baseline),
                              study.direction == optuna.study.StudyDirection.MAXIMIZE)
        if finished:
            weights = 1.0 / np.arange(1, len(finished) + 1)
            chosen = finished[int(self.rng.choice(len(finished), p=weights / weights.sum()))]
            study._storage.set_trial_system_attr(trial._trial_id, NEAR_START_ATTR, chosen.number)
            self.near[trial._trial_id] = chosen

    def infer_relative_search_space(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
        return {} if trial._trial_id in self.near else self.base.infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                        search_space: dict[str, Any]) -> dict[str, Any]:
        return self.base.sample_relative(study, trial, search_space) if search_space else {}

    def sample_independent(self, study: optuna.Study, trial: optuna.trial.FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        start = self.near.get(trial._trial_id)
        if start is None or param_name not in start.params:
            return self.base.sample_independent(study, trial, param_name, param_distribution)
        value = start.params[param_name]
        if isinstance(param_distribution, CategoricalDistribution):
            keep = value in param_distribution.choices and self.rng.random() < KEEP_CHOICE
            return value if keep else param_distribution.choices[self.rng.integers(len(param_distribution.choices))]
        return _spread(self.rng, value, param_distribution)

    def after_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial, state: optuna.trial.TrialState,
                    values: Any) -> None:
        self.near.pop(trial._trial_id, None)
        self.base.after_trial(study, trial, state, values)


def _spread(rng: np.random.Generator, center: float, distribution: BaseDistribution) -> float:
    """A number near `center` within `distribution`'s range (and on its grid)."""
    assert isinstance(distribution, (FloatDistribution, IntDistribution))
    low, high = float(distribution.low), float(distribution.high)
    if distribution.log:
        drawn = math.exp(rng.normal(math.log(center), NEAR_WIDTH * (math.log(high) - math.log(low))))
    else:
        drawn = rng.normal(center, NEAR_WIDTH * (high - low))
    drawn = min(high, max(low, drawn))
    step = distribution.step
    if step is not None:
        drawn = low + round((drawn - low) / step) * step
    return int(round(drawn)) if isinstance(distribution, IntDistribution) else float(drawn)
