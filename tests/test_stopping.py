"""Stop signals at many different moments never leave a trial RUNNING or lose one.

Each round starts a real `hpsearch run` (one worker in the process, or a pool of worker
processes) on SQLite or a real PostgreSQL, waits for a moment in its life (the study being
created, a trial being asked for, mid-epoch, between trials, or a seeded random delay), sends
SIGTERM or SIGINT, and checks: the run exits 130 (or was killed by the signal before it held
anything), nothing is left RUNNING, every interrupted trial is queued again with the same
parameters, no worker outlives the run, and no traceback is printed.
"""

from __future__ import annotations

import random
import signal
from pathlib import Path

import pytest

from tests.interruptions import MOMENTS, stop_run

pytestmark = pytest.mark.timeout(600)
ROUNDS_SEED = 12  # the random moments are drawn from this seed, so a failure can be replayed


def _rounds(tmp_path: Path, url: str, workers: int, signals: list[signal.Signals]) -> None:
    """One round per moment, then three at seeded random delays; each on a fresh study."""
    chooser = random.Random(ROUNDS_SEED + workers)
    plans = [(moment, 0.0) for moment in MOMENTS] + [(None, chooser.uniform(0, 8)) for _ in range(3)]
    for index, (moment, delay) in enumerate(plans):
        round_ = stop_run(tmp_path, url, workers, signals[index % len(signals)], moment, delay)
        assert round_.exit_code == 130 or round_.held_nothing, f"{round_.what}: exit {round_.exit_code}\n{round_.output}"
        assert "Traceback" not in round_.output and "Exception ignored" not in round_.output, round_.output
        assert not round_.survivors, f"{round_.what}: processes outlived the run"
        assert round_.running_left == 0, f"{round_.what}: a trial left RUNNING\n{round_.output}"
        assert not round_.other_failures, f"{round_.what}: {round_.other_failures}"
        assert not round_.not_requeued, f"{round_.what}: interrupted trials {round_.not_requeued} not queued again"


def test_one_worker_stopped_at_any_moment_on_sqlite(tmp_path: Path) -> None:
    _rounds(tmp_path, f"sqlite:///{tmp_path}/stop.db", 1, [signal.SIGINT, signal.SIGTERM])


def test_worker_pool_stopped_at_any_moment_on_postgres(tmp_path: Path, database: str) -> None:
    _rounds(tmp_path, database, 2, [signal.SIGTERM, signal.SIGINT])
