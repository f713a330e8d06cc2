"""Warm starts: the best networks of earlier studies in the same storage become a new study's
first trials (`--warm-start STUDY[,STUDY...]`, `[search] warm_start`).

A search that starts where earlier searches ended explores near what worked instead of from
scratch. Each source trial's hyperparameters are read back as values (replaying the source
study's own space on the trial's parameters), mapped into the new study's space, keeping only
the values its search could draw itself (a dropout the new range excludes, a kernel size it does
not offer, a per-block list of another depth are dropped), and enqueued after the study's own
baselines. What was dropped is left to the sampler: Optuna draws the parameters an enqueued trial
does not fix. Each warm start names its source (`study#trial`) in the trial's record, so `show`,
`summary` and the report say where it came from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from hpsearch.space.catalogue import COUNT_OF_SCOPE, PARAMETERS
from hpsearch.space.sampling import baseline_trial, sample
from hpsearch.errors import SpecError
from hpsearch.space.baselines import Baseline, check_baseline
from hpsearch.space.dimension import Dimension
from hpsearch.space.spec import StudySpec
from hpsearch.records import BASELINE_ATTR, OVERRIDES_ATTR, WARM_START_ATTR, TrialRecord, best_first

WARM_STARTS_PER_STUDY = 3  # the best complete trials taken from each source study
WARM_PREFIX = "warm start "  # a warm start's starting-point name: "warm start cifar-dropout#12"


@dataclass(frozen=True)
class WarmStart:
    """One earlier trial as a starting point of the new study."""

    source: str  # "study#trial"
    values: dict[str, Any]  # the hyperparameters the new study can draw, by catalogue name

    @property
    def name(self) -> str:
        return WARM_PREFIX + self.source


def warm_starts(spec: StudySpec, sources: list[tuple[StudySpec, optuna.Study]]) -> list[WarmStart]:
    """The best `WARM_STARTS_PER_STUDY` complete trials of each source study (its stored spec and
    the study), mapped into `spec`'s space; a trial of which nothing fits is left out."""
    found = []
    for source_spec, study in sources:
        maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
        for trial in best_first(study.get_trials(deepcopy=False), maximize)[:WARM_STARTS_PER_STUDY]:
            kept = _drawable(spec.space, _values_of(trial, source_spec))
            if kept:
                found.append(WarmStart(f"{study.study_name}#{trial.number}", kept))
    return found


def _values_of(trial: optuna.trial.FrozenTrial, spec: StudySpec) -> dict[str, Any]:
    """Every hyperparameter of a source trial, as its own study's space resolves its parameters."""
    fixed = optuna.trial.FixedTrial(trial.params, number=trial.number)
    fixed.set_user_attr(OVERRIDES_ATTR, TrialRecord(trial).overrides)
    return sample(fixed, spec.space)  # type: ignore[arg-type]  # a FixedTrial suggests as a Trial does


def _drawable(space: dict[str, Dimension], values: dict[str, Any]) -> dict[str, Any]:
    """The values the new space searches and could draw itself. Per-position values are kept only
    when the new study's count they follow (blocks, dense layers: kept, or fixed) matches."""
    kept: dict[str, Any] = {}
    for name, dim in space.items():  # catalogue order: counts and the optimizer come first
        if not dim.searched or name not in values:
            continue
        value = values[name]
        dim = dim.under(kept.get("optimizer", values.get("optimizer", "")))
        if isinstance(value, list):
            counted_by = COUNT_OF_SCOPE[PARAMETERS[name].scope]
            count = kept.get(counted_by, None if space[counted_by].searched else space[counted_by].fixed)
            if dim.each and count == len(value) and all(dim.problem(v) is None for v in value):
                kept[name] = tuple(value)  # per-position values, as a study file gives them
            elif not dim.each and len(set(map(repr, value))) == 1 and dim.problem(value[0]) is None:
                kept[name] = value[0]  # the same value at every position: what a scalar dimension draws
        elif dim.problem(value) is None:
            kept[name] = value
    return kept


def enqueue_warm_starts(study: optuna.Study, spec: StudySpec, starts: list[WarmStart], present: set[str]) -> list[str]:
    """Enqueue each warm start not yet in the study; the parameters it does not fix are drawn by
    the sampler. Returns the names enqueued."""
    added = []
    for start in starts:
        if start.name in present:
            continue
        filled = {name: start.values.get(name, _any_drawable(dim)) for name, dim in spec.space.items() if dim.searched}
        baseline = Baseline(name=start.name, values=filled)
        try:
            check_baseline(spec.space, baseline, f"warm start {start.source}")
        except SpecError:
            continue  # the values do not fit together in this space (a count and its positions)
        params, _ = baseline_trial(spec, baseline)
        fixed = {label: value for label, value in params.items() if _owner(label, spec.space) in start.values}
        study.enqueue_trial(fixed, user_attrs={BASELINE_ATTR: start.name, WARM_START_ATTR: start.source,
                                               OVERRIDES_ATTR: {}})
        added.append(start.name)
    return added


def _any_drawable(dim: Dimension) -> Any:
    """A value the dimension can draw (only to lay out the trial's parameters; not enqueued)."""
    dim = dim.by_optimizer[0][1] if dim.by_optimizer else dim
    return dim.choices[0] if dim.choices is not None else dim.low


def _owner(label: str, space: dict[str, Dimension]) -> str | None:
    """The hyperparameter an Optuna parameter label belongs to (`conv_dropout_2`, `learning_rate_sgd`)."""
    return max((name for name in space if label == name or label.startswith(name + "_")), key=len, default=None)


NEAR_SHARE = 0.25  # of the sampler's trials, drawn near a warm start rather than by the sampler
NEAR_WIDTH = 0.1  # their spread around it: a tenth of each range (in log space for log ranges)
KEEP_CHOICE = 0.8  # the chance a categorical value stays the warm start's
NEAR_ATTR = "near_warm_start"  # system attribute: the warm start a trial was drawn near


class NearWarmStarts(optuna.samplers.BaseSampler):
    """The study's sampler, except that a share of its trials is drawn near a finished warm start
    (the best ones more often): numbers spread around its values, choices mostly kept. So the
    search explores close to what worked in earlier studies as well as wherever its own sampler
    leads; TPE alone would see a warm start only as one good trial among those of its Hyperband
    bracket. Parameters a warm start does not fix are drawn by the wrapped sampler."""

    def __init__(self, base: optuna.samplers.BaseSampler, seed: int | None) -> None:
        self.base = base
        self.rng = np.random.default_rng(seed)

    def reseed_rng(self) -> None:
        self.base.reseed_rng()
        self.rng = np.random.default_rng()

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.base.before_trial(study, trial)
        if TrialRecord(trial).baseline or "fixed_params" in trial.system_attrs:
            return  # a starting point or another enqueued trial trains as queued
        if self.rng.random() >= NEAR_SHARE:
            return
        # Every trial of the study, not only the ones a Hyperband bracket shows its sampler.
        trials = study._storage.get_all_trials(study._study_id, deepcopy=False)
        finished = best_first((t for t in trials if WARM_START_ATTR in t.user_attrs),
                              study.direction == optuna.study.StudyDirection.MAXIMIZE)
        if finished:
            weights = 1.0 / np.arange(1, len(finished) + 1)  # the best twice as often as the second
            chosen = finished[int(self.rng.choice(len(finished), p=weights / weights.sum()))]
            study._storage.set_trial_system_attr(trial._trial_id, NEAR_ATTR, chosen.number)

    def _near(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> optuna.trial.FrozenTrial | None:
        number = trial.system_attrs.get(NEAR_ATTR)
        if number is None:
            return None
        return study._storage.get_trial(study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number))

    def infer_relative_search_space(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
        return {} if NEAR_ATTR in trial.system_attrs else self.base.infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                        search_space: dict[str, Any]) -> dict[str, Any]:
        return self.base.sample_relative(study, trial, search_space) if search_space else {}

    def sample_independent(self, study: optuna.Study, trial: optuna.trial.FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        start = self._near(study, trial)
        if start is None or param_name not in start.params:
            return self.base.sample_independent(study, trial, param_name, param_distribution)
        value = start.params[param_name]
        if isinstance(param_distribution, CategoricalDistribution):
            keep = value in param_distribution.choices and self.rng.random() < KEEP_CHOICE
            return value if keep else param_distribution.choices[self.rng.integers(len(param_distribution.choices))]
        return _spread(self.rng, value, param_distribution)

    def after_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial, state: optuna.trial.TrialState,
                    values: Any) -> None:
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
