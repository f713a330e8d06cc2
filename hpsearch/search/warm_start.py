"""Warm starts: the best networks of earlier studies in the same storage become a new study's
first trials (`--warm-start STUDY[,STUDY...]`, `[search] warm_start`).

A search that starts where earlier searches ended explores near what worked instead of from
scratch. Each source trial's hyperparameters are read back as values (replaying the source
study's own space on the trial's parameters), mapped into the new study's space, keeping only
the values its search could draw itself (a dropout the new range excludes, a kernel size it does
not offer, a per-block list of another depth are dropped), and enqueued after the study's own
baselines. What was dropped is left to the sampler: Optuna draws the parameters an enqueued trial
does not fix. Each warm start names its source (`study#trial`) in the trial's record, so `show`,
`summary` and the report say where it came from. A share of the sampler's trials is then drawn
near them, as near every starting point (`near_starts.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna

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
