"""Stop signals at many different moments never leave a trial RUNNING or lose one.

Each round starts a real `hpsearch run` (one worker in the process, or a pool of worker
processes) on SQLite or a real PostgreSQL, waits for a moment in its life (the study being
created, a trial being asked for, mid-epoch, between trials, or a seeded random delay), sends
SIGTERM or SIGINT, and checks: the run exits 130 (or was killed by the signal before it held
anything), nothing is left RUNNING, every interrupted trial is queued again with the same
parameters, no worker outlives the run, and no traceback is printed.
"""

from __future__ import annotations

import os
import random
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from optuna.trial import FrozenTrial, TrialState

from hpsearch.records import INTERRUPTED, end_reason
from tests.helpers import (
    FAST_HEARTBEAT,
    REPO,
    count,
    processes_of,
    stored_trials,
    training_now,
    wait_until,
    write_study,
)

pytestmark = pytest.mark.timeout(600)
ROUNDS_SEED = 12  # the random moments are drawn from this seed, so a failure can be replayed


def _study(directory: Path, epochs: int) -> Path:
    """Trials of `epochs` short epochs on digits, more of them than a round will finish."""
    return write_study(
        directory, "stop-" + secrets.token_hex(3),
        f'[data]\ndataset = "digits"\n[training]\nepochs = {epochs}\n[search]\ntrials = 200\n'
        '[search.pruner]\ntype = "none"\n'
        "[space]\nblocks = 1\nconvs_per_block = 1\ndense_units = 16\n"
        "base_filters = { choices = [4, 8] }\nbatch_size = { choices = [32, 64] }\n"
        "learning_rate = { low = 1e-3, high = 1e-2, log = true }\n",
    )


def _trials_if_any(url: str, name: str) -> list[FrozenTrial]:
    try:
        return stored_trials(url, name)
    except KeyError:
        return []


def _moments(url: str, name: str) -> dict[str, Callable[[], bool]]:
    """Conditions that mark moments in a run's life; the signal is sent once one holds."""
    return {
        "study created": lambda: _study_exists(url, name),
        "trial asked for": lambda: count(_trials_if_any(url, name), TrialState.RUNNING) >= 1,
        "mid-epoch": lambda: training_now(url, name, 1),
        "between trials": lambda: count(_trials_if_any(url, name), TrialState.COMPLETE) >= 2,
    }


def _study_exists(url: str, name: str) -> bool:
    try:
        stored_trials(url, name)
    except KeyError:
        return False
    return True


def _start(study: Path, url: str, workers: int, log: Path) -> subprocess.Popen[bytes]:
    """`hpsearch run` with SIGINT at its default (a test runner in the background ignores it)."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "hpsearch", "run", str(study), "--storage", url, "--workers", str(workers)],
            cwd=REPO, env={**os.environ, "COLUMNS": "200", **FAST_HEARTBEAT},
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )


def _check_round(url: str, study: Path, run: subprocess.Popen[bytes], log: Path, what: str) -> None:
    code = run.wait(timeout=120)
    output = log.read_text(errors="replace")
    held_nothing = code < 0 and not _trials_if_any(url, study.stem)  # killed before its handler
    assert code == 130 or held_nothing, f"{what}: exit {code}\n{output}"
    assert "Traceback" not in output and "Exception ignored" not in output, f"{what}:\n{output}"
    wait_until(lambda: not processes_of(study), 30, f"{what}: the run's workers to exit")
    trials = _trials_if_any(url, study.stem)
    assert count(trials, TrialState.RUNNING) == 0, f"{what}: a trial left RUNNING\n{output}"
    waiting = [t.params for t in trials if t.state == TrialState.WAITING]
    for trial in trials:
        if trial.state == TrialState.FAIL:
            assert end_reason(trial) == INTERRUPTED, f"{what}: trial {trial.number}: {end_reason(trial)}"
            assert trial.params in waiting, f"{what}: interrupted trial {trial.number} not queued again"


def _rounds(tmp_path: Path, url: str, workers: int, signals: list[signal.Signals]) -> None:
    """One round per moment, then three at seeded random delays; each on a fresh study."""
    chooser = random.Random(ROUNDS_SEED + workers)
    plans: list[tuple[str, float | None]] = [(name, None) for name in
                                              ("study created", "trial asked for", "mid-epoch", "between trials")]
    plans += [(f"{delay:.1f} s after start", delay) for delay in (chooser.uniform(0, 8) for _ in range(3))]
    for index, (moment, delay) in enumerate(plans):
        study = _study(tmp_path, epochs=3 if moment == "between trials" else 40)
        sent = signals[index % len(signals)]
        what = f"{sent.name} at {moment} ({workers} worker(s))"
        log = tmp_path / f"round-{index}.log"
        run = _start(study, url, workers, log)
        try:
            if delay is None:
                wait_until(_moments(url, study.stem)[moment], 120, what)
            else:
                time.sleep(delay)  # the moment itself is what varies; nothing waits on it
        finally:
            run.send_signal(sent)
        _check_round(url, study, run, log, what)


def test_one_worker_stopped_at_any_moment_on_sqlite(tmp_path: Path) -> None:
    _rounds(tmp_path, f"sqlite:///{tmp_path}/stop.db", 1, [signal.SIGINT, signal.SIGTERM])


def test_worker_pool_stopped_at_any_moment_on_postgres(tmp_path: Path, database: str) -> None:
    _rounds(tmp_path, database, 2, [signal.SIGTERM, signal.SIGINT])
