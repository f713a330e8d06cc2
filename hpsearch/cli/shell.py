"""The Typer app and what every command shares: the consoles, one-sentence failures, reading
a study file or a stored study."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from hpsearch.errors import RUN_ERROR, USAGE_ERROR, LaunchError
from hpsearch.search.reconcile import open_checked, study_name, unknown_study

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

    from hpsearch.space.spec import StudySpec
    from hpsearch.store.snapshot import Progress, StudySnapshot


T = TypeVar("T")

app = typer.Typer(
    help="Hyperparameter search for Keras CNNs: run, continue and inspect studies.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)


@app.callback()
def _options(
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Show TensorFlow's native start-up log lines too.")
    ] = False,
) -> None:
    """Options for every command (before the command's name)."""
    if verbose:
        from hpsearch.train.native_logs import VERBOSE_ENV

        os.environ[VERBOSE_ENV] = "1"  # worker processes inherit it


def fail(message: str, code: int) -> NoReturn:
    """Say `message` (credentials masked) as one error line, and exit with `code`. The message is
    plain text: `pip install 'hpsearch[ray]'` must not lose its `[ray]` to rich markup."""
    from hpsearch.store.urls import mask

    errors.print(f"[bold red]error:[/] {escape(mask(message))}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def short(path: Path) -> str:
    """A path relative to the working directory when it is below it, else as it is."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def guarded(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`call(...)`, its LaunchError said in one sentence with its exit code; a bad heartbeat
    variable, which opening any storage checks, is a usage error."""
    from hpsearch.store.heartbeat import HeartbeatSettingError

    try:
        return call(*args, **kwargs)
    except LaunchError as error:
        fail(error.message, error.exit_code)
    except HeartbeatSettingError as error:
        fail(str(error), USAGE_ERROR)


def exit_unless_done(progress: Progress) -> None:
    """Exit 0 when the study reached its target or spent its budget, else 1."""
    if not progress.over:
        raise typer.Exit(RUN_ERROR)


def open_storage(url: str, read_only: bool = False) -> BaseStorage:
    return guarded(open_checked, url, read_only)


def load_study_file(reference: str) -> StudySpec:
    from hpsearch.errors import SpecError
    from hpsearch.space.study_files import load_spec  # pydantic: only commands that read study files

    try:
        return load_spec(reference)
    except SpecError as error:
        fail(str(error), USAGE_ERROR)


def fail_unknown_study(name: str, url: str) -> NoReturn:
    error = unknown_study(name, url)
    fail(error.message, error.exit_code)


def read_study(reference: str, storage: str | None) -> StudySnapshot:
    """A stored study read straight from its tables (fast on thousands of trials), for `summary`."""
    from hpsearch.store.snapshot import SnapshotError, UnknownStudy, read_snapshot
    from hpsearch.store.storage import quiet_optuna
    from hpsearch.store.urls import missing_sqlite_file, storage_url

    quiet_optuna()

    name, url = guarded(study_name, reference), storage_url(storage)
    try:
        if missing_sqlite_file(url):
            raise UnknownStudy(name)
        return read_snapshot(url, name)
    except UnknownStudy:
        fail_unknown_study(name, url)
    except SnapshotError as error:
        fail(str(error), RUN_ERROR)
