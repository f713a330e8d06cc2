"""Running a study from Python or the command line: `run` (and resume) with one worker here or a
pool of worker processes, and `join` for one more worker. The CLI is a thin shell around these.

Failures a user can fix raise `LaunchError` with one sentence and the exit code the CLI uses.
TensorFlow is imported only once the study, storage and data have been checked.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console
from rich.table import Table

from hpsearch.launch import arguments
from hpsearch.lifecycle import stopping
from hpsearch.launch.arguments import BudgetValue, PathText, StudyReference
from hpsearch.launch.backend_check import DEFAULT_BACKEND, stated_backend, use_backend
from hpsearch.launch.errors import RUN_ERROR, USAGE_ERROR, LaunchError

if TYPE_CHECKING:
    import optuna
    from optuna.storages import BaseStorage

    from hpsearch.data.sources import Splits
    from hpsearch.launch.pool import Workers, WorkerTask
    from hpsearch.launch.progress import LiveProgress
    from hpsearch.space.spec import StudySpec
    from hpsearch.store.snapshot import Progress



def open_checked(url: str, read_only: bool = False) -> BaseStorage:
    """The Optuna storage at `url`; one sentence (credentials masked) when it cannot be opened."""
    from hpsearch.lifecycle.retries import retry_trial
    from hpsearch.store.storage import StorageError, open_storage, quiet_optuna

    quiet_optuna()
    try:
        return open_storage(url, read_only=read_only, on_stale_trial=retry_trial)
    except StorageError as error:
        raise LaunchError(str(error), RUN_ERROR) from None


@arguments.checked_arguments
def load(study: StudyReference, storage: PathText | None = None) -> optuna.Study:
    """A stored study, opened read-only, to read its results with Optuna's API
    (`hpsearch.load("cifar-dropout").best_trial`); `study` is its name or its study file."""
    import optuna

    from hpsearch.store.urls import missing_sqlite_file, storage_url

    url = storage_url(storage)
    name = study_name(study)
    if not missing_sqlite_file(url):  # opening a missing SQLite file would create it
        try:
            return optuna.load_study(study_name=name, storage=open_checked(url, read_only=True))
        except KeyError:
            pass
    raise unknown_study(name, url)


def unknown_study(name: str, url: str) -> LaunchError:
    from hpsearch.store.urls import mask

    return LaunchError(f"no study named {name!r} in {mask(url)} (see `hpsearch list`; `hpsearch run` starts one)",
                       USAGE_ERROR)


def study_name(reference: str | StudySpec) -> str:
    """The study a name, a study file or a spec refers to (a file's own name, or the reference itself)."""
    from hpsearch.space.spec import SpecError, load_spec

    if not isinstance(reference, str):
        return reference.name
    if not reference.endswith(".toml"):
        return reference
    try:
        return load_spec(reference).name
    except SpecError as error:
        raise LaunchError(str(error), USAGE_ERROR) from None


F = TypeVar("F", bound=Callable[..., Any])


def _stopping_gracefully(function: F) -> F:
    """Run `function` with Ctrl-C and SIGTERM asking for a stop at a safe point (`stopping.py`),
    and the caller's handlers back afterwards."""

    @functools.wraps(function)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with stopping.graceful():
            return function(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def _refusals_leave_no_storage(function: F) -> F:
    """A command refused (a LaunchError) after it created the SQLite file it was given leaves no
    empty file behind: checks that need the stored study (its data, its flags) run after the
    storage is opened, and a refusal must change nothing, not even create a file."""

    @functools.wraps(function)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        from hpsearch.store.urls import missing_sqlite_file, storage_url

        created = missing_sqlite_file(storage_url(kwargs.get("storage")))
        try:
            return function(*args, **kwargs)
        except LaunchError:
            if created is not None and created.exists() and not _holds_a_study(created):
                for leftover in (created, created.with_name(created.name + "-journal")):
                    leftover.unlink(missing_ok=True)
            raise

    return wrapped  # type: ignore[return-value]


def _holds_a_study(database: Path) -> bool:
    import sqlite3

    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            return bool(connection.execute("SELECT count(*) FROM studies").fetchone()[0])
    except sqlite3.Error:  # no tables yet (or not a database): nothing of a study's in it
        return False


@_stopping_gracefully
@arguments.checked_arguments
@_refusals_leave_no_storage
def run(
    study: StudyReference,
    *,
    storage: PathText | None = None,
    trials: int | None = None,
    budget: BudgetValue | None = None,
    epochs: int | None = None,
    data: PathText | None = None,
    subset: int | None = None,
    seed: int | None = None,
    workers: int | None = None,
    gpus: str | None = None,
    workers_per_gpu: int = 1,
    ray: str | None = None,
    backend: str | None = None,
    precision: str | None = None,
    xla: bool | None = None,
    steps_per_execution: int | None = None,
    checkpoints: PathText | None = None,
    force: bool = False,
    resume: bool = False,
    warm_start: str | tuple[str, ...] | None = None,
    console: Console | None = None,
) -> Progress:
    """Create (or continue) a study and run trials until it has its target of finished trials or
    has spent its budget; returns where it stands. `study` is a study name, a study file, or a
    `StudySpec` built in Python; the other arguments are the `hpsearch run` flags.

    >>> import hpsearch
    >>> progress = hpsearch.run("digits-quick", trials=4, epochs=2, storage="sqlite:///hpsearch.db")
    >>> progress.done
    True

    One worker trains in this process; with `workers` or GPUs, worker processes do; with `ray`
    (a cluster's address, `auto`, or `local` for one started here), Ray actors do. `resume`
    keeps the stored target and budget unless given. A stop signal ends the trials at a safe
    point, queued again, and raises LaunchError with the signal's exit code.
    """
    import tempfile

    from hpsearch.launch.pool import (
        WorkerPlanError,
        WorkerPool,
        WorkerSlot,
        WorkerTask,
        check_worker_count,
        choose_gpus,
        detect_gpus,
        plan_workers,
    )
    from hpsearch.search.study import budget_use, study_exists, study_progress
    from hpsearch.store.urls import checkpoint_dir

    console = console or Console()
    # Every check that can refuse the command comes before the storage is opened or written to.
    backend = stated_backend(backend)
    for name, count in (("workers", workers), ("workers_per_gpu", workers_per_gpu)):
        if count is not None and count < 1:
            raise LaunchError(f"{name} must be at least 1 (got {count})", USAGE_ERROR)
    if ray is not None and gpus is not None:
        raise LaunchError("--gpus picks GPUs on this machine; with --ray, Ray places the workers on the "
                          "cluster's GPUs", USAGE_ERROR)
    slots: list[WorkerSlot] = []  # on Ray, the cluster places the workers (ray_workers.plan)
    if ray is None:
        try:
            chosen = choose_gpus(gpus, detect_gpus())
            slots = plan_workers(workers, chosen, workers_per_gpu)
            check_worker_count(len(slots), chosen)
        except WorkerPlanError as error:
            raise LaunchError(str(error), USAGE_ERROR) from None
    spec, url, optuna_storage = prepare(
        study, storage, console, trials=trials, budget=budget, keep_stored_target=resume, must_exist=resume,
        epochs=epochs, dataset=data, subset=subset, seed=seed, backend=backend,
        precision=precision, jit_compile=xla, steps_per_execution=steps_per_execution,
        warm_start=tuple(name.strip() for name in warm_start.split(",") if name.strip())
        if isinstance(warm_start, str) else warm_start,
    )
    backend = use_backend(spec.training.backend)
    if resume:
        import optuna

        stored = optuna.load_study(study_name=spec.name, storage=optuna_storage)
        progress = study_progress(stored, optuna_storage)
        if progress.finished >= spec.search.trials:
            console.print(f"Study {spec.name} is already finished: {progress.finished} of "
                          f"{spec.search.trials} trials ({progress.states_text()}).", highlight=False)
            return progress
        use = budget_use(stored, spec.search.compute_budget())
        if use is not None and use.spent:
            console.print(f"Study {spec.name} has spent its {use.describe()}; {progress.finished} trials "
                          f"finished ({progress.states_text()}). A larger --budget continues it.",
                          highlight=False)
            return progress
    _announce(spec, url, backend, console)
    # On Ray the directory is the cluster's (shared by its nodes), not necessarily this machine's.
    checkpoint_root = checkpoint_dir(url, checkpoints) if ray is not None else writable_checkpoints(url, checkpoints)
    if ray is None and len(slots) == 1 and slots[0].gpu is None:
        return _work_here(spec, optuna_storage, checkpoint_root, None, force, console)
    # The workers read the study (its spec, target and budget) from the storage; only what is this
    # run's own is passed to them.
    training = spec.training
    task = WorkerTask(spec.name, str(checkpoint_root), backend, training.precision, training.jit_compile,
                      training.steps_per_execution, force)
    if ray is not None:
        return _on_ray(spec, optuna_storage, url, ray, task, workers, workers_per_gpu, console)
    if study_exists(optuna_storage, spec.name):  # other data is refused before the study changes
        check_data_here(spec, optuna_storage, force, console)
    pool = WorkerPool(slots, task, url, Path(tempfile.mkdtemp(prefix=f"hpsearch-{spec.name}-")))
    return _supervise(spec, optuna_storage, pool, console)


def _on_ray(
    spec: StudySpec, optuna_storage: BaseStorage, url: str, address: str, task: WorkerTask,
    workers: int | None, workers_per_gpu: int, console: Console,
) -> Progress:
    """Run the study's workers as actors on the Ray cluster at `address`."""
    from hpsearch.launch.ray_workers import RayWorkers, check_shared_storage, connected, plan

    with connected(address):
        check_shared_storage(url, address)
        actors = RayWorkers(plan(workers, workers_per_gpu), task, url, join)
        return _supervise(spec, optuna_storage, actors, console)


@_stopping_gracefully
@arguments.checked_arguments
@_refusals_leave_no_storage
def join(
    study: StudyReference,
    *,
    storage: PathText | None = None,
    trials: int | None = None,
    epochs: int | None = None,
    data: PathText | None = None,
    subset: int | None = None,
    seed: int | None = None,
    sampler_seed: int | None = None,
    backend: str | None = None,
    precision: str | None = None,
    xla: bool | None = None,
    steps_per_execution: int | None = None,
    checkpoints: PathText | None = None,
    force: bool = False,
    console: Console | None = None,
) -> Progress:
    """Join a study as one more worker in this process (`hpsearch worker`): it trains what the
    study stored, until the study's target or budget; `trials` moves the target."""
    console = console or Console()
    backend = stated_backend(backend)
    spec, url, optuna_storage = prepare(
        study, storage, console, trials=trials, budget=None, keep_stored_target=True,
        epochs=epochs, dataset=data, subset=subset, seed=seed, backend=backend,
        precision=precision, jit_compile=xla, steps_per_execution=steps_per_execution,
    )
    _announce(spec, url, use_backend(spec.training.backend), console)
    seed_here = sampler_seed if sampler_seed is not None else secrets.randbelow(2**31)
    return _work_here(spec, optuna_storage, writable_checkpoints(url, checkpoints), seed_here, force, console)


def writable_checkpoints(url: str, flag: str | None) -> Path:
    """The checkpoint directory (`urls.checkpoint_dir`), created, and refused in one sentence when
    it cannot be written: before training, rather than after trials failed on their first save."""
    import tempfile

    from hpsearch.store.urls import checkpoint_dir

    root = checkpoint_dir(url, flag)
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError as error:
        raise LaunchError(f"cannot write checkpoints into {root} ({error.strerror or error}); "
                          "give --checkpoints a directory this process can write", USAGE_ERROR) from None
    return root


def prepare(
    study: str | StudySpec, storage: str | None, console: Console, *, trials: int | None, budget: str | None,
    keep_stored_target: bool, must_exist: bool = False, **overrides: Any,
) -> tuple[StudySpec, str, BaseStorage]:
    """The spec to train, the storage URL and the opened storage. A study that exists trains the
    spec it stored; otherwise the study file's. The target and budget are the flags, else (when
    asked: resume, worker) the stored ones, else the file's; on `run`, a budget without a trial
    target replaces the file's target. Flags that contradict a stored study are refused, and so
    is a study that `must_exist` (resume, confirm) but does not, without creating an SQLite file."""
    from hpsearch.compute.budget import NO_TRIAL_TARGET, BudgetError, parse_budget
    from hpsearch.search.study import (
        keep_settings,
        kept_settings,
        stored_budget_text,
        stored_spec,
        stored_target,
        study_exists,
    )
    from hpsearch.space.spec import SpecError
    from hpsearch.store.urls import mask, missing_sqlite_file, storage_url

    if budget is not None:  # checked before the storage is opened (and an SQLite file created)
        try:
            given = parse_budget(budget)
        except BudgetError as error:
            raise LaunchError(f"--budget: {error}", USAGE_ERROR) from None
        if given is not None and trials is None and not keep_stored_target:
            trials = NO_TRIAL_TARGET
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
    from hpsearch.space.spec import SpecError, StudySpec, differences, load_spec
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


def _announce(spec: StudySpec, url: str, backend: str, console: Console) -> None:
    from hpsearch.store.urls import mask

    console.print(
        f"Study [bold]{spec.name}[/]: {spec.search.goal(f' of {spec.training.epochs} epochs')} "
        f"on {spec.data.dataset}, storage {mask(url)}" + ("" if backend == DEFAULT_BACKEND else f", Keras on {backend}"),
        highlight=False,
    )


def _finish(study: optuna.Study, live: LiveProgress) -> Progress:
    """Say why the run ended, and return where the study stands."""
    from hpsearch.search.study import study_progress

    progress = study_progress(study, live.storage)
    live.print_outcome(progress)
    return progress


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
    """Load the data here and refuse it when it is not the stored study's, before anything is
    written (workers elsewhere check their own copy)."""
    from hpsearch.search.study import DataMismatch, check_data

    try:
        check_data(optuna_storage, spec.name, load_checked_data(spec, force, console))
    except DataMismatch as error:
        raise LaunchError(str(error), USAGE_ERROR) from None


def _work_here(
    spec: StudySpec, optuna_storage: BaseStorage, checkpoints: Path, sampler_seed: int | None, force: bool,
    console: Console,
) -> Progress:
    """Run trials in this process (one worker)."""
    from hpsearch.launch.progress import LiveProgress
    from hpsearch.train.native_logs import filter_native_stderr

    filter_native_stderr()
    splits = load_checked_data(spec, force, console)
    from hpsearch.launch.worker import RepeatedFailures, run_worker  # loads TensorFlow
    from hpsearch.search.study import DataMismatch

    study = None
    try:
        with LiveProgress(console, spec, optuna_storage) as live:
            study = run_worker(spec, optuna_storage, splits, checkpoints, on_trial=live.on_trial,
                               sampler_seed=sampler_seed)
    except KeyboardInterrupt:
        pass
    except RepeatedFailures as error:
        raise LaunchError(str(error), RUN_ERROR) from None
    except DataMismatch as error:
        raise LaunchError(str(error), USAGE_ERROR) from None
    if study is None or stopping.signal_received():  # a spent time budget is no interruption
        raise LaunchError("interrupted; the running trial is queued again and `hpsearch resume` continues",
                          stopping.SIGNAL_EXIT_CODE)
    return _finish(study, live)


def _poll_tolerantly(live: LiveProgress, study: optuna.Study) -> None:
    """Refresh the display; a storage hiccup (the workers ride it out too) skips one refresh."""
    from hpsearch.store.storage import is_storage_failure

    try:
        live.poll(study)
    except Exception as error:
        if not is_storage_failure(error):
            raise


def _supervise(spec: StudySpec, optuna_storage: BaseStorage, workers: Workers, console: Console) -> Progress:
    """Start the workers (processes or Ray actors) and show their shared progress until they are
    all done.

    A stop signal stops the workers (each hands back its trial); trials of workers that had to
    be killed are released here, so none is left RUNNING.
    """
    from hpsearch.launch.progress import LiveProgress
    from hpsearch.lifecycle.retries import release_trials
    from hpsearch.search.study import open_study
    from hpsearch.store.urls import mask

    study = open_study(spec, optuna_storage)  # created (spec stored, baselines queued) before workers race to it
    try:
        workers.start(seed=spec.search.seed)
        for line in workers.describe():
            console.print(line, highlight=False)
        with LiveProgress(console, spec, optuna_storage) as live:
            while workers.running() and not stopping.stop_requested():
                _release_tolerantly(study, workers.lost())
                _poll_tolerantly(live, study)
                stopping.pause(1.0)
            _release_tolerantly(study, workers.lost())
            if not stopping.stop_requested():
                live.poll(study)
    finally:
        interrupted = stopping.stop_requested() or workers.running()
        if interrupted:
            workers.stop()
            release_trials(study, workers.identities())
        workers.close()
    if interrupted:
        raise LaunchError("interrupted; workers stopped, their trials queued again; `hpsearch resume` continues",
                          stopping.SIGNAL_EXIT_CODE)
    failures = workers.failures()
    for code, message in failures:
        if code == USAGE_ERROR:
            raise LaunchError(message, USAGE_ERROR)
    for _, message in failures:
        console.print(f"[yellow]note:[/] a worker failed: {mask(message)}", highlight=False)
    return _finish(study, live)


def _release_tolerantly(study: optuna.Study, workers: set[str]) -> None:
    """Release the trials of workers that died; on a storage hiccup their heartbeats still will."""
    from hpsearch.lifecycle.retries import release_trials
    from hpsearch.store.storage import is_storage_failure

    if not workers:
        return
    try:
        release_trials(study, workers)
    except Exception as error:
        if not is_storage_failure(error):
            raise
