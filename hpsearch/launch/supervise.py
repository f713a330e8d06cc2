"""Watching a run to its end: one worker in this process, or an engine's workers supervised
until they are all done; either way the run ends with where the study stands, and a stop leaves no
trial RUNNING."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from hpsearch.errors import RUN_ERROR, USAGE_ERROR, LaunchError
from hpsearch.launch.data_check import load_checked_data, refuse_other_data
from hpsearch.lifecycle import stopping

if TYPE_CHECKING:
    import optuna
    from optuna.storages import BaseStorage

    from hpsearch.launch.engines.base import Workers
    from hpsearch.launch.progress import LiveProgress
    from hpsearch.space.spec import StudySpec
    from hpsearch.store.snapshot import Progress


def _finish(study: optuna.Study, live: LiveProgress) -> Progress:
    """Say why the run ended, and return where the study stands."""
    from hpsearch.search.study import study_progress

    progress = study_progress(study, live.storage)
    live.print_outcome(progress)
    return progress


def work_here(
    spec: StudySpec, optuna_storage: BaseStorage, checkpoints: Path, sampler_seed: int | None, force: bool,
    console: Console,
) -> Progress:
    """Run trials in this process (one worker). A study with nothing left to train (its target reached,
    its budget spent) says so without loading TensorFlow: a worker joining late exits in a second."""
    from hpsearch.launch.progress import LiveProgress
    from hpsearch.train.native_logs import filter_native_stderr

    filter_native_stderr()
    splits = load_checked_data(spec, force, console)
    refuse_other_data(spec, optuna_storage, splits)  # before TensorFlow loads: a refusal comes in a second
    from hpsearch.search.study import DataMismatch, open_study, study_progress

    study = open_study(spec, optuna_storage, sampler_seed=sampler_seed)
    if study_progress(study, optuna_storage, active=True).over:  # nothing to train: say so without TensorFlow
        return _finish(study, LiveProgress(console, spec, optuna_storage))
    from hpsearch.launch.worker import RepeatedFailures, run_worker  # loads TensorFlow

    finished = False
    try:
        with LiveProgress(console, spec, optuna_storage) as live:
            run_worker(spec, optuna_storage, study, splits, checkpoints, on_trial=live.on_trial)
            finished = True
    except KeyboardInterrupt:
        pass
    except RepeatedFailures as error:
        raise LaunchError(str(error), RUN_ERROR) from None
    except DataMismatch as error:
        raise LaunchError(str(error), USAGE_ERROR) from None
    if not finished or stopping.signal_received():  # a spent time budget is no interruption
        raise LaunchError("interrupted; the running trial is queued again and `hpsearch resume` continues",
                          stopping.SIGNAL_EXIT_CODE)
    return _finish(study, live)


def _poll_tolerantly(live: LiveProgress, study: optuna.Study, workers: Workers) -> None:
    """Refresh the display; a storage hiccup (the workers ride it out too) skips one refresh."""
    from hpsearch.store.storage import is_storage_failure

    try:
        live.poll(study, workers.state())
    except Exception as error:
        if not is_storage_failure(error):
            raise


def supervise(spec: StudySpec, optuna_storage: BaseStorage, workers: Workers, console: Console) -> Progress:
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
                _poll_tolerantly(live, study, workers)
                stopping.pause(1.0)
            _release_tolerantly(study, workers.lost())
            if not stopping.stop_requested():
                live.poll(study, workers.state())
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
