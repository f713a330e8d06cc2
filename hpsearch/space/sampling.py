"""A study's search space as Optuna `trial.suggest_*` calls, and starting points as enqueued trials.

No TensorFlow here: drawing hyperparameters and describing the network are plain data, so the
sampler and the summary commands run without it.
"""

from __future__ import annotations

from typing import Any

import optuna

from hpsearch.space.catalogue import PARAMETERS, SGD_ONLY, positions_of
from hpsearch.records import BASELINE_ATTR, OVERRIDES_ATTR, TrialRecord
from hpsearch.space.baselines import Baseline
from hpsearch.space.dimension import Dimension
from hpsearch.space.spec import StudySpec
from hpsearch.space.starting_points import starting_points


def _suggest(trial: optuna.Trial, label: str, dim: Dimension) -> Any:
    if dim.choices is not None:
        return trial.suggest_categorical(label, list(dim.choices))
    assert dim.low is not None and dim.high is not None
    if dim.is_int_range:
        return trial.suggest_int(label, int(dim.low), int(dim.high), step=int(dim.step or 1), log=dim.log)
    return trial.suggest_float(label, float(dim.low), float(dim.high), step=dim.step, log=dim.log)


def _per_position(value: Any, count: int) -> list[Any]:
    """A scalar repeated, or a per-position list cut, to `count` values."""
    if isinstance(value, (list, tuple)):
        return list(value[:count])
    return [value] * count


def _label(name: str, position: int) -> str:
    return f"{name}_{position + 1}"


def _under_optimizer(dim: Dimension, values: dict[str, Any]) -> tuple[Dimension, str]:
    """The dimension that applies under the trial's optimizer, and its Optuna label: one label per
    optimizer (`learning_rate_sgd`), so the sampler models each optimizer's rates apart."""
    if not dim.by_optimizer:
        return dim, dim.name
    optimizer = values["optimizer"]
    return dim.under(optimizer), f"{dim.name}_{optimizer}"


def sample(trial: optuna.Trial, space: dict[str, Dimension]) -> dict[str, Any]:
    """Draw every hyperparameter for `trial`; per-block and per-layer values come as lists.

    Fixed values a baseline sets (stored on its enqueued trial) replace the space's fixed values,
    so a baseline is exactly its hand-tuned network even where the study does not search.
    """
    overrides = TrialRecord(trial).overrides
    values: dict[str, Any] = {}
    for name, param in PARAMETERS.items():  # catalogue order: counts come before their users
        dim, label = _under_optimizer(space[name], values)
        count = positions_of(param.scope, values)
        if name in SGD_ONLY and values["optimizer"] != "sgd":
            value: Any = param.default
        elif count == 0:
            value = []
        elif name in overrides:
            value = overrides[name]
        elif not dim.searched:
            value = dim.fixed
        elif dim.each and count is not None:
            value = [_suggest(trial, _label(name, i), dim) for i in range(count)]
        else:
            value = _suggest(trial, label, dim)
        values[name] = value if count is None else _per_position(value, count)
    return values


def baseline_trial(spec: StudySpec, baseline: Baseline) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (params to enqueue, fixed-value overrides) that make a trial train `baseline`."""
    values = spec.baseline_values(baseline)
    params: dict[str, Any] = {}
    overrides: dict[str, Any] = {}
    for name, dim in spec.space.items():
        if name in SGD_ONLY and values["optimizer"] != "sgd":
            continue
        value = values[name]
        dim, label = _under_optimizer(dim, values)
        if not dim.searched:
            if name in baseline.values:
                overrides[name] = list(value) if isinstance(value, tuple) else value
            continue
        count = positions_of(PARAMETERS[name].scope, values)
        if dim.each and count is not None:
            params.update({_label(name, i): v for i, v in enumerate(_per_position(value, count))})
        else:
            params[label] = value
    return params, overrides


def has_sampled(trials: list[optuna.trial.FrozenTrial]) -> bool:
    """Whether the sampler has drawn a trial: starting points are queued only before that."""
    return any(BASELINE_ATTR not in t.user_attrs for t in trials)


def enqueue_starting_points(study: optuna.Study, spec: StudySpec) -> list[str]:
    """Enqueue each starting point (baselines, then their proven-recipe versions) not yet in the
    study, so they run before any sampled trial. None go into a study that has sampled already:
    one created before the proven recipe existed keeps the course it started on."""
    trials = study.get_trials(deepcopy=False)
    if has_sampled(trials):
        return []
    present = {TrialRecord(t).baseline for t in trials}
    added = []
    for baseline in starting_points(spec):
        if baseline.name in present:
            continue
        params, overrides = baseline_trial(spec, baseline)
        study.enqueue_trial(params, user_attrs={BASELINE_ATTR: baseline.name, OVERRIDES_ATTR: overrides})
        added.append(baseline.name)
    return added
