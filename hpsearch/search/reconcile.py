"""The study a command trains: the stored study reconciled with the study file and the flags.

A study that exists trains the spec it stored when created; flags that contradict it are
refused in one sentence, and a study file that differs from it is reported. The storage is
opened here, with the stale-trial callback that queues a lost trial again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hpsearch.errors import RUN_ERROR, USAGE_ERROR, LaunchError

if TYPE_CHECKING:
    from optuna.storages import BaseStorage
    from rich.console import Console

    from hpsearch.compute.budget import Budget
    from hpsearch.space.spec import StudySpec


def open_checked(url: str, read_only: bool = False) -> BaseStorage:
    """The Optuna storage at `url`; one sentence (credentials masked) when it cannot be opened."""
    from hpsearch.lifecycle.retries import retry_trial
    from hpsearch.store.storage import StorageError, open_storage, quiet_optuna

    quiet_optuna()
    try:
        return open_storage(url, read_only=read_only, on_stale_trial=retry_trial)
    except StorageError as error:
        raise LaunchError(str(error), RUN_ERROR) from None


def unknown_study(name: str, url: str) -> LaunchError:
    from hpsearch.store.urls import mask

    return LaunchError(f"no study named {name!r} in {mask(url)} (see `hpsearch list`; `hpsearch run` starts one)",
                       USAGE_ERROR)


def study_name(reference: str | StudySpec) -> str:
    """The study a name, a study file or a spec refers to (a file's own name, or the reference itself)."""
    from hpsearch.errors import SpecError
    from hpsearch.space.study_files import load_spec

    if not isinstance(reference, str):
        return reference.name
    if not reference.endswith(".toml"):
        return reference
    try:
        return load_spec(reference).name
    except SpecError as error:
        raise LaunchError(str(error), USAGE_ERROR) from None


def prepare(
    study: str | StudySpec, storage: str | None, console: Console, *, trials: int | None = None,
    budget: str | Budget | None = None, keep_stored_target: bool, must_exist: bool = False, **overrides: Any,
) -> tuple[StudySpec, str, BaseStorage]:
    """The spec to train, the storage URL and the opened storage. A study that exists trains the
    spec it stored; otherwise the study file's. The target and budget are the flags, else (when
    asked: resume, worker) the stored ones, else the file's; on `run`, a budget without a trial
    target replaces the file's target. Flags that contradict a stored study are refused, and so
    is a study that `must_exist` (resume, confirm) but does not, without creating an SQLite file."""
    from hpsearch.compute.budget import NO_BUDGET, NO_TRIAL_TARGET, BudgetError, parse_budget
    from hpsearch.search.study import (
        keep_settings,
        kept_settings,
        stored_budget_text,
        stored_spec,
        stored_target,
        study_exists,
    )
    from hpsearch.errors import SpecError
    from hpsearch.store.urls import mask, missing_sqlite_file, storage_url

    if budget is not None:  # parsed once, here, before the storage is opened (and an SQLite file created)
        try:
            parsed = parse_budget(budget)
        except BudgetError as error:
            raise LaunchError(f"--budget: {error}", USAGE_ERROR) from None
        budget = NO_BUDGET if parsed is None else parsed
        if parsed is not None and trials is None and not keep_stored_target:
            trials = NO_TRIAL_TARGET  # a budget alone ends the study
    url = storage_url(storage)
    if must_exist and missing_sqlite_file(url):
        raise unknown_study(study_name(study), url)
    spec, file_spec, optuna_storage = _study_spec(study, url, console)
    if must_exist and not study_exists(optuna_storage, spec.name):
        raise unknown_study(spec.name, url)
    if keep_stored_target:
        trials = trials if trials is not None else stored_target(optuna_storage, spec.name)
        budget = budget if budget is not None else stored_budget_text(optuna_storage, spec.name)
    try:
        overrides, notes = keep_settings(file_spec or spec, kept_settings(optuna_storage, spec.name), overrides)
        settled = spec.with_overrides(trials=trials, budget=budget, **overrides)
    except SpecError as error:
        raise LaunchError(str(error), USAGE_ERROR) from None
    for note in notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    new = not study_exists(optuna_storage, settled.name)  # an existing one queued its warm starts when created
    for source in settled.search.warm_start if new else ():
        if source == settled.name or stored_spec(optuna_storage, source) is None:
            raise LaunchError(f"--warm-start {source}: no earlier study of that name in {mask(url)} to start from "
                              "(see `hpsearch list`)", USAGE_ERROR)
    return settled, url, optuna_storage


def _study_spec(reference: str | StudySpec, url: str, console: Console) -> tuple[StudySpec, StudySpec | None, BaseStorage]:
    """(what to train, the study file's spec or None, the opened storage): a study that exists
    trains the spec it stored when created, so a worker needs no file; a file that differs from
    it is reported."""
    from hpsearch.search.study import stored_spec
    from hpsearch.errors import SpecError
    from hpsearch.space.spec import StudySpec, differences
    from hpsearch.space.study_files import load_spec
    from hpsearch.store.urls import missing_sqlite_file

    file_spec: StudySpec | None = None
    problem: SpecError | None = None
    try:
        file_spec = reference if isinstance(reference, StudySpec) else load_spec(reference)
    except SpecError as error:
        if missing_sqlite_file(url):  # no stored study to fall back on: say so without creating the file
            raise LaunchError(str(error), USAGE_ERROR) from None
        problem = error
    storage = open_checked(url)
    try:
        stored = stored_spec(storage, file_spec.name if file_spec else str(reference))
    except SpecError as error:
        raise LaunchError(f"{error} (stored by another version of hpsearch?)", USAGE_ERROR) from None
    if stored is None:
        if file_spec is None:
            raise LaunchError(str(problem), USAGE_ERROR)
        return file_spec, file_spec, storage
    changed = differences(file_spec, stored) if file_spec else []
    if changed:
        console.print(f"[yellow]note:[/] {file_spec.source} differs from study {stored.name} as created "  # type: ignore[union-attr]
                      f"({', '.join(changed)}); the study keeps what it was created with", highlight=False)
    return stored, file_spec, storage
