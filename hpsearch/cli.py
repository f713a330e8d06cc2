"""The `hpsearch` command line: parse, call, print. Logic lives in the modules it calls.

TensorFlow is imported only inside `run`, after the study and storage are checked, so every other
command (and `--help`) starts in well under a second.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, Optional

import typer
from rich.console import Console
from rich.table import Table

from hpsearch.parameters import PARAMETERS
from hpsearch.spec import SpecError, StudySpec, load_spec, study_files

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

app = typer.Typer(
    help="Hyperparameter search for Keras CNNs: run, continue and inspect studies.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)

USAGE_ERROR = 2  # bad study file, bad data file, bad flag
RUN_ERROR = 1  # storage unreachable, target not reached

StudyArg = Annotated[str, typer.Argument(help="Study name (from studies/) or path to a .toml file.")]
StorageOpt = Annotated[
    Optional[str],
    typer.Option(help="Optuna storage URL; default $HPSEARCH_STORAGE, else sqlite:///hpsearch.db."),
]


def _fail(message: str, code: int) -> NoReturn:
    from hpsearch.storage import mask

    errors.print(f"[bold red]error:[/] {mask(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _short(path: Path) -> str:
    """A path relative to the working directory when it is below it, else as it is."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _open_storage(url: str) -> BaseStorage:
    from hpsearch.storage import StorageError, open_storage, quiet_optuna

    quiet_optuna()
    try:
        return open_storage(url)
    except StorageError as error:
        _fail(str(error), RUN_ERROR)


def _load(reference: str) -> StudySpec:
    try:
        return load_spec(reference)
    except SpecError as error:
        _fail(str(error), USAGE_ERROR)


@app.command()
def run(
    study: StudyArg,
    trials: Annotated[Optional[int], typer.Option(min=1, help="Finished trials to reach.")] = None,
    epochs: Annotated[Optional[int], typer.Option(min=1, help="Epochs per trial.")] = None,
    storage: StorageOpt = None,
    data: Annotated[
        Optional[str], typer.Option(help="Dataset name or local .npz (x_train, y_train, x_test, y_test).")
    ] = None,
    subset: Annotated[Optional[int], typer.Option(min=20, help="Train on only N training images.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed for the sampler, splits and weights.")] = None,
) -> None:
    """Create or continue a study and run trials until it has its target of finished trials.

    Example: hpsearch run cifar-dropout --data ../shared/data/cifar10-subset.npz --trials 4 --epochs 2
    """
    from hpsearch.data import DataError
    from hpsearch.storage import mask, storage_url

    spec = _load(study).with_overrides(trials=trials, epochs=epochs, dataset=data, subset=subset, seed=seed)
    url = storage_url(storage)
    optuna_storage = _open_storage(url)
    console.print(
        f"Study [bold]{spec.name}[/]: {spec.search.trials} trials of {spec.training.epochs} epochs "
        f"on {spec.data.dataset}, storage {mask(url)}",
        highlight=False,
    )
    from hpsearch.workers import load_splits  # loads TensorFlow

    try:
        splits = load_splits(spec)
    except DataError as error:
        _fail(str(error), USAGE_ERROR)
    console.print(
        f"Data: {len(splits.x_train)} training, {len(splits.x_val)} validation, "
        f"{len(splits.x_test)} test images of shape {splits.input_shape}, {splits.num_classes} classes",
        highlight=False,
    )
    from hpsearch.progress import LiveProgress

    try:
        with LiveProgress(console, spec) as live:
            from hpsearch.workers import run_worker

            finished = run_worker(spec, optuna_storage, splits, on_trial=live.on_trial)
    except KeyboardInterrupt:
        _fail("interrupted; finished trials are kept, `hpsearch run` again continues the study", 130)
    from hpsearch.study import study_progress

    progress = study_progress(finished)
    live.print_outcome(progress)
    if not progress.done:
        raise typer.Exit(RUN_ERROR)


@app.command("list")
def list_studies(storage: StorageOpt = None) -> None:
    """List the study files and the studies in the storage, with their progress.

    Example: hpsearch list --storage postgresql://hpsearch@db.example/hpsearch
    """
    files = Table(title="Study files", title_justify="left")
    for column in ("name", "dataset", "trials", "epochs", "file"):
        files.add_column(column)
    for name, path in study_files().items():
        try:
            spec = load_spec(str(path))
        except SpecError as error:
            files.add_row(name, "[red]invalid[/]", "", "", str(error))
            continue
        files.add_row(
            name, spec.data.dataset, str(spec.search.trials), str(spec.training.epochs), _short(path)
        )
    console.print(files)
    from hpsearch.storage import mask, sqlite_path, storage_url
    from hpsearch.study import stored_studies

    url = storage_url(storage)
    path = sqlite_path(url)
    if path is not None and not path.exists():
        console.print(f"No studies stored yet ({path} does not exist).", highlight=False)
        return
    stored = stored_studies(_open_storage(url))
    table = Table(title=f"Studies in {mask(url)}", title_justify="left")
    for column in ("name", "finished", "best", "states", "description"):
        table.add_column(column)
    for entry in stored:
        best = entry.progress.best_value
        table.add_row(
            entry.name,
            f"{entry.progress.finished}/{entry.progress.target}",
            "" if best is None else f"{best:.4f}",
            entry.progress.states_text(),
            entry.description,
        )
    console.print(table)


@app.command()
def show(study: StudyArg) -> None:
    """Print a study's settings, its search space and its baselines.

    Example: hpsearch show cifar-dropout
    """
    spec = _load(study)
    search, pruner = spec.search, spec.search.pruner
    console.print(f"[bold]{spec.name}[/] ({spec.source})\n{spec.description}", highlight=False)
    console.print(
        f"data: {spec.data.dataset}, validation {spec.data.validation_fraction:g}"
        + (f", subset {spec.data.subset}" if spec.data.subset else "")
        + (f", padded to {spec.data.pad_to}" if spec.data.pad_to else "")
        + f"\ntraining: {spec.training.epochs} epochs"
        + f"\nsearch: {search.trials} trials, {search.direction} {search.metric}, "
        f"{search.sampler.type} sampler (seed {search.seed}), {pruner.type} pruner",
        highlight=False,
    )
    space = Table(title="Search space", title_justify="left")
    for column in ("hyperparameter", "applies to", "value", "meaning"):
        space.add_column(column)
    for name, dim in spec.space.items():
        param = PARAMETERS[name]
        value = f"[bold cyan]{dim.describe()}[/]" if dim.searched else dim.describe()
        space.add_row(name, param.scope, value, param.help)
    console.print(space)
    if not spec.baselines:
        console.print("No baselines.")
        return
    baselines = Table(title="Baselines (run first)", title_justify="left")
    baselines.add_column("name")
    baselines.add_column("values")
    for baseline in spec.baselines:
        values = ", ".join(
            f"{k}={list(v) if isinstance(v, tuple) else v}" for k, v in baseline.values.items()
        )
        baselines.add_row(baseline.name, values + (f"\n[dim]{baseline.note}[/]" if baseline.note else ""))
    console.print(baselines)


def main() -> None:
    app()
