"""The settings of a run, each declared once with its type and default: `StudyOptions` (what
`run`, `resume` and `join` all take), `RunOptions` (a run's: the budget and where its workers
run) and `JoinOptions` (one more worker's). The API's keyword arguments, the CLI's options of
each command and what every worker is told (`WorkerTask`) are derived from these fields.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from hpsearch.launch.arguments import BudgetValue, PathText

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class StudyOptions:
    """What every command that trains takes: where the study is, and the settings it may give
    over the study's (the target, data, epochs, seed, and how Keras trains)."""

    trials: int | None = None
    epochs: int | None = None
    storage: PathText | None = None
    data: PathText | None = None
    subset: int | None = None
    seed: int | None = None
    backend: str | None = None
    precision: str | None = None
    xla: bool | None = None  # None: Keras's choice per backend
    steps_per_execution: int | None = None
    checkpoints: PathText | None = None
    force: bool = False

    def spec_overrides(self) -> dict[str, Any]:
        """The settings of the spec these options give (`StudySpec.with_overrides`), by its names."""
        return {"trials": self.trials, "epochs": self.epochs, "dataset": self.data, "subset": self.subset,
                "seed": self.seed, "backend": self.backend, "precision": self.precision, "jit_compile": self.xla,
                "steps_per_execution": self.steps_per_execution}

    def given(self) -> dict[str, Any]:
        """The options set to other than their default, as keyword arguments."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)
                if getattr(self, field.name) != field.default}


@dataclass(frozen=True)
class RunOptions(StudyOptions):
    """`run` and `resume`: the compute budget, where the workers run, and warm starts."""

    budget: BudgetValue | None = None
    engine: str | None = None
    workers: int | None = None
    gpus: str | None = None
    workers_per_gpu: int = 1
    ray: str | None = None
    sbatch: str | None = None
    warm_start: str | tuple[str, ...] | None = None
    resume: bool = False

    def spec_overrides(self) -> dict[str, Any]:
        warm_start = self.warm_start
        if isinstance(warm_start, str):  # "a,b", as the CLI's --warm-start gives it
            warm_start = tuple(name.strip() for name in warm_start.split(",") if name.strip())
        return {**super().spec_overrides(), "budget": self.budget, "warm_start": warm_start}


@dataclass(frozen=True)
class JoinOptions(StudyOptions):
    """`join` (`hpsearch worker`): one more worker, with its own sampler seed."""

    sampler_seed: int | None = None

    def flags(self) -> list[str]:
        """The same as `hpsearch worker` flags, for a worker process. The storage never goes on a
        command line (it may hold a password): workers get it from the environment."""
        flags = []
        for name, value in self.given().items():
            if name == "storage":
                continue
            option = "--" + name.replace("_", "-")
            flags += [option] if value is True else [f"--no-{option[2:]}"] if value is False else [option, str(value)]
        return flags


def keyword_options(options: type[StudyOptions]) -> Callable[[F], F]:
    """Give a function `(study, *, console=None, **options)` the options' fields as its keyword
    arguments, as `help()` and `arguments.checked_arguments` read a signature."""

    def declare(function: F) -> F:
        signature = inspect.signature(function)
        study, console = signature.parameters["study"], signature.parameters["console"]
        keywords = [inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, default=field.default,
                                      annotation=field.type) for field in dataclasses.fields(options)]
        function.__signature__ = signature.replace(parameters=[study, *keywords, console])  # type: ignore[attr-defined]
        return function

    return declare
