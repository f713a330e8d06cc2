"""The options of the commands, each declared once; `with_options` gives the commands that train
the ones they take."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from enum import Enum
from typing import Annotated, Any, Optional

import typer

from hpsearch.launch.engines import ENGINES
from hpsearch.launch.run_options import StudyOptions
from hpsearch.space.execution import BACKENDS, PRECISIONS


def _storage_given(value: str | None) -> str | None:
    """Refuse `--storage ''` as the flag is read, rather than let it mean the default."""
    from hpsearch.store.urls import storage_url

    try:
        storage_url(value)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    return value


def _ray_address(value: str | None) -> str | None:
    """Refuse a --ray value that is no Ray address in one sentence, before anything starts."""
    from hpsearch.launch.engines.ray_connection import address_problem

    problem = None if value is None else address_problem(value)
    if problem:
        raise typer.BadParameter(problem)
    return value


StudyArg = Annotated[str, typer.Argument(help="Study name ($HPSEARCH_STUDIES, ./studies, then the shipped ones) or path to a .toml file.")]
StorageOpt = Annotated[
    Optional[str],
    typer.Option(help="Optuna storage URL; default $HPSEARCH_STORAGE, else sqlite:///hpsearch.db.",
                 callback=_storage_given),
]
TrialsOpt = Annotated[Optional[int], typer.Option(min=1, help="Finished trials to reach.")]
BudgetOpt = Annotated[
    Optional[str],
    typer.Option(help="Compute the study may spend: wall time (2h, 1.5h, 90m, 1h30m, 45s) or training epochs "
                 "(300epochs), counted over the whole study; `none` removes one. On `run` without "
                 "--trials the budget alone ends the study; with it, whichever comes first."),
]
EpochsOpt = Annotated[Optional[int], typer.Option(min=1, help="Epochs per trial.")]
DataOpt = Annotated[
    Optional[str], typer.Option(help="Dataset name or local .npz (x_train, y_train, x_test, y_test).")
]
SubsetOpt = Annotated[Optional[int], typer.Option(min=20, help="Train on only N training images.")]
SeedOpt = Annotated[Optional[int], typer.Option(help="Seed for the sampler, the split and the weights.")]
WorkersOpt = Annotated[
    Optional[int],
    typer.Option(min=1, help="Worker processes; default one per GPU (times --workers-per-gpu), else 1."),
]
GpusOpt = Annotated[Optional[str], typer.Option(help="GPUs to use, e.g. 0,1,3; default all found.")]
PerGpuOpt = Annotated[int, typer.Option(min=1, help="Workers sharing each GPU (small models).")]
RayOpt = Annotated[
    Optional[str],
    typer.Option(help="Run the workers as actors on a Ray cluster: auto, host:port or ray://host:10001; "
                 "--ray alone starts Ray here for this run. Needs pip install 'hpsearch\\[ray]'.",
                 callback=_ray_address),
]
EngineName = Enum("EngineName", {name: name for name in ENGINES}, type=str)  # type: ignore[misc]
EngineOpt = Annotated[
    Optional[EngineName],
    typer.Option(help="Where the workers run: local (one here, or --workers processes on this machine's CPUs "
                 "and GPUs), ray (actors on a Ray cluster) or slurm (a job array of --workers tasks); default "
                 "ray with --ray, else local."),
]
SbatchOpt = Annotated[
    Optional[str],
    typer.Option(help="More sbatch options for --engine slurm's job array, e.g. \"--partition=gpu --time=8:00:00 "
                 "--gpus-per-task=1\" (SBATCH_* variables work too)."),
]
Backend = Enum("Backend", {name: name for name in BACKENDS}, type=str)  # type: ignore[misc]
Precision = Enum("Precision", {name: name for name in PRECISIONS}, type=str)  # type: ignore[misc]

BackendOpt = Annotated[
    Optional[Backend],
    typer.Option(help="Keras backend to train on; default $KERAS_BACKEND, else the study's, else tensorflow. "
                 "jax and torch are extras: pip install 'hpsearch\\[jax]'."),
]
PrecisionOpt = Annotated[Optional[Precision], typer.Option(help="Training precision (mixed: GPUs).")]
XlaOpt = Annotated[
    Optional[bool],
    typer.Option("--xla/--no-xla", help="Compile training steps (XLA on TensorFlow, jax.jit on JAX, torch.compile "
                 "on PyTorch); default: Keras's choice (JAX compiles, TensorFlow on GPUs only, PyTorch eagerly)."),
]
StepsOpt = Annotated[
    Optional[int], typer.Option(min=1, help="Batches per compiled call (fewer Python round trips).")
]
CheckpointsOpt = Annotated[
    Optional[str],
    typer.Option(help="Directory for trial checkpoints (a retried trial resumes from its last epoch); "
                 "default $HPSEARCH_CHECKPOINTS, else beside the SQLite file. Share it between machines."),
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Train even when the data check finds severe problems.")]
WarmStartOpt = Annotated[
    Optional[str],
    typer.Option(help="Start a new study from the best trials of earlier studies in the same storage "
                 "(STUDY[,STUDY...]): they train after its baselines, and a share of its trials is drawn near them."),
]


SamplerSeedOpt = Annotated[
    Optional[int], typer.Option(help="Seed of this worker's sampler; default random, so workers differ.")
]
# Every option of the commands that train, declared once: name -> (type and help, default).
TRAINING_OPTIONS: dict[str, tuple[Any, Any]] = {
    "storage": (StorageOpt, None), "trials": (TrialsOpt, None), "budget": (BudgetOpt, None),
    "epochs": (EpochsOpt, None), "data": (DataOpt, None), "subset": (SubsetOpt, None), "seed": (SeedOpt, None),
    "sampler_seed": (SamplerSeedOpt, None), "engine": (EngineOpt, None), "workers": (WorkersOpt, None), "gpus": (GpusOpt, None),
    "workers_per_gpu": (PerGpuOpt, 1), "ray": (RayOpt, None), "sbatch": (SbatchOpt, None), "backend": (BackendOpt, None),
    "precision": (PrecisionOpt, None),
    "xla": (XlaOpt, None), "steps_per_execution": (StepsOpt, None), "checkpoints": (CheckpointsOpt, None),
    "force": (ForceOpt, False), "warm_start": (WarmStartOpt, None),
}


def option_names(options: type[StudyOptions], *set_by_the_command: str) -> list[str]:
    """The options of a command that calls the API with `options` (`launch/run_options.py`), in
    their order there, less those the command sets itself."""
    return [field.name for field in dataclasses.fields(options) if field.name not in set_by_the_command]


def with_options(*names: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command `(study, **options)` the named TRAINING_OPTIONS, in that order, as Typer
    reads them from its signature; the option values reach it as plain values."""

    def declare(command: Callable[..., None]) -> Callable[..., None]:
        def call(study: str, **options: Any) -> None:
            command(study, **{name: value.value if isinstance(value, Enum) else value
                              for name, value in options.items()})

        parameters = [inspect.Parameter("study", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=StudyArg)]
        parameters += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=TRAINING_OPTIONS[name][0],
                                         default=TRAINING_OPTIONS[name][1]) for name in names]
        call.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        call.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
        call.__name__, call.__doc__ = command.__name__, command.__doc__
        return call

    return declare
