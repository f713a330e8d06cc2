"""A study's `[[baselines]]`: hand-tuned networks tried first, each checked against the space so
that every value is one the search could draw."""

from __future__ import annotations

from typing import Any

from hpsearch.errors import SpecError
from hpsearch.space.catalogue import PARAMETERS, positions_of
from hpsearch.space.dimension import Dimension, check_fixed, check_positions
from hpsearch.space.strict import StrictModel


class Baseline(StrictModel):
    """A hand-tuned network tried first: its name and every value it sets."""

    name: str
    note: str = ""
    values: dict[str, Any]


def resolve_baseline(space: dict[str, Dimension], values: dict[str, Any]) -> dict[str, Any]:
    """Every hyperparameter of a baseline: its own values, else the space's, else defaults."""
    resolved: dict[str, Any] = {}
    for name, dim in space.items():  # catalogue order: the optimizer before its settings
        dim = dim.under(resolved.get("optimizer", ""))
        resolved[name] = values.get(name, PARAMETERS[name].default if dim.searched else dim.fixed)
    return resolved


def parse_baselines(raw: Any, space: dict[str, Dimension]) -> tuple[Baseline, ...]:
    if not isinstance(raw, list):
        raise SpecError("baselines: must be an array of tables ([[baselines]])")
    baselines = []
    for index, entry in enumerate(raw):
        where = f"baselines[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise SpecError(f"{where}.name: every baseline needs a name")
        note = entry.get("note", "")
        if not isinstance(note, str):
            raise SpecError(f"{where}.note: must be text in quotes (got {note!r})")
        values = {k: v for k, v in entry.items() if k not in ("name", "note")}
        for name, value in values.items():
            key = f"{where}.{name}"
            if name not in PARAMETERS:
                raise SpecError(f"{key}: unknown hyperparameter")
            values[name] = check_fixed(key, PARAMETERS[name], value)
        baseline = Baseline(name=entry["name"], note=note, values=values)
        check_baseline(space, baseline, where)
        baselines.append(baseline)
    return tuple(baselines)


def check_baseline(space: dict[str, Dimension], baseline: Baseline, where: str) -> None:
    """Raise SpecError unless every value of `baseline` fits the space: per-position values of the
    right count, and searched values the sampler could draw (Optuna would reject the others)."""
    resolved = resolve_baseline(space, baseline.values)
    for name, dim in space.items():
        key = f"{where}.{name}"
        check_positions(key, name, resolved[name], resolved, given=name in baseline.values)
        dim = dim.under(resolved["optimizer"])
        if dim.searched:
            _check_in_dimension(key, baseline.name, dim, resolved[name], resolved)


def _check_in_dimension(
    key: str, baseline: str, dim: Dimension, value: Any, resolved: dict[str, Any]
) -> None:
    """A baseline's value for a searched hyperparameter must be one the search could draw."""
    if isinstance(value, tuple):
        if not dim.each:
            raise SpecError(f"{key}: per-position values need `each = true` in space.{dim.name}")
        needed = positions_of(PARAMETERS[dim.name].scope, resolved) or 0
        values = value[:needed]
    else:
        values = (value,)
    for item in values:
        problem = dim.problem(item)
        if problem:
            raise SpecError(f"{key}: baseline {baseline!r} sets {dim.name} = {item!r}, which is {problem}")
