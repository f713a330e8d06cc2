"""The study file format: a parsed TOML document in, a validated `StudySpec` out, or one clear error;
and the spec back as the document a study stores.

A study file says what data to train on, how long, how to search, which hyperparameters to
search (`[space]`, `dimension.py`) and which hand-tuned networks to try first (`[[baselines]]`,
`baselines.py`); `study_files.py` finds and reads the file. Every error a user can make is
reported as `SpecError("<file>: <key>: <reason>")`.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, Field, ValidationError, ValidationInfo, field_validator, model_validator

from hpsearch.compute.budget import NO_BUDGET, NO_TRIAL_TARGET, Budget, goal_text, parse_budget
from hpsearch.errors import SpecError
from hpsearch.space.baselines import Baseline, parse_baselines, resolve_baseline
from hpsearch.space.dimension import Dimension, dimension_document, parse_space, plain_values
from hpsearch.space.execution import BACKENDS, EXECUTION_DEFAULTS, PRECISIONS
from hpsearch.space.pruners import DEFAULT_PRUNER, HyperbandPruning, Pruner
from hpsearch.space.samplers import DEFAULT_SAMPLER, Sampler, TpeSampling
from hpsearch.space.strict import StrictModel


# numpy and scikit-learn take seeds 0 .. 2**32 - 1, and hpsearch adds to the study's seed: Keras
# gets `seed + trial.number` and each worker's sampler `seed + worker index`. Stopping the study's
# seed at 2**31 - 1 leaves 2**31 trials and workers of room (the CLI's random worker seeds stay
# below 2**31 too).
MAX_SEED = 2**31 - 1

class DataSpec(StrictModel):
    """Where the images come from and how the validation split is carved."""

    dataset: str = Field(description="cifar10, mnist, fashion_mnist, digits, or a path to an .npz")
    validation_fraction: float = Field(0.1, gt=0.0, lt=0.9)
    subset: int | None = Field(None, ge=20, description="use only this many training images")
    pad_to: int | None = Field(None, ge=1, le=1024, description="zero-pad images to this size")

    def split_settings(self) -> dict[str, Any]:
        """The keyword arguments of `data.load_splits` besides the source and seed."""
        return self.model_dump(exclude={"dataset"})


class TrainingSpec(StrictModel):
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


# Warm starts come from searches that already found something, so a study with them draws a
# quarter of its trials near its starting points unless `near_starts` says otherwise.
NEAR_SHARE_WITH_WARM_STARTS = 0.25


class SearchSpec(StrictModel):
    trials: int = Field(20, ge=1, description="finished (complete or pruned) trials to reach")
    budget: Budget | None = Field(
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
    sampler: Sampler = TpeSampling()
    pruner: Pruner = HyperbandPruning()
    proven_recipe: bool = Field(
        True, description="a study that searches the learning-rate schedule tries each baseline with a "
        "proven training recipe right after the baselines (hpsearch/space/starting_points.py)",
    )
    warm_start: tuple[str, ...] = Field(
        (), description="earlier studies in the same storage whose best trials this study starts from "
        "(after its baselines, hpsearch/search/warm_start.py); with them, near_starts defaults to a quarter",
    )
    near_starts: float | None = Field(
        None, ge=0.0, lt=1.0,
        description="the share of the sampler's trials drawn near the best finished starting points (baselines, "
        "their proven-recipe versions, warm starts) instead of by the sampler (hpsearch/search/near_starts.py); "
        f"unset: {NEAR_SHARE_WITH_WARM_STARTS} in a study with warm starts, 0 otherwise",
    )

    @property
    def near_share(self) -> float:
        """The share of drawn trials spread around the starting points (`near_starts`, or its default)."""
        if self.near_starts is not None:
            return self.near_starts
        return NEAR_SHARE_WITH_WARM_STARTS if self.warm_start else 0.0

    @model_validator(mode="before")
    @classmethod
    def _budget_alone_ends_the_study(cls, data: Any) -> Any:
        """A budget without a trial target runs until the budget is spent (a user who gives two
        hours expects two hours of search, not the default 20 trials)."""
        budget = data.get("budget") if isinstance(data, dict) else None
        if isinstance(budget, str) and budget.strip().lower() != NO_BUDGET and "trials" not in data:
            return {**data, "trials": NO_TRIAL_TARGET}
        return data

    @field_validator("sampler", "pruner", mode="before")
    @classmethod
    def _default_type(cls, value: Any, info: ValidationInfo) -> Any:
        """`[search.pruner]` without a `type` keeps the default one, with the settings given; a
        setting only another type takes names that type."""
        if not isinstance(value, dict) or "type" in value:
            return value
        kind = str(info.field_name)
        default = DEFAULT_SAMPLER if kind == "sampler" else DEFAULT_PRUNER
        for key in value:
            owners = [tag for tag, member in TAGGED[kind].items() if key in member.model_fields]
            if owners and default not in owners:
                raise ValueError(f"{key} is a setting of the {' or '.join(owners)} {kind}, not of the default "
                                 f"{default}: name it with type = \"{owners[0]}\"")
        return {"type": default, **value}

    @field_validator("warm_start", mode="before")
    @classmethod
    def _study_names(cls, value: Any) -> Any:
        """A list of study names, as a study file (TOML) and a stored study (JSON) give it."""
        if isinstance(value, str):
            raise ValueError(f'write warm_start as a list of study names, such as ["{value}"]')
        return tuple(value) if isinstance(value, list) else value

    @field_validator("budget", mode="before")
    @classmethod
    def _budget_readable(cls, value: Any) -> Budget | None:
        """Parsed where it comes in, from a file or a stored study (a Budget from the command line
        already is); `none` is no budget."""
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError(f'write a budget as text in quotes, such as "2h" or "300epochs" (got {value!r})')
        return value if isinstance(value, Budget) else parse_budget(value)  # a BudgetError is a ValueError

    def cost_cap_seconds(self) -> float | None:
        """The most a full trial may take under a time budget; None without one (an epoch budget
        prices every network's epoch alike)."""
        budget = self.budget
        if budget is None or budget.unit != "seconds" or self.max_trial_share == 0:
            return None
        return budget.amount * self.max_trial_share

    @property
    def has_target(self) -> bool:
        return self.trials != NO_TRIAL_TARGET

    def goal(self, per_trial: str = "") -> str:
        """What ends the search, in words: trials, budget, or both (see `budget.goal_text`)."""
        return goal_text(self.trials, self.budget, per_trial)

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


MAX_NAME_LENGTH = 100


# Every setting a run may give over its study file (`with_overrides`, from `hpsearch run` flags):
# the section of the spec it sets, and whether an existing study lets each run set it (PER_RUN).
OVERRIDES: dict[str, tuple[str, bool]] = {
    "trials": ("search", True), "budget": ("search", True), "seed": ("search", True),
    "warm_start": ("search", False),
    "epochs": ("training", True), "backend": ("training", True), "precision": ("training", True),
    "jit_compile": ("training", True), "steps_per_execution": ("training", True),
    "dataset": ("data", True), "subset": ("data", True),
}


class StudySpec(StrictModel):
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

    def with_overrides(self, **given: Any) -> StudySpec:
        """The spec with command-line flags applied (a flag beats the file), checked as the file is;
        `given` names settings of OVERRIDES (None: not given)."""
        unknown = set(given) - set(OVERRIDES)
        if unknown:
            raise TypeError(f"with_overrides() takes {', '.join(OVERRIDES)}, not {', '.join(sorted(unknown))}")
        flags: dict[str, dict[str, Any]] = {}
        for name, value in given.items():
            flags.setdefault(OVERRIDES[name][0], {})[name] = value
        sections: dict[str, BaseModel] = {}
        for section, values in flags.items():
            current = getattr(self, section)
            changed = {k: v for k, v in values.items() if v is not None}
            try:
                sections[section] = type(current).model_validate({**current.model_dump(), **changed})
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
        "space": {name: dimension_document(dim) for name, dim in spec.space.items()},
        "baselines": [{"name": b.name, "note": b.note, **plain_values(b.values)} for b in spec.baselines],
    }


# What a run or a worker may set for itself without changing what its study is: the target and
# budget move, and execution settings suit the machine; the data, epochs, subset and seed are
# checked apart (`study.keep_settings`). Warm starts choose how a new study begins.
PER_RUN = {section: tuple(name for name, (where, per_run) in OVERRIDES.items() if where == section and per_run)
           for section in ("training", "search", "data")}


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


def parse_spec(document: dict[str, Any], source: str) -> StudySpec:
    """Validate a parsed TOML document; errors name `source` and the offending key."""
    try:
        document = dict(document)
        space = parse_space(document.pop("space", {}))
        baselines = parse_baselines(document.pop("baselines", []), space)
        return StudySpec(**document, space=space, baselines=baselines, source=source)
    except SpecError as error:
        raise SpecError(f"{source}: {error}") from None
    except ValidationError as error:
        raise _spec_error(error, source) from None


# Each `type`-tagged table's types and their settings ("sampler": {"tpe": TpeSampling, ...}).
TAGGED: dict[str, dict[str, type[BaseModel]]] = {
    name: {member.model_fields["type"].default: member for member in get_args(get_args(union)[0])}
    for name, union in (("sampler", Sampler), ("pruner", Pruner))
}


def upgraded(document: dict[str, Any]) -> dict[str, Any]:
    """A spec document as a study stored it, in today's form. Studies created before each pruner
    and sampler took only its own settings stored all of them (`startup_trials` on a Hyperband
    pruner): the ones the stored type does not take, which it never used, are dropped."""
    search = dict(document.get("search", {}))
    for name, members in TAGGED.items():
        table = search.get(name)
        member = members.get(table.get("type")) if isinstance(table, dict) else None
        if member is not None:
            search[name] = {key: value for key, value in table.items() if key in member.model_fields}
    return {**document, "search": search} if "search" in document else document


def _spec_error(error: ValidationError, source: str, section: str = "") -> SpecError:
    """Pydantic's first complaint as `<source>: <key>: <reason>`, with the value it got."""
    first = error.errors()[0]
    loc, tag = list(first["loc"]), None
    for index in range(1, len(loc)):
        if loc[index - 1] in TAGGED and loc[index] in TAGGED[str(loc[index - 1])]:
            tag = loc.pop(index)
            break
    if first["type"] == "union_tag_invalid":
        loc.append("type")
    key = ".".join(str(part) for part in (section, *loc) if part != "") or "(top level)"
    if first["type"] == "extra_forbidden":
        reason = f"unknown key for the {tag} {loc[-2]}" if tag else "unknown key"
    elif first["type"] == "union_tag_invalid":
        reason = f"must be one of {first['ctx']['expected_tags']} (got {first['ctx']['tag']!r})"
    elif first["type"] == "missing":
        reason = "required but missing"
    elif first["type"] == "value_error":  # our validators' own sentences, which name the value
        reason = str(first["ctx"]["error"])
    else:
        reason = f"{first['msg']} (got {first['input']!r})"
    return SpecError(f"{source}: {key}: {reason}")
