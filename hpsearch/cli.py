"""The `hpsearch` command line: parse, call, print. Logic lives in the modules it calls.

TensorFlow is imported only by the commands that train (`run`, `resume`, `worker`, `export`), after
the study and storage are checked, so every other command (and `--help`) starts in well under a second.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional

import typer
from rich.console import Console
from rich.table import Table

from hpsearch.space.catalogue import PARAMETERS

if TYPE_CHECKING:
    import optuna
    from optuna.storages import BaseStorage

    from hpsearch.store.snapshot import StudySnapshot
    from hpsearch.space.spec import StudySpec

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

USAGE_ERROR = 2  # bad study file, bad data file, bad flag
RUN_ERROR = 1  # storage unreachable, target not reached

StudyArg = Annotated[str, typer.Argument(help="Study name (from studies/) or path to a .toml file.")]
StorageOpt = Annotated[
    Optional[str],
    typer.Option(help="Optuna storage URL; default $HPSEARCH_STORAGE, else sqlite:///hpsearch.db."),
]


def _fail(message: str, code: int) -> NoReturn:
    from hpsearch.store.urls import mask

    errors.print(f"[bold red]error:[/] {mask(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _short(path: Path) -> str:
    """A path relative to the working directory when it is below it, else as it is."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _open_storage(url: str, read_only: bool = False) -> BaseStorage:
    from hpsearch.store.storage import StorageError, open_storage, quiet_optuna

    quiet_optuna()
    try:
        return open_storage(url, read_only=read_only)
    except StorageError as error:
        _fail(str(error), RUN_ERROR)


def _load(reference: str) -> StudySpec:
    from hpsearch.space.spec import SpecError, load_spec  # pydantic: only commands that read study files

    try:
        return load_spec(reference)
    except SpecError as error:
        _fail(str(error), USAGE_ERROR)


TrialsOpt = Annotated[Optional[int], typer.Option(min=1, help="Finished trials to reach.")]
BudgetOpt = Annotated[
    Optional[str],
    typer.Option(help="Compute the study may spend: wall time (2h, 90m, 1h30m, 45s) or training epochs "
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
class Precision(str, Enum):
    float32 = "float32"
    mixed_float16 = "mixed_float16"
    mixed_bfloat16 = "mixed_bfloat16"


PrecisionOpt = Annotated[Optional[Precision], typer.Option(help="Training precision (mixed: GPUs).")]
XlaOpt = Annotated[Optional[bool], typer.Option("--xla/--no-xla", help="Compile training steps with XLA.")]
StepsOpt = Annotated[
    Optional[int], typer.Option(min=1, help="Batches per compiled call (fewer Python round trips).")
]
CheckpointsOpt = Annotated[
    Optional[str],
    typer.Option(help="Directory for trial checkpoints (a retried trial resumes from its last epoch); "
                 "default $HPSEARCH_CHECKPOINTS, else beside the SQLite file. Share it between machines."),
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Train even when the data check finds severe problems.")]


def _prepare(
    study: str, storage: str | None, *, trials: int | None, budget: str | None, keep_stored_target: bool,
    **overrides: Any,
) -> tuple[StudySpec, str, BaseStorage]:
    """Load the spec and storage; the target and budget are the flags, else (when asked: resume,
    worker) the stored ones, else the file's. Otherwise (run) a --budget without --trials replaces
    the file's trial target. An existing study keeps the data, epochs and seed it was created with
    (`study.KEPT_SETTINGS`)."""
    from hpsearch.search.budget import NO_TRIAL_TARGET, BudgetError, parse_budget
    from hpsearch.space.spec import SpecError
    from hpsearch.search.study import keep_settings, kept_settings, stored_budget_text, stored_target
    from hpsearch.store.urls import storage_url

    url = storage_url(storage)
    optuna_storage = _open_storage(url)
    spec, file_spec = _study_spec(study, optuna_storage)
    if budget is not None:
        try:
            given = parse_budget(budget)
        except BudgetError as error:
            _fail(f"--budget: {error}", USAGE_ERROR)
        if given is not None and trials is None and not keep_stored_target:
            trials = NO_TRIAL_TARGET
    if keep_stored_target:
        trials = trials if trials is not None else stored_target(optuna_storage, spec.name)
        budget = budget if budget is not None else stored_budget_text(optuna_storage, spec.name)
    try:
        overrides, notes = keep_settings(file_spec or spec, kept_settings(optuna_storage, spec.name), overrides)
        settled = spec.with_overrides(trials=trials, budget=budget, **overrides)
    except SpecError as error:
        _fail(str(error), USAGE_ERROR)
    for note in notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    return settled, url, optuna_storage


def _study_spec(reference: str, storage: BaseStorage) -> tuple[StudySpec, StudySpec | None]:
    """(what to train, the study file's spec or None): a study that exists trains the spec it
    stored when created, so a worker needs no file; a file that differs from it is reported."""
    from hpsearch.space.spec import SpecError, differences, load_spec
    from hpsearch.search.study import stored_spec

    file_spec: StudySpec | None = None
    problem: SpecError | None = None
    try:
        file_spec = load_spec(reference)
    except SpecError as error:
        problem = error
    try:
        stored = stored_spec(storage, file_spec.name if file_spec else reference)
    except SpecError as error:
        _fail(f"{error} (stored by another version of hpsearch?)", USAGE_ERROR)
    if stored is None:
        if file_spec is None:
            _fail(str(problem), USAGE_ERROR)
        return file_spec, file_spec
    changed = differences(file_spec, stored) if file_spec else []
    if changed:
        console.print(f"[yellow]note:[/] {file_spec.source} differs from study {stored.name} as created "  # type: ignore[union-attr]
                      f"({', '.join(changed)}); the study keeps what it was created with", highlight=False)
    return stored, file_spec


def _announce(spec: StudySpec, url: str) -> None:
    from hpsearch.store.urls import mask

    console.print(
        f"Study [bold]{spec.name}[/]: {spec.search.goal(f' of {spec.training.epochs} epochs')} "
        f"on {spec.data.dataset}, storage {mask(url)}",
        highlight=False,
    )


def _finish(study: optuna.Study, live: Any) -> None:
    """Say why the run ended; exit 0 when the study reached its target or spent its budget."""
    from hpsearch.search.study import study_progress

    progress = study_progress(study, live.storage)
    live.print_outcome(progress)
    if not (progress.done or progress.budget_spent):
        raise typer.Exit(RUN_ERROR)


def _print_findings(findings: list[Any]) -> None:
    table = Table(title="Data check (hpsearch doctor)", title_justify="left")
    for column in ("severity", "check", "what is wrong", "what to do"):
        table.add_column(column)
    for finding in findings:
        colour = "red" if finding.severity == "severe" else "yellow"
        table.add_row(f"[{colour}]{finding.severity}[/]", finding.check, finding.message, finding.advice)
    console.print(table)


def _load_checked_data(spec: StudySpec, force: bool) -> Any:
    """Read the study's data, run the doctor on it, and split it; severe problems stop here."""
    from hpsearch.data.sources import DataError, load_raw, prepare
    from hpsearch.data.doctor import examine

    try:
        raw = load_raw(spec.data.dataset, seed=spec.search.seed)
        findings = examine(raw)
        if findings:
            _print_findings(findings)
        severe = [f for f in findings if f.severity == "severe"]
        if severe and not force:
            _fail(f"{severe[0].message} {severe[0].advice} (--force runs anyway)", USAGE_ERROR)
        splits = prepare(raw, seed=spec.search.seed, **spec.data.split_settings())
    except DataError as error:
        _fail(str(error), USAGE_ERROR)
    console.print(f"Data: {splits.describe()}", highlight=False)
    return splits


def _work_here(
    spec: StudySpec, optuna_storage: BaseStorage, checkpoints: Path, sampler_seed: int | None, force: bool
) -> None:
    """Run trials in this process (one worker)."""
    from hpsearch.launch import stopping
    from hpsearch.train.native_logs import filter_native_stderr
    from hpsearch.launch.progress import LiveProgress

    filter_native_stderr()
    splits = _load_checked_data(spec, force)
    from hpsearch.search.study import DataMismatch
    from hpsearch.launch.worker import RepeatedFailures, run_worker  # loads TensorFlow

    try:
        with LiveProgress(console, spec, optuna_storage) as live:
            study = run_worker(spec, optuna_storage, splits, checkpoints, on_trial=live.on_trial,
                               sampler_seed=sampler_seed)
    except KeyboardInterrupt:
        study = None
    except RepeatedFailures as error:
        _fail(str(error), RUN_ERROR)
    except DataMismatch as error:
        _fail(str(error), USAGE_ERROR)
    if study is None or stopping.signal_received():  # a spent time budget is no interruption
        _fail("interrupted; the running trial is queued again and `hpsearch resume` continues",
              stopping.SIGNAL_EXIT_CODE)
    _finish(study, live)


def _poll_tolerantly(live: Any, study: optuna.Study) -> None:
    """Refresh the display; a storage hiccup (the workers ride it out too) skips one refresh."""
    from hpsearch.store.storage import is_storage_failure

    try:
        live.poll(study)
    except Exception as error:
        if not is_storage_failure(error):
            raise


def _work_in_processes(
    spec: StudySpec, optuna_storage: BaseStorage, url: str, slots: list[Any], worker_args: list[str]
) -> None:
    """Start worker processes and show their shared progress until they are all done.

    A stop signal stops the workers (each hands back its trial); trials of workers that had to
    be killed are released here, so none is left RUNNING.
    """
    import tempfile

    from hpsearch.launch import stopping
    from hpsearch.launch.progress import LiveProgress
    from hpsearch.launch.retries import release_trials
    from hpsearch.search.study import open_study
    from hpsearch.launch.pool import WorkerPool

    study = open_study(spec, optuna_storage)  # created (baselines queued) before workers race to it
    pool = WorkerPool(slots, worker_args, url, Path(tempfile.mkdtemp(prefix=f"hpsearch-{spec.name}-")))
    places = ", ".join(f"GPU {s.gpu}" if s.gpu is not None else "CPU" for s in slots)
    console.print(f"Workers: {len(slots)} ({places}); logs in {pool.log_dir}", highlight=False)
    try:
        pool.start(seed=spec.search.seed)
        with LiveProgress(console, spec, optuna_storage) as live:
            while pool.running() and not stopping.stop_requested():
                _poll_tolerantly(live, study)
                stopping.pause(1.0)
            if not stopping.stop_requested():
                live.poll(study)
    finally:
        interrupted = stopping.stop_requested() or pool.running()
        if interrupted:
            pool.stop()
            release_trials(study, pool.identities())
    if interrupted:
        _fail("interrupted; workers stopped, their trials queued again; `hpsearch resume` continues",
              stopping.SIGNAL_EXIT_CODE)
    if USAGE_ERROR in pool.exit_codes():
        _fail(pool.last_error().removeprefix("error: "), USAGE_ERROR)
    _finish(study, live)


def _launch(
    study: str, storage: str | None, workers: int | None, gpus: str | None, per_gpu: int,
    *, resume: bool, trials: int | None, budget: str | None, epochs: int | None, data: str | None,
    subset: int | None, seed: int | None, checkpoints: str | None, force: bool, execution: dict[str, Any],
) -> None:
    """`run` and `resume`: one worker in this process, or a pool of worker processes."""
    from hpsearch.launch import stopping
    from hpsearch.search.study import budget_use, stored_target, study_progress
    from hpsearch.store.urls import checkpoint_dir
    from hpsearch.launch.pool import WorkerPlanError, check_worker_count, choose_gpus, detect_gpus, plan_workers

    stopping.stop_gracefully()

    spec, url, optuna_storage = _prepare(
        study, storage, trials=trials, budget=budget, keep_stored_target=resume,
        epochs=epochs, dataset=data, subset=subset, seed=seed, **execution,
    )
    if resume:
        if stored_target(optuna_storage, spec.name) is None:
            _fail(f"no study {spec.name!r} in this storage to resume; start it with `hpsearch run`", USAGE_ERROR)
        import optuna

        stored = optuna.load_study(study_name=spec.name, storage=optuna_storage)
        progress = study_progress(stored, optuna_storage)
        if progress.finished >= spec.search.trials:
            console.print(f"Study {spec.name} is already finished: {progress.finished} of "
                          f"{spec.search.trials} trials ({progress.states_text()}).", highlight=False)
            return
        use = budget_use(stored, spec.search.compute_budget())
        if use is not None and use.spent:
            console.print(f"Study {spec.name} has spent its {use.describe()}; {progress.finished} trials "
                          f"finished ({progress.states_text()}). A larger --budget continues it.",
                          highlight=False)
            return
    try:
        chosen = choose_gpus(gpus, detect_gpus())
        slots = plan_workers(workers, chosen, per_gpu)
        check_worker_count(len(slots), chosen)
    except WorkerPlanError as error:
        _fail(str(error), USAGE_ERROR)
    _announce(spec, url)
    checkpoint_root = checkpoint_dir(url, checkpoints)
    if len(slots) == 1 and slots[0].gpu is None:
        _work_here(spec, optuna_storage, checkpoint_root, sampler_seed=None, force=force)
        return
    args = [study, "--trials", str(spec.search.trials), "--epochs", str(spec.training.epochs),
            "--data", spec.data.dataset, "--seed", str(spec.search.seed), "--checkpoints", str(checkpoint_root)]
    args += ["--subset", str(spec.data.subset)] if spec.data.subset else []
    args += ["--force"] if force else []
    training = spec.training
    args += ["--precision", training.precision, "--xla" if training.jit_compile else "--no-xla",
             "--steps-per-execution", str(training.steps_per_execution)]
    _work_in_processes(spec, optuna_storage, url, slots, args)


def _execution(precision: Precision | None, xla: bool | None, steps: int | None) -> dict[str, Any]:
    """The execution flags as `StudySpec.with_overrides` arguments."""
    return {
        "precision": precision.value if precision else None,
        "jit_compile": xla,
        "steps_per_execution": steps,
    }


def _launcher(resume: bool) -> Callable[..., None]:
    """The `run` and `resume` commands: the same options, a different target and start."""

    def launch(
        study: StudyArg,
        trials: TrialsOpt = None,
        budget: BudgetOpt = None,
        epochs: EpochsOpt = None,
        storage: StorageOpt = None,
        data: DataOpt = None,
        subset: SubsetOpt = None,
        seed: SeedOpt = None,
        workers: WorkersOpt = None,
        gpus: GpusOpt = None,
        workers_per_gpu: PerGpuOpt = 1,
        precision: PrecisionOpt = None,
        xla: XlaOpt = None,
        steps_per_execution: StepsOpt = None,
        checkpoints: CheckpointsOpt = None,
        force: ForceOpt = False,
    ) -> None:
        _launch(study, storage, workers, gpus, workers_per_gpu, resume=resume,
                trials=trials, budget=budget, epochs=epochs, data=data, subset=subset, seed=seed,
                checkpoints=checkpoints, force=force,
                execution=_execution(precision, xla, steps_per_execution))

    return launch


app.command(
    "run",
    help="Create or continue a study and run trials until it has its target of finished trials, or "
    "has spent its --budget.\n\n"
    "Example: hpsearch run cifar-dropout --data ../shared/data/cifar10-subset.npz --trials 4 --epochs 2"
    "\n\nExample: hpsearch run cifar-architecture --budget 2h   (trials until two hours are spent)"
    "\n\nExample: hpsearch run cifar-architecture --workers 4 --storage postgresql://user@db/hpsearch",
)(_launcher(resume=False))
app.command(
    "resume",
    help="Continue a stopped or crashed study to its stored target or budget: interrupted trials first. "
    "--budget raises (or sets, or with `none` removes) the stored budget; the stored trial target "
    "stays unless --trials is given.\n\n"
    "Trials left RUNNING by a dead worker are failed once their heartbeat is stale and queued again "
    "with the same parameters; completed trials are never re-run.\n\n"
    "Example: hpsearch resume cifar-dropout --storage postgresql://user@db/hpsearch --workers 2",
)(_launcher(resume=True))


@app.command()
def worker(
    study: StudyArg,
    storage: StorageOpt = None,
    trials: TrialsOpt = None,
    epochs: EpochsOpt = None,
    data: DataOpt = None,
    subset: SubsetOpt = None,
    seed: SeedOpt = None,
    sampler_seed: Annotated[
        Optional[int], typer.Option(help="Seed of this worker's sampler; default random, so workers differ.")
    ] = None,
    precision: PrecisionOpt = None,
    xla: XlaOpt = None,
    steps_per_execution: StepsOpt = None,
    checkpoints: CheckpointsOpt = None,
    force: ForceOpt = False,
) -> None:
    """Join a study as one worker process (for other machines and containers).

    The target and budget are the study's stored ones unless --trials is given; however many
    workers join, the study ends with exactly its target of finished trials, or when its budget
    is spent.

    Example: HPSEARCH_STORAGE=postgresql://user:pass@db/hpsearch hpsearch worker cifar-dropout
    """
    import secrets

    from hpsearch.launch import stopping
    from hpsearch.store.urls import checkpoint_dir

    stopping.stop_gracefully()
    spec, url, optuna_storage = _prepare(
        study, storage, trials=trials, budget=None, keep_stored_target=True,
        epochs=epochs, dataset=data, subset=subset, seed=seed,
        **_execution(precision, xla, steps_per_execution),
    )
    _announce(spec, url)
    seed_here = sampler_seed if sampler_seed is not None else secrets.randbelow(2**31)
    _work_here(spec, optuna_storage, checkpoint_dir(url, checkpoints), seed_here, force)


@app.command()
def dashboard(
    storage: StorageOpt = None,
    host: Annotated[str, typer.Option(help="Address to bind; loopback unless you mean to share it.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
) -> None:
    """Start optuna-dashboard on the study storage, for live inspection in a browser.

    Example: hpsearch dashboard --port 8080   (then open http://127.0.0.1:8080)
    """
    import threading
    from wsgiref.simple_server import make_server

    from optuna_dashboard import wsgi

    from hpsearch.launch.stopping import call_on_stop_signal
    from hpsearch.store.urls import mask, storage_url

    url = storage_url(storage)
    optuna_storage = _open_storage(url, read_only=True)  # it only reads; a read-only file will do
    try:  # listening before the address is announced: "cannot listen" comes first, not after
        server = make_server(host, port, wsgi(optuna_storage))
    except OSError as error:
        _fail(f"cannot listen on {host}:{port} ({error.strerror})", RUN_ERROR)

    # A stop signal (Ctrl-C, a container stop) ends the loop between requests. A KeyboardInterrupt
    # raised in the middle of one (a browser polls every few seconds) was swallowed by wsgiref's
    # error handler, which printed a traceback and served on: the stop was lost. shutdown() waits
    # for the loop, so it runs on its own thread.
    call_on_stop_signal(lambda: threading.Thread(target=server.shutdown, daemon=True).start())
    console.print(f"optuna-dashboard on http://{host}:{port} for {mask(url)} (Ctrl-C stops it)", highlight=False)
    with server:
        server.serve_forever()


def _study_name(reference: str) -> str:
    """A stored study's name, given as such or as the study file that names it."""
    return _load(reference).name if reference.endswith(".toml") else reference


def _unknown_study(name: str, url: str) -> NoReturn:
    from hpsearch.store.urls import mask

    _fail(f"no study named {name!r} in {mask(url)} (see `hpsearch list`)", USAGE_ERROR)


def _stored_study(reference: str, storage: str | None) -> tuple[optuna.Study, BaseStorage]:
    """A stored study through Optuna, for the commands that need all of it (report, export), and
    the storage it was opened on."""
    import optuna

    from hpsearch.store.urls import missing_sqlite_file, storage_url

    name, url = _study_name(reference), storage_url(storage)
    if missing_sqlite_file(url):  # opening it would create an empty database file
        _unknown_study(name, url)
    optuna_storage = _open_storage(url, read_only=True)
    try:
        return optuna.load_study(study_name=name, storage=optuna_storage), optuna_storage
    except KeyError:
        _unknown_study(name, url)


def _snapshot(reference: str, storage: str | None) -> StudySnapshot:
    """A stored study read straight from its tables (fast on thousands of trials), for `summary`."""
    from hpsearch.store.snapshot import SnapshotError, UnknownStudy, read_snapshot
    from hpsearch.store.storage import quiet_optuna
    from hpsearch.store.urls import missing_sqlite_file, storage_url

    quiet_optuna()

    name, url = _study_name(reference), storage_url(storage)
    try:
        if missing_sqlite_file(url):
            raise UnknownStudy(name)
        return read_snapshot(url, name)
    except UnknownStudy:
        _unknown_study(name, url)
    except SnapshotError as error:
        _fail(str(error), RUN_ERROR)


@app.command()
def summary(
    study: Annotated[str, typer.Argument(help="Study name in the storage (or its study file).")],
    storage: StorageOpt = None,
    format: Annotated[
        str, typer.Option("--format", help="table, json, csv or markdown (json is documented and stable).")
    ] = "table",
    top: Annotated[int, typer.Option(min=1, help="Trials in the top-trials table.")] = 10,
) -> None:
    """Say what a study found: best trial vs baseline, importances, compute, diagnoses.

    Example: hpsearch summary cifar-dropout --format json > summary.json
    """
    import json

    from hpsearch.analysis.summary import TOP_HEADER, as_csv, as_markdown, headline, summarize, top_rows

    if format not in ("table", "json", "csv", "markdown"):
        _fail(f"unknown format {format!r} (use table, json, csv or markdown)", USAGE_ERROR)
    found = summarize(_snapshot(study, storage))
    if format == "json":
        print(json.dumps(found, indent=2))
    elif format == "csv":
        print(as_csv(found), end="")
    elif format == "markdown":
        print(as_markdown(found, top), end="")
    else:
        for line in headline(found):
            console.print(line, highlight=False)
        table = Table(title="Top trials", title_justify="left")
        for column in TOP_HEADER:
            table.add_column(column)
        for cells in top_rows(found, top):
            table.add_row(*cells)
        console.print(table)
        if found["importances"]:
            shares = Table(title="Parameter importances (PED-ANOVA)", title_justify="left")
            shares.add_column("parameter")
            shares.add_column("importance")
            for name, share in found["importances"].items():
                shares.add_row(name, f"{share:.3f}")
            console.print(shares)


@app.command()
def report(
    study: Annotated[str, typer.Argument(help="Study name in the storage (or its study file).")],
    out: Annotated[Path, typer.Option(help="The HTML file to write.")] = Path("report.html"),
    storage: StorageOpt = None,
) -> None:
    """Write one self-contained HTML page (works offline) with the study's plots and summary.

    Example: hpsearch report cifar-dropout --out cifar-dropout.html
    """
    from hpsearch.analysis.report import render_report

    page = render_report(_stored_study(study, storage)[0])
    try:
        out.write_text(page, encoding="utf-8")
    except OSError as error:
        _fail(f"cannot write {out} ({error.strerror})", USAGE_ERROR)
    console.print(f"Wrote {out} ({len(page) // 1024} KiB)", highlight=False)


@app.command()
def export(
    study: Annotated[str, typer.Argument(help="Study name in the storage (or its study file).")],
    out: Annotated[Path, typer.Option(help="Directory for model.keras, trial.json and curves.json.")],
    trial: Annotated[str, typer.Option(help="Trial number, or best.")] = "best",
    storage: StorageOpt = None,
    data: DataOpt = None,
) -> None:
    """Retrain a trial's network on all training images, test it, and save it.

    Example: hpsearch export cifar-dropout --trial best --out exported/cifar-dropout
    """
    from hpsearch.data.sources import DataError, load_splits
    from hpsearch.train.native_logs import filter_native_stderr
    from hpsearch.store.records import DATA_ATTR, SEED_ATTR, why_no_network
    from hpsearch.space.spec import DataSpec

    filter_native_stderr()
    from hpsearch.search.confirm import confirmed_winner

    stored, optuna_storage = _stored_study(study, storage)
    winner = confirmed_winner(optuna_storage, stored.study_name) if trial == "best" else None
    if winner is not None:  # the confirm round judged the winners over longer training
        stored, _ = _stored_study(winner.study_name, storage)
        chosen = winner.trial
        console.print(f"Exporting the confirmed winner: trial {chosen.number} of {stored.study_name}, "
                      f"trial {winner.search_trial} of the search.", highlight=False)
    elif trial == "best":
        try:
            chosen = stored.best_trial
        except ValueError:
            _fail(f"study {stored.study_name!r} has no completed trial yet", USAGE_ERROR)
    else:
        trials = stored.get_trials(deepcopy=False)
        if not trial.isdigit() or int(trial) >= len(trials):
            _fail(f"no trial {trial!r} in study {stored.study_name!r} (0..{len(trials) - 1} or best)", USAGE_ERROR)
        chosen = trials[int(trial)]
    problem = why_no_network(chosen)
    if problem:
        _fail(problem, USAGE_ERROR)
    try:  # before the minutes of retraining, not after
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        _fail(f"cannot write into --out {out} ({error.strerror}); name a directory", USAGE_ERROR)
    recorded = stored.user_attrs.get(DATA_ATTR)
    if recorded is None and data is None:
        _fail(f"study {stored.study_name!r} did not record its data; name it with --data", USAGE_ERROR)
    settings = DataSpec.model_validate(recorded or {"dataset": data})
    seed = int(stored.user_attrs.get(SEED_ATTR, 0))
    try:
        splits = load_splits(data or settings.dataset, seed=seed, **settings.split_settings())
    except DataError as error:
        _fail(str(error), USAGE_ERROR)
    from hpsearch.train.export import export_trial  # loads TensorFlow

    result = export_trial(stored, chosen, splits, out, seed)
    console.print(
        f"Trial {chosen.number} retrained on {len(splits.x_train) + len(splits.x_val)} images for "
        f"{result.epochs} epochs ({result.seconds:.0f} s): test accuracy {result.test_accuracy:.4f}. "
        f"Saved model.keras, trial.json and curves.json in {out}",
        highlight=False,
    )


@app.command()
def confirm(
    study: StudyArg,
    top: Annotated[int, typer.Option(min=1, help="How many of the best complete trials to retrain.")] = 5,
    epochs: Annotated[Optional[int], typer.Option(
        min=1, help="Epochs of each retraining; default 4 times the study's.")] = None,
    storage: StorageOpt = None,
    checkpoints: CheckpointsOpt = None,
    force: ForceOpt = False,
) -> None:
    """Retrain the study's best trials for longer and say whether their order held; `export` then
    uses the confirmed winner. Run it on several machines with one --storage to share the work.

    Example: hpsearch confirm cifar-dropout --top 5 --epochs 60
    """
    import optuna

    from hpsearch.launch import stopping
    from hpsearch.search.confirm import LONGER, confirm_spec, queue_winners, winners
    from hpsearch.train.native_logs import filter_native_stderr
    from hpsearch.space.spec import SpecError
    from hpsearch.search.study import keep_settings, kept_settings, open_study
    from hpsearch.store.urls import checkpoint_dir

    stopping.stop_gracefully()
    spec, url, optuna_storage = _prepare(study, storage, trials=None, budget=None, keep_stored_target=True)
    try:
        search = optuna.load_study(study_name=spec.name, storage=optuna_storage)
    except KeyError:
        _unknown_study(spec.name, url)
    chosen = winners(search, top)
    if not chosen:
        _fail(f"study {spec.name!r} has no complete trial to confirm yet", USAGE_ERROR)
    planned = confirm_spec(spec, len(chosen), epochs or LONGER * spec.training.epochs)
    try:  # a confirm round already under way keeps its length
        kept, _ = keep_settings(planned, kept_settings(optuna_storage, planned.name), {"epochs": epochs})
        round_spec = planned.with_overrides(epochs=kept.get("epochs"))
    except SpecError as error:
        _fail(str(error), USAGE_ERROR)
    filter_native_stderr()
    queued = queue_winners(open_study(round_spec, optuna_storage), chosen)
    console.print(f"Confirm round [bold]{round_spec.name}[/]: the best {len(chosen)} trials of {spec.name} "
                  f"retrained for {round_spec.training.epochs} epochs ({len(queued)} newly queued)", highlight=False)
    splits = _load_checked_data(round_spec, force)
    from hpsearch.search.confirm import run_confirmations  # loads TensorFlow
    from hpsearch.launch.progress import LiveProgress

    try:
        with LiveProgress(console, round_spec, optuna_storage) as live:
            confirmed = run_confirmations(round_spec, optuna_storage, splits, checkpoint_dir(url, checkpoints),
                                          on_trial=live.on_trial)
    except KeyboardInterrupt:
        confirmed = None
    if confirmed is None or stopping.stop_requested():
        _fail("interrupted; the running trial is queued again and `hpsearch confirm` continues",
              stopping.SIGNAL_EXIT_CODE)
    _print_confirmations(search, confirmed, spec.training.epochs, round_spec.training.epochs)


def _print_confirmations(search: optuna.Study, confirmed: optuna.Study, short: int, long: int) -> None:
    """The winners side by side at both lengths, and whether their order held."""
    from hpsearch.search.confirm import confirmations, rank_agreement

    rows = confirmations(search, confirmed)
    table = Table(title=f"Confirmed: {short} against {long} epochs", title_justify="left")
    for column in ("rank", "trial", f"best at {short} epochs", f"best at {long} epochs", "test accuracy",
                   "confirm trial"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row.rank), str(row.trial), f"{row.short_value:.4f}",
                      "-" if row.long_value is None else f"{row.long_value:.4f}",
                      "-" if row.test_accuracy is None else f"{row.test_accuracy:.4f}",
                      "-" if row.confirm_trial is None else str(row.confirm_trial))
    console.print(table)
    maximize = search.direction.name == "MAXIMIZE"
    done = [row for row in rows if row.long_value is not None]
    if not done:
        _fail("no winner was retrained successfully; see `hpsearch summary` of the confirm round", RUN_ERROR)
    best = max(done, key=lambda r: r.long_value if maximize else -r.long_value)  # type: ignore[operator]
    rho = rank_agreement(rows, maximize)
    order = "" if rho is None else f"rank agreement {rho:+.2f} (Spearman; 1: the order held). "
    verdict = ("The search's winner held" if best.rank == 1 else
               f"Trial {best.trial} (rank {best.rank} in the search) overtook the search's winner")
    console.print(f"{order}{verdict}: trial {best.trial} is best over {long} epochs. "
                  f"`hpsearch export {search.study_name} --out DIR` exports it.", highlight=False)


@app.command()
def doctor(
    study: Annotated[Optional[str], typer.Argument(help="Study whose dataset to check.")] = None,
    data: DataOpt = None,
) -> None:
    """Check a dataset for the mistakes that keep CNNs stuck: unscaled test sets, blank images,
    NaNs, bad labels, class imbalance, images shared between train and test. `run` does this too.

    Example: hpsearch doctor --data ../shared/data/cifar10-subset.npz
    """
    from hpsearch.data.sources import DataError, load_raw
    from hpsearch.data.doctor import examine

    if data is None and study is None:
        _fail("name a study or give --data PATH", USAGE_ERROR)
    source = data or _load(str(study)).data.dataset
    try:
        findings = examine(load_raw(source))
    except DataError as error:
        _fail(str(error), USAGE_ERROR)
    if not findings:
        console.print(f"{source}: no problems found.", highlight=False)
        return
    _print_findings(findings)
    if any(f.severity == "severe" for f in findings):
        raise typer.Exit(RUN_ERROR)


@app.command("list")
def list_studies(storage: StorageOpt = None) -> None:
    """List the study files and the studies in the storage, with their progress.

    Example: hpsearch list --storage postgresql://hpsearch@db.example/hpsearch
    """
    from hpsearch.space.spec import SpecError, load_spec, study_files

    files = Table(title="Study files", title_justify="left")
    for column in ("name", "dataset", "search", "epochs", "file"):
        files.add_column(column)
    for name, path in study_files().items():
        try:
            spec = load_spec(str(path))
        except SpecError as error:
            files.add_row(name, "[red]invalid[/]", "", "", str(error))
            continue
        files.add_row(
            name, spec.data.dataset, spec.search.goal(), str(spec.training.epochs), _short(path)
        )
    console.print(files)
    from hpsearch.store.snapshot import SnapshotError, read_overviews
    from hpsearch.store.urls import mask, missing_sqlite_file, storage_url

    url = storage_url(storage)
    path = missing_sqlite_file(url)
    if path is not None:
        console.print(f"No studies stored yet ({path} does not exist).", highlight=False)
        return
    try:
        stored = read_overviews(url)
    except SnapshotError as error:
        _fail(str(error), RUN_ERROR)
    table = Table(title=f"Studies in {mask(url)}", title_justify="left")
    for column in ("name", "finished", "best", "states", "description"):
        table.add_column(column)
    for entry in stored:
        best = entry.progress.best_value
        table.add_row(
            entry.name,
            f"{entry.progress.finished}/{entry.progress.target}" if entry.progress.has_target
            else str(entry.progress.finished),
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
        + f"\nsearch: {search.goal()}, {search.direction} {search.metric}, "
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
