"""Running a study from Python or the command line: `run` (and resume) on an engine (one worker
here, a pool of worker processes, Ray actors), and `join` for one more worker. The CLI is a thin
shell around these.

Failures a user can fix raise `LaunchError` with one sentence and the exit code the CLI uses.
A Keras backend is imported only once the study, storage and data have been checked.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from rich.console import Console

from hpsearch.errors import LaunchError
from hpsearch.launch import arguments
from hpsearch.launch.arguments import PathText, StudyReference
from hpsearch.launch.backend_check import DEFAULT_BACKEND, stated_backend, use_backend
from hpsearch.launch.engines import EngineRequest, RunContext, WorkerTask, engine_for
from hpsearch.launch.guards import refusals_leave_no_storage, stopping_gracefully
from hpsearch.launch.run_options import JoinOptions, RunOptions, keyword_options
from hpsearch.launch.supervise import supervise, work_here
from hpsearch.search.reconcile import open_checked, prepare, study_name, unknown_study

if TYPE_CHECKING:
    import optuna

    from hpsearch.space.spec import StudySpec
    from hpsearch.store.snapshot import Progress

__all__ = ["LaunchError", "join", "load", "run"]


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


@stopping_gracefully
@arguments.checked_arguments
@refusals_leave_no_storage
@keyword_options(RunOptions)
def run(study: StudyReference, *, console: Console | None = None, **flags: Any) -> Progress:
    """Create (or continue) a study and run trials until it has its target of finished trials or
    has spent its budget; returns where it stands. `study` is a study name, a study file, or a
    `StudySpec` built in Python; the keyword arguments are the `hpsearch run` flags (`RunOptions`).

    >>> import hpsearch
    >>> progress = hpsearch.run("digits-quick", trials=4, epochs=2, storage="sqlite:///hpsearch.db")
    >>> progress.done
    True

    `engine` runs the workers (`engines.ENGINES`): `local` (the default) trains in this process,
    or with `workers` or GPUs in worker processes; `ray` (the default when `ray` gives a cluster's
    address, `auto`, or `local` for one started here) in Ray actors; `slurm` as a Slurm job array of
    `workers` tasks, submitted with the sbatch options in `sbatch`. `resume` keeps the stored target
    and budget unless given. A stop signal ends the trials at a safe point, queued again, and raises
    LaunchError with the signal's exit code.
    """
    from hpsearch.search.study import budget_use, study_progress

    options = RunOptions(**flags)
    console = console or Console()
    # Every check that can refuse the command comes before the storage is opened or written to.
    backend = stated_backend(options.backend)
    chosen = engine_for(options.engine, EngineRequest(options.workers, options.gpus, options.workers_per_gpu,
                                                      options.ray, options.sbatch))
    spec, url, optuna_storage = prepare(
        study, options.storage, console, keep_stored_target=options.resume, must_exist=options.resume,
        **{**options.spec_overrides(), "backend": backend},
    )
    backend = use_backend(spec.training.backend)
    if options.resume:
        import optuna

        stored = optuna.load_study(study_name=spec.name, storage=optuna_storage)
        progress = study_progress(stored, optuna_storage)
        if progress.finished >= spec.search.trials:
            console.print(f"Study {spec.name} is already finished: {progress.finished} of "
                          f"{spec.search.trials} trials ({progress.states_text()}).", highlight=False)
            return progress
        use = budget_use(stored, spec.search.budget)
        if use is not None and use.spent:
            console.print(f"Study {spec.name} has spent its {use.describe()}; {progress.finished} trials "
                          f"finished ({progress.states_text()}). A larger --budget continues it.",
                          highlight=False)
            return progress
    _announce(spec, url, backend, console)
    checkpoint_root = chosen.checkpoints(url, options.checkpoints)
    if chosen.in_this_process():
        return work_here(spec, optuna_storage, checkpoint_root, None, options.force, console)
    # The workers read the study (its spec, target and budget) from the storage; only what is this
    # run's own is passed to them.
    training = spec.training
    task = WorkerTask(spec.name, JoinOptions(
        checkpoints=str(checkpoint_root), backend=backend, precision=training.precision, xla=training.jit_compile,
        steps_per_execution=training.steps_per_execution, force=options.force))
    with chosen.workers(RunContext(spec, optuna_storage, url, task, join, console)) as started:
        return supervise(spec, optuna_storage, started, console)


@stopping_gracefully
@arguments.checked_arguments
@refusals_leave_no_storage
@keyword_options(JoinOptions)
def join(study: StudyReference, *, console: Console | None = None, **flags: Any) -> Progress:
    """Join a study as one more worker in this process (`hpsearch worker`): it trains what the
    study stored, until the study's target or budget; `trials` moves the target."""
    from hpsearch.store.urls import writable_checkpoints

    options = JoinOptions(**flags)
    console = console or Console()
    backend = stated_backend(options.backend)
    spec, url, optuna_storage = prepare(study, options.storage, console, keep_stored_target=True,
                                        **{**options.spec_overrides(), "backend": backend})
    _announce(spec, url, use_backend(spec.training.backend), console)
    seed_here = options.sampler_seed if options.sampler_seed is not None else secrets.randbelow(2**31)
    return work_here(spec, optuna_storage, writable_checkpoints(url, options.checkpoints), seed_here, options.force,
                     console)


def _announce(spec: StudySpec, url: str, backend: str, console: Console) -> None:
    from hpsearch.store.urls import mask

    console.print(
        f"Study [bold]{spec.name}[/]: {spec.search.goal(f' of {spec.training.epochs} epochs')} "
        f"on {spec.data.dataset}, storage {mask(url)}" + ("" if backend == DEFAULT_BACKEND else f", Keras on {backend}"),
        highlight=False,
    )
