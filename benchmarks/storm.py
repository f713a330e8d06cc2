"""Start-up storms: N `hpsearch worker` processes started in the same second on a fresh storage.

For each storage, a fresh one: an SQLite file that does not exist yet, and a PostgreSQL database
with no tables (on a server this script starts in a temporary directory and removes, as the
tests do). `hpsearch dashboard` is opened on it just before the workers and polled at
/api/studies throughout; all N workers, each told `--trials T`, race to create the schema, the
study and its baseline. Reported: seconds from the start until the study held its target of
finished trials (from the trials' own completion times) and until every worker had exited,
start-up race symptoms in the workers' and the dashboard's output ("database is locked",
duplicate tables or keys, tracebacks), workers that exited non-zero, finished trials against the
target, trials left RUNNING or WAITING, copies of the baseline, and whether the dashboard
answered every poll and exited 0 on SIGTERM. The study is tiny (digits, one epoch per trial, a
one-block network): the time is mostly N TensorFlow processes starting at once. Workers run with
hpsearch's default heartbeat settings.

    python -m benchmarks.storm --workers 12
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from optuna.trial import TrialState

from hpsearch.records import BASELINE_ATTR
from tests.helpers import start_cli, stored_trials, write_study
from tests.postgres import PostgresServer, free_port

SYMPTOMS = ("database is locked", "Traceback", "already exists", "duplicate key", "IntegrityError",
            "UniqueViolation", "Cannot tell a")
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def _study(directory: Path, trials: int) -> Path:
    return write_study(
        directory, "storm",
        f'[data]\ndataset = "digits"\n[training]\nepochs = 1\n[search]\ntrials = {trials}\n'
        '[search.pruner]\ntype = "none"\n'
        "[space]\nblocks = 1\nconvs_per_block = 1\ndense_units = 16\n"
        "base_filters = { choices = [4, 8] }\nbatch_size = { choices = [32, 64] }\n"
        "learning_rate = { low = 1e-3, high = 1e-2, log = true }\n"
        '[[baselines]]\nname = "hand-tuned"\nbase_filters = 8\nbatch_size = 32\nlearning_rate = 0.003\n',
    )


def _answer(port: int) -> int | str:
    """/api/studies's HTTP status, or why there was none."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=10) as reply:
            json.load(reply)
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError as error:
        return f"no answer ({error})"


def storm(url: str, workers: int, trials: int, directory: Path, timeout: float) -> dict[str, object]:
    """Start the dashboard and `workers` workers at once on `url`; wait, poll, and collect."""
    path = _study(directory, trials)
    port = free_port()
    dashboard = start_cli("dashboard", "--storage", url, "--port", str(port), log=directory / "dashboard.log")
    started, clock = time.monotonic(), datetime.datetime.now()
    processes = [
        start_cli("worker", str(path), "--storage", url, "--trials", str(trials), log=directory / f"worker-{i}.log")
        for i in range(workers)
    ]
    answers: list[int | str] = []
    while any(p.poll() is None for p in processes) and time.monotonic() - started < timeout:
        answer = _answer(port)
        if answers or answer == 200:  # before it listens, a refusal says nothing
            answers.append(answer)
        time.sleep(2)
    exited = time.monotonic() - started
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
    dashboard.send_signal(signal.SIGTERM)
    try:
        dashboard_exit: int | str = dashboard.wait(timeout=30)
    except subprocess.TimeoutExpired:
        dashboard.kill()
        dashboard.wait()
        dashboard_exit = "hung"

    logs = [(directory / f"worker-{i}.log").read_text(errors="replace") for i in range(workers)]
    logs.append((directory / "dashboard.log").read_text(errors="replace"))
    codes = [p.returncode for p in processes] + [dashboard_exit]
    names = [f"worker-{i}" for i in range(workers)] + ["dashboard"]
    errors = sum(any(symptom in line for symptom in SYMPTOMS) for text in logs for line in text.splitlines())
    # What went wrong, in each output that shows a symptom or ended badly: its last line.
    seen = [(f"{name} (exit {code})", [line for line in text.splitlines() if line.strip()][-1].strip())
            for name, text, code in zip(names, logs, codes)
            if code != 0 or any(symptom in text for symptom in SYMPTOMS)]
    stored = stored_trials(url, path.stem)
    done = sorted(t.datetime_complete for t in stored if t.state in FINISHED and t.datetime_complete)
    reached = (done[trials - 1] - clock).total_seconds() if len(done) >= trials else None
    return {
        "reached": reached,
        "exited": exited,
        "errors": errors,
        "seen": seen,
        "failed": sum(p.returncode != 0 for p in processes),
        "finished": len(done),
        "running": sum(t.state == TrialState.RUNNING for t in stored),
        "waiting": sum(t.state == TrialState.WAITING for t in stored),
        "baselines": sum(t.user_attrs.get(BASELINE_ATTR) == "hand-tuned" for t in stored),
        "polls": f"{sum(a == 200 for a in answers)}/{len(answers)}",
        "dashboard_exit": dashboard_exit,
    }


@contextlib.contextmanager
def _fresh_storage(kind: str, directory: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{directory}/storm.db"  # the file does not exist yet
        return
    with PostgresServer() as server:
        yield server.create_database("storm")  # a database with no tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=12)
    parser.add_argument("--trials", type=int, default=12, help="the study's target of finished trials")
    parser.add_argument("--storages", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the workers")
    args = parser.parse_args()

    rows = []
    for kind in args.storages:
        with tempfile.TemporaryDirectory(prefix="hpsearch-storm-") as temporary:
            directory = Path(temporary)
            # PostgreSQL workers would keep checkpoints in the working directory (the repository).
            os.environ["HPSEARCH_CHECKPOINTS"] = str(directory / "checkpoints")
            with _fresh_storage(kind, directory) as url:
                rows.append((kind, storm(url, args.workers, args.trials, directory, args.timeout)))

    print(f"Start-up storm: {args.workers} workers started at once on a fresh storage, target {args.trials} "
          "trials (digits, 1 epoch), dashboard open")
    print()
    print("| storage | workers | target reached | all exited | errors in logs | workers failed | "
          "finished / target | RUNNING left | WAITING left | baseline copies | dashboard polls ok | "
          "dashboard exit |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for kind, row in rows:
        reached = "not reached" if row["reached"] is None else f"{row['reached']:.0f} s"
        print(f"| {'SQLite' if kind == 'sqlite' else 'PostgreSQL'} | {args.workers} | {reached} | "
              f"{row['exited']:.0f} s | {row['errors']} | {row['failed']} | {row['finished']} / {args.trials} | "
              f"{row['running']} | {row['waiting']} | {row['baselines']} | {row['polls']} | "
              f"{row['dashboard_exit']} |")
    for kind, row in rows:
        for name, line in row["seen"]:  # type: ignore[attr-defined]
            print(f"{kind} {name}: {line[:300]}")


if __name__ == "__main__":
    main()
