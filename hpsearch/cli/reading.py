"""The commands that read: `dashboard`, `summary`, `report`, `doctor`, `list` and `show`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from hpsearch.cli.options import DataOpt, StorageOpt, StudyArg
from hpsearch.cli.shell import app, console, errors, fail, guarded, load_study_file, open_storage, read_study, short
from hpsearch.errors import RUN_ERROR, USAGE_ERROR
from hpsearch.launch.data_check import print_findings
from hpsearch.launch.launcher import load
from hpsearch.space.catalogue import PARAMETERS
from hpsearch.space.starting_points import starting_points


def _loopback_only(host: str, port: int) -> bool:
    """Whether `host` is loopback only; refuses an empty host (every interface, said by nothing)
    and one that is neither an address nor a name this machine resolves, before anything is
    created or bound."""
    import ipaddress
    import socket

    if not host.strip():
        fail("--host is empty, which would listen on every network interface; give 127.0.0.1, or 0.0.0.0 "
             "to share the dashboard on purpose", USAGE_ERROR)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        fail(f"--host {host!r} is neither an IP address nor a host name this machine can resolve", USAGE_ERROR)
    return all(ipaddress.ip_address(str(address[4][0]).partition("%")[0]).is_loopback for address in found)


def _not_ready(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """The application of a server bound before its storage is opened (it serves nothing yet)."""
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting"]


@app.command()
def dashboard(
    storage: StorageOpt = None,
    host: Annotated[str, typer.Option(
        help="Address to bind; loopback unless you mean to share it (0.0.0.0: every interface, and the "
        "dashboard has no login).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
) -> None:
    """Start optuna-dashboard on the study storage, for live inspection in a browser.

    Example: hpsearch dashboard --port 8080   (then open http://127.0.0.1:8080)
    """
    import threading
    from wsgiref.simple_server import make_server

    from optuna_dashboard import wsgi

    from hpsearch.lifecycle.stopping import call_on_stop_signal
    from hpsearch.store.urls import STORAGE_ENV, mask, missing_sqlite_file, storage_url

    url = storage_url(storage)
    if not _loopback_only(host, port):
        errors.print(f"[yellow]warning:[/] the dashboard has no login: anyone who can reach {escape(host)}:{port} "
                     "can read every study in the storage", highlight=False, soft_wrap=True)
    try:  # listening before the address is announced: "cannot listen" comes first, not after
        server = make_server(host, port, _not_ready)
    except OSError as error:
        fail(f"cannot listen on {host}:{port} ({error.strerror})", RUN_ERROR)
    missing = missing_sqlite_file(url)  # opening it would create an empty database, and serve that
    if missing is not None:
        server.server_close()
        fail(f"there is no storage file {missing} (check --storage or ${STORAGE_ENV}; `hpsearch run` creates it)",
             USAGE_ERROR)
    server.set_app(wsgi(open_storage(url, read_only=True)))  # it only reads; a read-only file will do

    # A stop signal (Ctrl-C, a container stop) ends the loop between requests. A KeyboardInterrupt
    # raised in the middle of one (a browser polls every few seconds) was swallowed by wsgiref's
    # error handler, which printed a traceback and served on: the stop was lost. shutdown() waits
    # for the loop, so it runs on its own thread.
    call_on_stop_signal(lambda: threading.Thread(target=server.shutdown, daemon=True).start())
    console.print(f"optuna-dashboard on http://{host}:{port} for {mask(url)} (Ctrl-C stops it)", highlight=False)
    with server:
        server.serve_forever()


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
        fail(f"unknown format {format!r} (use table, json, csv or markdown)", USAGE_ERROR)
    found = summarize(read_study(study, storage))
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

    page = render_report(guarded(load, study, storage))
    try:
        out.write_text(page, encoding="utf-8")
    except OSError as error:
        fail(f"cannot write {out} ({error.strerror})", USAGE_ERROR)
    console.print(f"Wrote {out} ({len(page) // 1024} KiB)", highlight=False)


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
    from hpsearch.train.native_logs import filter_native_stderr

    if data is None and study is None:
        fail("name a study or give --data PATH", USAGE_ERROR)
    filter_native_stderr()  # Keras's datasets load TensorFlow, whose native start-up lines are noise here
    source = data or load_study_file(str(study)).data.dataset
    try:
        findings = examine(load_raw(source))
    except DataError as error:
        fail(str(error), USAGE_ERROR)
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
    from hpsearch.errors import SpecError
    from hpsearch.space.study_files import load_spec, study_files

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
            name, spec.data.dataset, spec.search.goal(), str(spec.training.epochs), short(path)
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
        fail(str(error), RUN_ERROR)
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
    spec = load_study_file(study)
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
    if spec.search.warm_start:
        from hpsearch.search.warm_start import WARM_STARTS_PER_STUDY

        console.print(f"Warm start: after the baselines, the best {WARM_STARTS_PER_STUDY} trials of each of "
                      f"{', '.join(spec.search.warm_start)} (earlier studies in the same storage), in this "
                      "study's space; a share of the sampler's trials is drawn near them.", highlight=False)
    if not spec.baselines:
        console.print("No baselines.")
        return
    starts = starting_points(spec)
    title = "Baselines (run first)" if len(starts) == len(spec.baselines) else \
        "Run first: the baselines, then each with the proven recipe"
    baselines = Table(title=title, title_justify="left")
    baselines.add_column("name")
    baselines.add_column("values")
    for baseline in starts:
        values = ", ".join(
            f"{k}={list(v) if isinstance(v, tuple) else v}" for k, v in baseline.values.items()
        )
        baselines.add_row(baseline.name, values + (f"\n[dim]{baseline.note}[/]" if baseline.note else ""))
    console.print(baselines)
