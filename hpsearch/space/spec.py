"""The study file format: TOML in, a validated `StudySpec` out, or one clear error.

A study file says what data to train on, how long, how to search, which hyperparameters to
search (`[space]`) and which hand-tuned networks to try first (`[[baselines]]`). Every error a
user can make is reported as `SpecError("<file>: <key>: <reason>")`.
"""

from __future__ import annotations

import importlib.util
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hpsearch.compute.budget import NO_BUDGET, NO_TRIAL_TARGET, Budget, goal_text, parse_budget
from hpsearch.space.catalogue import AFTER_OPTIMIZER, PARAMETERS, Parameter, positions_of
from hpsearch.space.execution import BACKENDS, EXECUTION_DEFAULTS, PRECISIONS


class SpecError(ValueError):
    """A study file (or a study name) that cannot be used; the message is one sentence."""


# numpy and scikit-learn take seeds 0 .. 2**32 - 1, and hpsearch adds to the study's seed: Keras
# gets `seed + trial.number` and each worker's sampler `seed + worker index`. Stopping the study's
# seed at 2**31 - 1 leaves 2**31 trials and workers of room (the CLI's random worker seeds stay
# below 2**31 too).
MAX_SEED = 2**31 - 1

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


class _Strict(BaseModel):
    """A settings table that refuses unknown keys and wrong types (`trials = "12"`, `= true`,
    `= 12.0`) instead of converting them; a whole number may still stand for a float."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DataSpec(_Strict):
    """Where the images come from and how the validation split is carved."""

    dataset: str = Field(description="cifar10, mnist, fashion_mnist, digits, or a path to an .npz")
    validation_fraction: float = Field(0.1, gt=0.0, lt=0.9)
    subset: int | None = Field(None, ge=20, description="use only this many training images")
    pad_to: int | None = Field(None, ge=1, le=1024, description="zero-pad images to this size")

    def split_settings(self) -> dict[str, Any]:
        """The keyword arguments of `data.load_splits` besides the source and seed."""
        return self.model_dump(exclude={"dataset"})


class TrainingSpec(_Strict):
    """How every trial trains: epochs, and execution settings that change speed, not the network."""

    epochs: int = Field(10, ge=1, le=10_000)
    backend: Literal[BACKENDS] | None = Field(  # type: ignore[valid-type]  # the tuple's values
        None, description="the Keras backend; unset: $KERAS_BACKEND, else tensorflow (a --backend flag beats both)"
    )
    precision: Literal[PRECISIONS] = Field(  # type: ignore[valid-type]  # the tuple's values
        EXECUTION_DEFAULTS["precision"], description="mixed precision halves memory traffic on GPUs with tensor cores"
    )
    jit_compile: bool | None = Field(
        EXECUTION_DEFAULTS["jit_compile"],
        description="compile training steps (XLA on TensorFlow, jax.jit on JAX, torch.compile on PyTorch); "
        "unset: Keras's choice per backend",
    )
    steps_per_execution: int = Field(
        EXECUTION_DEFAULTS["steps_per_execution"], ge=1, le=10_000, description="batches per compiled call"
    )

    def trial_settings(self) -> dict[str, Any]:
        """What a trial's `Training` takes from here (`setup_from_values`): all but the backend,
        which is the process's, set before Keras loads."""
        return self.model_dump(exclude={"backend"})


class SamplerSpec(_Strict):
    type: Literal["tpe", "gp", "random"] = "tpe"
    startup_trials: int = Field(10, ge=0, description="random trials before TPE or the GP takes over")

    @field_validator("type")
    @classmethod
    def _gp_needs_torch(cls, kind: str) -> str:
        if kind == "gp" and importlib.util.find_spec("torch") is None:
            raise ValueError("the gp sampler needs PyTorch, an optional extra: pip install 'hpsearch[gp]'")
        return kind


class PrunerSpec(_Strict):
    type: Literal["hyperband", "median", "successive_halving", "none"] = "hyperband"
    min_resource: int = Field(1, ge=1, description="epochs a trial trains before it can be pruned")
    reduction_factor: int = Field(3, ge=2)
    startup_trials: int = Field(5, ge=0, description="median pruner: trials before pruning starts")
    warmup_epochs: int = Field(1, ge=0, description="median pruner: epochs a trial trains before it can be pruned")


class SearchSpec(_Strict):
    trials: int = Field(20, ge=1, description="finished (complete or pruned) trials to reach")
    budget: str | None = Field(
        None, description="wall time (2h, 1.5h, 90m, 1h30m, 45s) or training epochs (300epochs) the study may spend"
    )
    max_trial_share: float = Field(
        1.0, ge=0.0, le=1.0,
        description="under a time budget, the largest share of it one full trial may take: a drawn network "
        "whose epochs would take longer is pruned after its first timed epoch (cost_cap_seconds; the "
        "starting points train in full); 1, the default, cuts only a network that could never finish "
        "inside the budget (BENCHMARKS.md 3c); 0 for no cap",
    )
    metric: Literal["val_accuracy", "val_loss"] = "val_accuracy"
    direction: Literal["maximize", "minimize"] = "maximize"
    seed: int = Field(0, description=f"0 .. {MAX_SEED}: the sampler, the split and the weights")
    sampler: SamplerSpec = SamplerSpec()
    pruner: PrunerSpec = PrunerSpec()
    proven_recipe: bool = Field(
        True, description="a study that searches the learning-rate schedule tries each baseline with a "
        "proven training recipe right after the baselines (hpsearch/space/starting_points.py)",
    )
    warm_start: tuple[str, ...] = Field(
        (), description="earlier studies in the same storage whose best trials this study starts from "
        "(after its baselines), drawing a share of its trials near them (hpsearch/search/warm_start.py)",
    )

    @model_validator(mode="before")
    @classmethod
    def _budget_alone_ends_the_study(cls, data: Any) -> Any:
        """A budget without a trial target runs until the budget is spent (a user who gives two
        hours expects two hours of search, not the default 20 trials)."""
        budget = data.get("budget") if isinstance(data, dict) else None
        if isinstance(budget, str) and budget.strip().lower() != NO_BUDGET and "trials" not in data:
            return {**data, "trials": NO_TRIAL_TARGET}
        return data

    @field_validator("warm_start", mode="before")
    @classmethod
    def _study_names(cls, value: Any) -> Any:
        """A list of study names, as a study file (TOML) and a stored study (JSON) give it."""
        if isinstance(value, str):
            raise ValueError(f'write warm_start as a list of study names, such as ["{value}"]')
        return tuple(value) if isinstance(value, list) else value

    @field_validator("budget", mode="before")
    @classmethod
    def _budget_readable(cls, value: Any) -> str | None:
        """Kept in its canonical spelling (`90m` becomes `1h30m`); `none` is no budget."""
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError(f'write a budget as text in quotes, such as "2h" or "300epochs" (got {value!r})')
        budget = parse_budget(value)  # its BudgetError is a ValueError: one sentence
        return None if budget is None else budget.text

    def compute_budget(self) -> Budget | None:
        return parse_budget(self.budget) if self.budget else None

    def cost_cap_seconds(self) -> float | None:
        """The most a full trial may take under a time budget; None without one (an epoch budget
        prices every network's epoch alike)."""
        budget = self.compute_budget()
        if budget is None or budget.unit != "seconds" or self.max_trial_share == 0:
            return None
        return budget.amount * self.max_trial_share

    @property
    def has_target(self) -> bool:
        return self.trials != NO_TRIAL_TARGET

    def goal(self, per_trial: str = "") -> str:
        """What ends the search, in words: trials, budget, or both (see `budget.goal_text`)."""
        return goal_text(self.trials, self.compute_budget(), per_trial)

    @field_validator("seed")
    @classmethod
    def _seed_in_range(cls, seed: int) -> int:
        if not 0 <= seed <= MAX_SEED:
            raise ValueError(
                f"must be from 0 to {MAX_SEED}, which leaves room for the trial and worker numbers "
                f"added to it (got {seed})"
            )
        return seed

    @model_validator(mode="after")
    def _direction_fits_metric(self) -> SearchSpec:
        expected = "maximize" if self.metric == "val_accuracy" else "minimize"
        if self.direction != expected:
            raise ValueError(f"{self.metric} should be {expected}d, not {self.direction}d")
        return self

    @model_validator(mode="after")
    def _something_ends_it(self) -> SearchSpec:
        if not self.has_target and self.budget is None:
            raise ValueError("a study with no budget needs a trial target (trials, or --trials)")
        return self


class Baseline(_Strict):
    """A hand-tuned network tried first: its name and every value it sets."""

    name: str
    note: str = ""
    values: dict[str, Any]


MAX_NAME_LENGTH = 100


class StudySpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str
    data: DataSpec
    training: TrainingSpec = TrainingSpec()
    search: SearchSpec = SearchSpec()
    space: dict[str, Dimension]
    baselines: tuple[Baseline, ...] = ()
    source: str = Field("", description="the file this spec was read from")

    @field_validator("name")
    @classmethod
    def _name_is_no_file(cls, name: str) -> str:
        """`summary`, `report` and the others read a reference ending in .toml as a study file's
        path, so a study named so could be run but never found again by its name."""
        if name.lower().endswith(".toml"):
            raise ValueError(f"a study name cannot end in .toml, which commands read as a file path "
                             f"(got {name!r}; name it {name[:-5]!r})")
        if len(name) > MAX_NAME_LENGTH:  # it names the study's checkpoint folder, which a file system caps
            raise ValueError(f"a study name has at most {MAX_NAME_LENGTH} characters (got {len(name)})")
        return name

    def repeats_itself(self) -> str | None:
        """Why the study would train the same networks over and over, else None. With nothing
        searched there are only the baselines and the one network the space fixes; trials past
        them differ only in their initial weights, which nobody runs a search for (a user who
        leaves `[space]` empty expects the defaults searched, not 20 copies of one network)."""
        if any(dim.searched for dim in self.space.values()):
            return None
        networks = len(self.baselines) + 1
        if self.search.trials <= networks:
            return None
        repeats = (f"trials past the first {networks} (the baselines and the network the space fixes) would "
                   "repeat networks already trained" if self.baselines else
                   "every trial would train the same network again")
        return (f"space: nothing is searched, so {repeats}; search a hyperparameter (choices = [...] or "
                f"low/high), or ask for {networks} trial{'s' if networks > 1 else ''} (trials = {networks}, "
                f"or --trials {networks})")

    def with_overrides(
        self,
        *,
        trials: int | None = None,
        budget: str | None = None,
        epochs: int | None = None,
        dataset: str | None = None,
        subset: int | None = None,
        seed: int | None = None,
        backend: str | None = None,
        precision: str | None = None,
        jit_compile: bool | None = None,
        steps_per_execution: int | None = None,
        warm_start: tuple[str, ...] | None = None,
    ) -> StudySpec:
        """The spec with command-line flags applied (a flag beats the file), checked as the file is."""
        flags = {
            "search": {"trials": trials, "budget": budget, "seed": seed, "warm_start": warm_start},
            "training": {
                "epochs": epochs, "backend": backend, "precision": precision, "jit_compile": jit_compile,
                "steps_per_execution": steps_per_execution,
            },
            "data": {"dataset": dataset, "subset": subset},
        }
        sections: dict[str, BaseModel] = {}
        for section, values in flags.items():
            current = getattr(self, section)
            given = {k: v for k, v in values.items() if v is not None}
            try:
                sections[section] = type(current).model_validate({**current.model_dump(), **given})
            except ValidationError as error:
                raise _spec_error(error, "command line", section) from None
        settled = self.model_copy(update=sections)
        problem = settled.repeats_itself()  # checked here, on what will run: --trials 1 makes it fine
        if problem:
            raise SpecError(f"{self.source or self.name}: {problem}")
        return settled

    def baseline_values(self, baseline: Baseline) -> dict[str, Any]:
        return resolve_baseline(self.space, baseline.values)


def spec_document(spec: StudySpec) -> dict[str, Any]:
    """The spec as a study file's document (what `parse_spec` reads back to an equal spec): a study
    stores it when created, so workers and `resume` train what the study says, not what a file or
    flags on their machine say."""
    return {
        "name": spec.name,
        "description": spec.description,
        "data": spec.data.model_dump(exclude_none=True),
        "training": spec.training.model_dump(),
        "search": spec.search.model_dump(exclude_none=True),
        "space": {name: _dimension_document(dim) for name, dim in spec.space.items()},
        "baselines": [{"name": b.name, "note": b.note, **_plain(b.values)} for b in spec.baselines],
    }


# What a run or a worker may set for itself without changing what its study is: the target and
# budget move, and execution settings suit the machine; the data, epochs, subset and seed are
# checked apart (`study.keep_settings`).
PER_RUN = {"training": ("backend", "precision", "jit_compile", "steps_per_execution", "epochs"),
           "search": ("trials", "budget", "seed"), "data": ("dataset", "subset")}


def differences(given: StudySpec, stored: StudySpec) -> list[str]:
    """The study-file keys where `given` differs from the `stored` spec of the same study."""
    one, other = spec_document(given), spec_document(stored)
    changed = [
        f"{section}.{key}"
        for section in ("data", "training", "search", "space")
        for key in sorted(set(one[section]) | set(other[section]))
        if key not in PER_RUN.get(section, ()) and one[section].get(key) != other[section].get(key)
    ]
    return changed + (["baselines"] if one["baselines"] != other["baselines"] else [])


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {name: list(value) if isinstance(value, tuple) else value for name, value in values.items()}


def _dimension_document(dim: Dimension) -> Any:
    if dim.by_optimizer:
        return {optimizer: _dimension_document(sub) for optimizer, sub in dim.by_optimizer}
    each = {"each": True} if dim.each else {}
    if dim.choices is not None:
        return {"choices": list(dim.choices), **each}
    if dim.low is not None:
        searched = {"low": dim.low, "high": dim.high, "step": dim.step, "log": dim.log or None}
        return {**{key: value for key, value in searched.items() if value is not None}, **each}
    return _plain({"fixed": dim.fixed})["fixed"]


def resolve_baseline(space: dict[str, Dimension], values: dict[str, Any]) -> dict[str, Any]:
    """Every hyperparameter of a baseline: its own values, else the space's, else defaults."""
    resolved: dict[str, Any] = {}
    for name, dim in space.items():  # catalogue order: the optimizer before its settings
        dim = dim.under(resolved.get("optimizer", ""))
        resolved[name] = values.get(name, PARAMETERS[name].default if dim.searched else dim.fixed)
    return resolved


# --- parsing helpers ---------------------------------------------------------------------------


def _parse_dimension(name: str, raw: Any) -> Dimension:
    key = f"space.{name}"
    if name not in PARAMETERS:
        raise SpecError(f"{key}: unknown hyperparameter (known: {', '.join(PARAMETERS)})")
    param = PARAMETERS[name]
    if not isinstance(raw, dict):
        return Dimension(name, fixed=_check_fixed(key, param, raw))
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


def _check_fixed(key: str, param: Parameter, raw: Any) -> Any:
    """A fixed value: a scalar, or (for block/dense parameters) a list of per-position values."""
    if isinstance(raw, list):
        if param.scope == "network":
            raise SpecError(f"{key}: {param.name} takes one value, not a list")
        if not raw:
            raise SpecError(f"{key}: the list of per-position values is empty")
        return tuple(_check_value(f"{key}[{i}]", param, v) for i, v in enumerate(raw))
    return _check_value(key, param, raw)


def _check_positions(key: str, name: str, value: Any, counts: dict[str, Any], given: bool = True) -> None:
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


def _parse_space(raw: Any) -> dict[str, Dimension]:
    if not isinstance(raw, dict):
        raise SpecError("space: must be a table of hyperparameters")
    given = {name: _parse_dimension(name, value) for name, value in raw.items()}
    space = {n: given.get(n, Dimension(n, fixed=p.default)) for n, p in PARAMETERS.items()}
    largest = {n: space[n].largest() for n in ("blocks", "dense_layers")}
    for name, dim in given.items():
        _check_positions(f"space.{name}", name, dim.fixed, largest)
    optimizer = space["optimizer"]
    drawn = optimizer.choices if optimizer.choices is not None else (optimizer.fixed,)
    for name, dim in given.items():
        missing = [o for o in drawn if dim.by_optimizer and o not in dict(dim.by_optimizer)]
        if missing:
            raise SpecError(f"space.{name}: no value for optimizer {missing[0]}, which space.optimizer can draw")
    return space


def _parse_baselines(raw: Any, space: dict[str, Dimension]) -> tuple[Baseline, ...]:
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
            values[name] = _check_fixed(key, PARAMETERS[name], value)
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
        _check_positions(key, name, resolved[name], resolved, given=name in baseline.values)
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


def parse_spec(document: dict[str, Any], source: str) -> StudySpec:
    """Validate a parsed TOML document; errors name `source` and the offending key."""
    try:
        document = dict(document)
        space = _parse_space(document.pop("space", {}))
        baselines = _parse_baselines(document.pop("baselines", []), space)
        return StudySpec(**document, space=space, baselines=baselines, source=source)
    except SpecError as error:
        raise SpecError(f"{source}: {error}") from None
    except ValidationError as error:
        raise _spec_error(error, source) from None


def _spec_error(error: ValidationError, source: str, section: str = "") -> SpecError:
    """Pydantic's first complaint as `<source>: <key>: <reason>`, with the value it got."""
    first = error.errors()[0]
    key = ".".join(str(part) for part in (section, *first["loc"]) if part != "") or "(top level)"
    if first["type"] == "extra_forbidden":
        reason = "unknown key"
    elif first["type"] == "missing":
        reason = "required but missing"
    elif first["type"] == "value_error":  # our validators' own sentences, which name the value
        reason = str(first["ctx"]["error"])
    else:
        reason = f"{first['msg']} (got {first['input']!r})"
    return SpecError(f"{source}: {key}: {reason}")


def load_spec_file(path: Path) -> StudySpec:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SpecError(f"{path}: cannot be read ({error.strerror})") from None
    except UnicodeDecodeError as error:
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise SpecError(f"{path}: not UTF-8 text (byte 0x{error.object[error.start]:02x} at position "
                        f"{error.start}, line {line}); save it as UTF-8") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{path}: not valid TOML ({error})") from None
    return parse_spec(document, str(path))


SHIPPED_STUDIES = Path(__file__).resolve().parents[1] / "studies"  # package data: in every install


def studies_dirs() -> list[Path]:
    """Where study names are looked up: $HPSEARCH_STUDIES, ./studies, then the shipped ones."""
    dirs = [Path(p) for p in os.environ.get("HPSEARCH_STUDIES", "").split(os.pathsep) if p]
    dirs.append(Path.cwd() / "studies")
    dirs.append(SHIPPED_STUDIES)
    unique: list[Path] = []
    for directory in dirs:
        if directory.is_dir() and directory.resolve() not in [d.resolve() for d in unique]:
            unique.append(directory)
    return unique


def study_files() -> dict[str, Path]:
    """Every study file that a name can refer to, first directory winning."""
    found: dict[str, Path] = {}
    for directory in studies_dirs():
        for path in sorted(directory.glob("*.toml")):
            found.setdefault(path.stem, path)
    return found


def load_spec(reference: str) -> StudySpec:
    """Load a study by file path (`path/to/x.toml`) or by name (`cifar-dropout`)."""
    path = Path(reference)
    try:
        is_file = path.is_file()
    except OSError:  # a name too long to be a path ("File name too long"): a study name, then
        is_file = False
    if reference.endswith(".toml") or is_file:
        if not is_file:
            raise SpecError(f"{reference}: no such study file")
        return load_spec_file(path)
    files = study_files()
    if reference not in files:
        known = ", ".join(sorted(files)) or "none"
        raise SpecError(f"no study named {reference!r} (known: {known}; or give a .toml path)")
    return load_spec_file(files[reference])
