"""A study's `[space]`: each hyperparameter a `Dimension` (a fixed value, choices, or a range,
perhaps one per optimizer), parsed from the study file with errors that name the key, and written
back as the file would say it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hpsearch.errors import SpecError
from hpsearch.space.catalogue import AFTER_OPTIMIZER, PARAMETERS, Parameter, positions_of

# How far from a grid point a value may be, in steps: Optuna's own tolerance, so that 0.3 is on
# the 0.1 grid although 0.3 / 0.1 is 2.9999999999999996 in floating point.
GRID_TOLERANCE = 1e-8


def on_grid(value: float, low: float, step: float) -> bool:
    """Whether `value` is `low` plus a whole number of `step`s, as Optuna's stepped ranges draw."""
    steps = (value - low) / step
    return abs(steps - round(steps)) < GRID_TOLERANCE


@dataclass(frozen=True)
class Dimension:
    """One hyperparameter of a study: a fixed value or a range/choices to search.

    `fixed` holds a scalar, or a tuple with one value per block/dense layer. `each` means
    one value is drawn for each block (or dense layer) instead of one shared by all.
    `by_optimizer` holds one dimension per optimizer the trial may use: good learning rates for
    Adam and for SGD lie ten times apart, and one range for both trains half the draws at chance.
    """

    name: str
    fixed: Any = None
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    each: bool = False
    by_optimizer: tuple[tuple[str, Dimension], ...] = ()

    @property
    def searched(self) -> bool:
        return self.choices is not None or self.low is not None or bool(self.by_optimizer)

    def under(self, optimizer: str) -> Dimension:
        """The dimension that applies when the trial trains with `optimizer`."""
        return dict(self.by_optimizer).get(optimizer, self)

    @property
    def is_int_range(self) -> bool:
        return PARAMETERS[self.name].kind is int

    def problem(self, value: Any) -> str | None:
        """Say why the search can never draw `value`, or None when it can."""
        if self.choices is not None:
            return None if value in self.choices else f"outside the searched {self.describe()}"
        assert self.low is not None and self.high is not None
        if not self.low <= value <= self.high:
            return f"outside the searched range {self.describe()}"
        if self.step is not None and not on_grid(value, self.low, self.step):
            return f"not on the search's grid {self.describe()}"
        return None

    def largest(self) -> Any:
        """The largest value this dimension can take (for counts such as `blocks`)."""
        if self.choices is not None:
            return max(self.choices)
        if self.high is not None:
            return self.high
        return max(self.fixed) if isinstance(self.fixed, tuple) else self.fixed

    def describe(self) -> str:
        if self.by_optimizer:
            return "; ".join(f"{optimizer}: {dim.describe()}" for optimizer, dim in self.by_optimizer)
        if self.choices is not None:
            text = "choice of " + ", ".join(map(str, self.choices))
        elif self.low is not None:
            text = f"{self.low:g} .. {self.high:g}"
            text += f" step {self.step:g}" if self.step else ""
            text += " (log)" if self.log else ""
        else:
            return " / ".join(map(str, self.fixed)) if isinstance(self.fixed, tuple) else str(self.fixed)
        return text + (" (each)" if self.each else "")


def _parse_dimension(name: str, raw: Any) -> Dimension:
    key = f"space.{name}"
    if name not in PARAMETERS:
        raise SpecError(f"{key}: unknown hyperparameter (known: {', '.join(PARAMETERS)})")
    param = PARAMETERS[name]
    if not isinstance(raw, dict):
        return Dimension(name, fixed=check_fixed(key, param, raw))
    optimizers = PARAMETERS["optimizer"].choices or ()
    if raw and set(raw) <= set(optimizers):
        return _parse_by_optimizer(name, raw)
    unknown = set(raw) - {"choices", "low", "high", "step", "log", "each"}
    if unknown:
        raise SpecError(f"{key}: unknown key {sorted(unknown)[0]!r} (use choices, or low/high/step/log; each; "
                        f"or one table per optimizer: {', '.join(optimizers)})")
    each = raw.get("each", False)
    if not isinstance(each, bool):
        raise SpecError(f"{key}.each: must be true or false")
    if each and param.scope == "network":
        raise SpecError(f"{key}.each: {name} applies to the whole network, not to each block or layer")
    if "choices" in raw:
        if set(raw) - {"choices", "each"}:
            raise SpecError(f"{key}: give either choices or low/high, not both")
        choices = raw["choices"]
        if not isinstance(choices, list) or not choices:
            raise SpecError(f"{key}.choices: must be a non-empty list")
        for value in choices:
            _check_value(f"{key}.choices", param, value)
        return Dimension(name, choices=tuple(choices), each=each)
    if "low" not in raw or "high" not in raw:
        raise SpecError(f"{key}: a searched hyperparameter needs choices = [...] or both low and high")
    if param.kind in (str, bool):
        raise SpecError(f"{key}: {name} takes choices = [...], not a low/high range")
    low, high, step, log = raw["low"], raw["high"], raw.get("step"), raw.get("log", False)
    _check_value(f"{key}.low", param, low)
    _check_value(f"{key}.high", param, high)
    if low >= high:
        raise SpecError(f"{key}: low must be below high (got {low} and {high})")
    if not isinstance(log, bool):
        raise SpecError(f"{key}.log: must be true or false")
    if step is not None and (isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0):
        raise SpecError(f"{key}.step: must be a positive number")
    if step is not None and param.kind is int and not isinstance(step, int):
        raise SpecError(f"{key}.step: {name} takes whole numbers, so its step must be one (got {step!r})")
    if log and step is not None:
        raise SpecError(f"{key}: step and log cannot be combined")
    if step is not None and not on_grid(high, low, step):
        raise SpecError(f"{key}.high: {high!r} is not on the grid from {low!r} in steps of {step!r}, "
                        "so the search would silently stop below it")
    if log and low <= 0:
        raise SpecError(f"{key}: a log range needs low above 0")
    return Dimension(name, low=low, high=high, step=step, log=log, each=each)


def _parse_by_optimizer(name: str, raw: dict[str, Any]) -> Dimension:
    """`learning_rate = { adam = { low = .., high = .. }, sgd = {..} }`: a value per optimizer."""
    if name not in AFTER_OPTIMIZER:
        raise SpecError(f"space.{name}: only the optimizer's settings ({', '.join(AFTER_OPTIMIZER)}) "
                        "can take a value per optimizer")
    dims = []
    for optimizer, sub in raw.items():
        try:
            dim = _parse_dimension(name, sub)
        except SpecError as error:
            raise SpecError(str(error).replace(f"space.{name}", f"space.{name}.{optimizer}", 1)) from None
        if dim.by_optimizer:
            raise SpecError(f"space.{name}.{optimizer}: give a value or a range here, not another table per optimizer")
        dims.append((optimizer, dim))
    return Dimension(name, by_optimizer=tuple(dims))


def _check_value(key: str, param: Parameter, value: Any) -> Any:
    problem = param.problem(value)
    if problem:
        raise SpecError(f"{key}: {problem}")
    return value


def check_fixed(key: str, param: Parameter, raw: Any) -> Any:
    """A fixed value: a scalar, or (for block/dense parameters) a list of per-position values."""
    if isinstance(raw, list):
        if param.scope == "network":
            raise SpecError(f"{key}: {param.name} takes one value, not a list")
        if not raw:
            raise SpecError(f"{key}: the list of per-position values is empty")
        return tuple(_check_value(f"{key}[{i}]", param, v) for i, v in enumerate(raw))
    return _check_value(key, param, raw)


def check_positions(key: str, name: str, value: Any, counts: dict[str, Any], given: bool = True) -> None:
    """A per-position list must have a value for every block or dense layer there can be, and,
    when `given` here (not inherited from the space), no more: extra values would be ignored."""
    if not isinstance(value, tuple):
        return
    needed = positions_of(PARAMETERS[name].scope, counts)
    unit = "block" if PARAMETERS[name].scope == "block" else "dense layer"
    if needed is not None and len(value) < needed:
        raise SpecError(f"{key}: {len(value)} values but there can be {needed} ({unit}s)")
    if needed is not None and given and len(value) > needed:
        raise SpecError(f"{key}: {len(value)} values but there can be only {needed} ({unit}s), so the "
                        "extra ones would be ignored")


def parse_space(raw: Any) -> dict[str, Dimension]:
    if not isinstance(raw, dict):
        raise SpecError("space: must be a table of hyperparameters")
    given = {name: _parse_dimension(name, value) for name, value in raw.items()}
    space = {n: given.get(n, Dimension(n, fixed=p.default)) for n, p in PARAMETERS.items()}
    largest = {n: space[n].largest() for n in ("blocks", "dense_layers")}
    for name, dim in given.items():
        check_positions(f"space.{name}", name, dim.fixed, largest)
    optimizer = space["optimizer"]
    drawn = optimizer.choices if optimizer.choices is not None else (optimizer.fixed,)
    for name, dim in given.items():
        missing = [o for o in drawn if dim.by_optimizer and o not in dict(dim.by_optimizer)]
        if missing:
            raise SpecError(f"space.{name}: no value for optimizer {missing[0]}, which space.optimizer can draw")
    return space


def dimension_document(dim: Dimension) -> Any:
    if dim.by_optimizer:
        return {optimizer: dimension_document(sub) for optimizer, sub in dim.by_optimizer}
    each = {"each": True} if dim.each else {}
    if dim.choices is not None:
        return {"choices": list(dim.choices), **each}
    if dim.low is not None:
        searched = {"low": dim.low, "high": dim.high, "step": dim.step, "log": dim.log or None}
        return {**{key: value for key, value in searched.items() if value is not None}, **each}
    return plain_values({"fixed": dim.fixed})["fixed"]


def plain_values(values: dict[str, Any]) -> dict[str, Any]:
    return {name: list(value) if isinstance(value, tuple) else value for name, value in values.items()}
