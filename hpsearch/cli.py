"""The `hpsearch` command line: parse, call, print. Logic lives in the modules it calls.

TensorFlow is imported only by the commands that train (`run`, `resume`, `worker`, `export`), after
the study and storage are checked, so every other command (and `--help`) starts in well under a second.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from hpsearch.launch import stopping
from hpsearch.launch.launcher import (
    RUN_ERROR,
    USAGE_ERROR,
    LaunchError,
    load,
    open_checked,
    print_findings,
    study_name,
    unknown_study,
)
from hpsearch.space.catalogue import PARAMETERS
from hpsearch.space.execution import PRECISIONS

if TYPE_CHECKING:
    import optuna
    from optuna.storages import BaseStorage

    from hpsearch.store.snapshot import Progress, StudySnapshot
    from hpsearch.space.spec import StudySpec

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


def _guarded(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`call(...)`, its LaunchError said in one sentence with its exit code."""
    try:
        return call(*args, **kwargs)
    except LaunchError as error:
        _fail(error.message, error.exit_code)


def _exit_unless_done(progress: Progress) -> None:
    """Exit 0 when the study reached its target or spent its budget, else 1."""
    if not (progress.done or progress.budget_spent):
        raise typer.Exit(RUN_ERROR)


def _open_storage(url: str, read_only: bool = False) -> BaseStorage:
    return _guarded(open_checked, url, read_only)


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
RayOpt = Annotated[
    Optional[str],
    typer.Option(help="Run the workers as actors on a Ray cluster: auto, host:port or ray://host:10001; "
                 "--ray alone starts Ray here for this run. Needs pip install 'hpsearch\\[ray]'."),
]
Precision = Enum("Precision", {name: name for name in PRECISIONS}, type=str)  # type: ignore[misc]


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


SamplerSeedOpt = Annotated[
    Optional[int], typer.Option(help="Seed of this worker's sampler; default random, so workers differ.")
]
# Every option of the commands that train, declared once: name -> (type and help, default).
TRAINING_OPTIONS: dict[str, tuple[Any, Any]] = {
    "storage": (StorageOpt, None), "trials": (TrialsOpt, None), "budget": (BudgetOpt, None),
    "epochs": (EpochsOpt, None), "data": (DataOpt, None), "subset": (SubsetOpt, None), "seed": (SeedOpt, None),
    "sampler_seed": (SamplerSeedOpt, None), "workers": (WorkersOpt, None), "gpus": (GpusOpt, None),
    "workers_per_gpu": (PerGpuOpt, 1), "ray": (RayOpt, None), "precision": (PrecisionOpt, None),
    "xla": (XlaOpt, None), "steps_per_execution": (StepsOpt, None), "checkpoints": (CheckpointsOpt, None),
    "force": (ForceOpt, False),
}


def _with_options(*names: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command `(study, **options)` the named TRAINING_OPTIONS, in that order, as Typer
    reads them from its signature; the option values reach it as plain values."""

    def declare(command: Callable[..., None]) -> Callable[..., None]:
        def call(study: str, **options: Any) -> None:
            precision = options.get("precision")
            command(study, **{**options, **({"precision": precision.value} if precision else {})})

        parameters = [inspect.Parameter("study", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=StudyArg)]
        parameters += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=TRAINING_OPTIONS[name][0],
                                         default=TRAINING_OPTIONS[name][1]) for name in names]
        call.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        call.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
        call.__name__, call.__doc__ = command.__name__, command.__doc__
        return call

    return declare


def _launcher(resume: bool) -> Callable[..., None]:
    """The `run` and `resume` commands: the same options, a different target and start."""

    @_with_options("trials", "budget", "epochs", "storage", "data", "subset", "seed", "workers", "gpus",
                   "workers_per_gpu", "ray", "precision", "xla", "steps_per_execution", "checkpoints", "force")
    def launch(study: str, **options: Any) -> None:
        from hpsearch.launch.launcher import run

        stopping.stop_gracefully()  # for the whole process, from before the first check to the exit
        _exit_unless_done(_guarded(run, study, resume=resume, console=console, **options))

    return launch


app.command(
    "run",
    help="Create or continue a study and run trials until it has its target of finished trials, or "
    "has spent its --budget.\n\n"
    "Example: hpsearch run cifar-dropout --data ../shared/data/cifar10-subset.npz --trials 4 --epochs 2"
    "\n\nExample: hpsearch run cifar-architecture --budget 2h   (trials until two hours are spent)"
    "\n\nExample: hpsearch run cifar-architecture --workers 4 --storage postgresql://user@db/hpsearch"
    "\n\nExample: hpsearch run cifar-dropout --ray auto --workers-per-gpu 2 --storage postgresql://user@db/hpsearch",
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
@_with_options("storage", "trials", "epochs", "data", "subset", "seed", "sampler_seed", "precision", "xla",
               "steps_per_execution", "checkpoints", "force")
def worker(study: str, **options: Any) -> None:
    """Join a study as one worker process (for other machines and containers).

    The target and budget are the study's stored ones unless --trials is given; however many
    workers join, the study ends with exactly its target of finished trials, or when its budget
    is spent.

    Example: HPSEARCH_STORAGE=postgresql://user:pass@db/hpsearch hpsearch worker cifar-dropout
    """
    from hpsearch.launch.launcher import join

    stopping.stop_gracefully()  # for the whole process, from before the first check to the exit
    _exit_unless_done(_guarded(join, study, console=console, **options))


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


def _unknown_study(name: str, url: str) -> NoReturn:
    error = unknown_study(name, url)
    _fail(error.message, error.exit_code)


def _snapshot(reference: str, storage: str | None) -> StudySnapshot:
    """A stored study read straight from its tables (fast on thousands of trials), for `summary`."""
    from hpsearch.store.snapshot import SnapshotError, UnknownStudy, read_snapshot
    from hpsearch.store.storage import quiet_optuna
    from hpsearch.store.urls import missing_sqlite_file, storage_url

    quiet_optuna()

    name, url = _guarded(study_name, reference), storage_url(storage)
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

    page = render_report(_guarded(load, study, storage))
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
    from hpsearch.launch.winners import export as export_trial

    _guarded(export_trial, study, out=out, trial=trial, storage=storage, data=data, console=console)


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
    from hpsearch.launch.winners import confirm as confirm_round
    from hpsearch.store.records import EPOCHS_ATTR

    stopping.stop_gracefully()
    search, confirmed = _guarded(confirm_round, study, top=top, epochs=epochs, storage=storage,
                                 checkpoints=checkpoints, force=force, console=console)
    _print_confirmations(search, confirmed, int(search.user_attrs.get(EPOCHS_ATTR, 0)),
                         int(confirmed.user_attrs.get(EPOCHS_ATTR, 0)))


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
    print_findings(findings, console)
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


def _ray_alone_means_local(args: list[str]) -> list[str]:
    """`--ray` with no address after it (Typer options cannot take an optional value): `--ray local`."""
    from hpsearch.launch.ray_workers import LOCAL

    given = []
    for index, arg in enumerate(args):
        given.append(arg)
        following = args[index + 1] if index + 1 < len(args) else ""
        if arg == "--ray" and not (following in ("auto", LOCAL) or ":" in following):
            given.append(LOCAL)
    return given


def main() -> None:
    app(args=_ray_alone_means_local(sys.argv[1:]))
