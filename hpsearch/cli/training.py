"""The commands that train: `run`, `resume`, `worker`, `confirm` and `export`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.table import Table

from hpsearch.cli.options import CheckpointsOpt, DataOpt, ForceOpt, StorageOpt, StudyArg, option_names, with_options
from hpsearch.cli.shell import app, console, exit_unless_done, fail, guarded
from hpsearch.launch.run_options import JoinOptions, RunOptions
from hpsearch.lifecycle import stopping
from hpsearch.errors import RUN_ERROR

if TYPE_CHECKING:
    import optuna


def _launcher(resume: bool) -> Callable[..., None]:
    """The `run` and `resume` commands: the same options, a different target and start."""

    @with_options(*option_names(RunOptions, "resume"))
    def launch(study: str, **options: Any) -> None:
        from hpsearch.launch.launcher import run

        stopping.stop_gracefully()  # for the whole process, from before the first check to the exit
        if options["ray"] is None and options["engine"] in (None, "local"):  # elsewhere, the cluster's GPUs count
            _note_gpu_only_options(options["precision"], options["workers_per_gpu"])
        exit_unless_done(guarded(run, study, resume=resume, console=console, **options))

    return launch


app.command(
    "run",
    help="Create or continue a study and run trials until it has its target of finished trials, or "
    "has spent its --budget.\n\n"
    "Example: hpsearch run cifar-dropout --data ../shared/data/cifar10-subset.npz --trials 4 --epochs 2"
    "\n\nExample: hpsearch run cifar-architecture --budget 2h   (trials until two hours are spent)"
    "\n\nExample: hpsearch run cifar-architecture --workers 4 --storage postgresql://user@db/hpsearch"
    "\n\nExample: hpsearch run cifar-dropout --ray auto --workers-per-gpu 2 --storage postgresql://user@db/hpsearch"
    "\n\nExample: hpsearch run cifar-dropout --engine slurm --workers 8 --sbatch \"--partition=gpu --time=8:00:00 "
    "--gpus-per-task=1\" --storage postgresql://user@db/hpsearch",
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
@with_options(*option_names(JoinOptions))
def worker(study: str, **options: Any) -> None:
    """Join a study as one worker process (for other machines and containers).

    The target and budget are the study's stored ones unless --trials is given; however many
    workers join, the study ends with exactly its target of finished trials, or when its budget
    is spent.

    Example: HPSEARCH_STORAGE=postgresql://user:pass@db/hpsearch hpsearch worker cifar-dropout
    """
    from hpsearch.launch.launcher import join

    stopping.stop_gracefully()  # for the whole process, from before the first check to the exit
    _note_gpu_only_options(options["precision"])
    exit_unless_done(guarded(join, study, console=console, **options))


def _note_gpu_only_options(precision: str | None, workers_per_gpu: int = 1) -> None:
    """Say so when flags that only mean something on a GPU are given on a machine without one:
    --workers-per-gpu does nothing there, and mixed precision on a CPU trains slower and scored
    far worse than float32."""
    mixed = (precision or "").startswith("mixed")
    if not (workers_per_gpu > 1 or mixed):
        return
    from hpsearch.launch.engines.local import detect_gpus

    if detect_gpus():
        return
    if workers_per_gpu > 1:
        console.print(f"[yellow]note:[/] no GPU found, so --workers-per-gpu {workers_per_gpu} does nothing; "
                      "--workers N sets how many CPU workers run", highlight=False, soft_wrap=True)
    if mixed:
        console.print(f"[yellow]note:[/] no GPU found: --precision {precision} is for GPUs, and on a CPU it "
                      "trains slower and can score far worse than float32", highlight=False, soft_wrap=True)


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

    guarded(export_trial, study, out=out, trial=trial, storage=storage, data=data, console=console)


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
    from hpsearch.records import EPOCHS_ATTR

    stopping.stop_gracefully()
    search, confirmed = guarded(confirm_round, study, top=top, epochs=epochs, storage=storage,
                                 checkpoints=checkpoints, force=force, console=console)
    _print_confirmations(search, confirmed, int(search.user_attrs.get(EPOCHS_ATTR, 0)),
                         int(confirmed.user_attrs.get(EPOCHS_ATTR, 0)))


def _print_confirmations(search: optuna.Study, confirmed: optuna.Study, short: int, long: int) -> None:
    """The winners side by side at both lengths, and whether their order held."""
    from hpsearch.records import epochs_trained
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
        fail("no winner was retrained successfully; see `hpsearch summary` of the confirm round", RUN_ERROR)
    best = max(done, key=lambda r: r.long_value if maximize else -r.long_value)  # type: ignore[operator]
    rho = rank_agreement(rows, maximize)
    order = "" if rho is None else f"rank agreement {rho:+.2f} (Spearman; 1: the order held). "
    verdict = ("The search's winner held" if best.rank == 1 else
               f"Trial {best.trial} (rank {best.rank} in the search) overtook the search's winner")
    console.print(f"{order}{verdict}: trial {best.trial} is best over {long} epochs. "
                  f"`hpsearch export {search.study_name} --out DIR` exports it.", highlight=False)
    searched, retrained = epochs_trained(search.get_trials(deepcopy=False)), epochs_trained(
        confirmed.get_trials(deepcopy=False))
    console.print(f"Training spent: {searched} epochs in the search, {retrained} in the confirm round, "
                  f"{searched + retrained} in all.", highlight=False, soft_wrap=True)
