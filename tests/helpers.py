"""Test helpers: where the real data lives, running the real `hpsearch` command, and reading
back what it stored."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpsearch.store.storage import open_storage, quiet_optuna

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("HPSEARCH_TEST_DATA", REPO.parent / "shared" / "data"))
CIFAR = SHARED_DATA / "cifar10-subset.npz"
MNIST = SHARED_DATA / "mnist-subset.npz"


def signals_at_default() -> None:
    """Run in a child before exec: SIGINT at its default, whatever the process that started the
    suite did (a shell's background job starts its children with SIGINT ignored, and hpsearch
    rightly keeps an inherited "ignore", so a test's Ctrl-C would then do nothing)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run `hpsearch ARGS` as a real process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "hpsearch", *args],
        cwd=cwd or REPO,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=signals_at_default,
    )


def write_study(directory: Path, name: str, body: str) -> Path:
    """A study file `name.toml` with a standard header and `body` (data, search, space...)."""
    path = directory / f"{name}.toml"
    path.write_text(f'name = "{name}"\ndescription = "test study"\n{body}', encoding="utf-8")
    return path


def start_cli(*args: str, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start `hpsearch ARGS` in the background, its output in `log` (no pipe to fill up)."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "hpsearch", *args],
            cwd=REPO,
            env={**os.environ, "COLUMNS": "200", **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=signals_at_default,
        )


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` until it holds; fail the test with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)


# Heartbeats shortened so that a dead worker's trial goes stale in seconds instead of a minute.
FAST_HEARTBEAT = {"HPSEARCH_HEARTBEAT_SECONDS": "1", "HPSEARCH_GRACE_SECONDS": "5"}
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def stored_trials(url: str, name: str) -> list[FrozenTrial]:
    """The trials of study `name` (KeyError when the study does not exist yet)."""
    quiet_optuna()
    storage = open_storage(url)
    try:
        return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    finally:
        storage.engine.dispose()


def count(trials: list[FrozenTrial], *states: TrialState) -> int:
    return sum(t.state in states for t in trials)


def training_now(url: str, name: str, running: int) -> bool:
    """`running` trials are running and each has reported at least one epoch."""
    try:
        trials = stored_trials(url, name)
    except KeyError:  # the study is not created yet
        return False
    return sum(t.state == TrialState.RUNNING and bool(t.intermediate_values) for t in trials) >= running


def alive(pid: int) -> bool:
    """Whether process `pid` still exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def processes_of(study_file: Path) -> list[str]:
    """PIDs of live processes (the launcher, its workers) whose command line names `study_file`."""
    listed = subprocess.run(["pgrep", "-f", str(study_file)], capture_output=True, text=True)
    return listed.stdout.split()
