"""The study's data, read and examined by the doctor before anything trains: severe problems stop
the run (unless forced), and data that is not the stored study's is refused."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from hpsearch.errors import USAGE_ERROR, LaunchError

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

    from hpsearch.data.sources import Splits
    from hpsearch.space.spec import StudySpec


def print_findings(findings: list[Any], console: Console) -> None:
    """The data check's findings as a table: what is wrong, and what to do."""
    table = Table(title="Data check (hpsearch doctor)", title_justify="left")
    for column in ("severity", "check", "what is wrong", "what to do"):
        table.add_column(column)
    for finding in findings:
        colour = "red" if finding.severity == "severe" else "yellow"
        table.add_row(f"[{colour}]{finding.severity}[/]", finding.check, finding.message, finding.advice)
    console.print(table)


def load_checked_data(spec: StudySpec, force: bool, console: Console) -> Splits:
    """Read the study's data, run the doctor on it, and split it; severe problems stop here."""
    from hpsearch.data.doctor import examine
    from hpsearch.data.sources import DataError, load_raw, prepare

    try:
        raw = load_raw(spec.data.dataset, seed=spec.search.seed)
        findings = examine(raw)
        if findings:
            print_findings(findings, console)
        severe = [f for f in findings if f.severity == "severe"]
        if severe and not force:
            raise LaunchError(f"{severe[0].message} {severe[0].advice} (--force runs anyway)", USAGE_ERROR)
        splits = prepare(raw, seed=spec.search.seed, **spec.data.split_settings())
    except DataError as error:
        raise LaunchError(str(error), USAGE_ERROR) from None
    console.print(f"Data: {splits.describe()}", highlight=False)
    return splits


def check_data_here(spec: StudySpec, optuna_storage: BaseStorage, force: bool, console: Console) -> None:
    """For a study that exists, load the data here and refuse it when it is not the stored
    study's, before any worker starts (each worker checks its own copy as well)."""
    from hpsearch.search.study import study_exists

    if study_exists(optuna_storage, spec.name):
        refuse_other_data(spec, optuna_storage, load_checked_data(spec, force, console))


def refuse_other_data(spec: StudySpec, optuna_storage: BaseStorage, splits: Splits) -> None:
    """LaunchError when study `spec.name` exists and was created with other data than `splits`."""
    from hpsearch.search.study import DataMismatch, check_data

    try:
        check_data(optuna_storage, spec.name, splits)
    except DataMismatch as error:
        raise LaunchError(str(error), USAGE_ERROR) from None
