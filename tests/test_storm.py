"""Start-up storms (issue 12): a dozen workers started in the same second on a fresh storage.

Twelve real `hpsearch worker` processes start at once on an SQLite file that does not exist yet,
and on a PostgreSQL database with no tables, while `hpsearch dashboard` is open on the same
storage and polled. They all race to create the schema, the study, its attributes and its
baseline, and to claim the enqueued baseline trial. None may see "database is locked", a
duplicate table, study or key, or a trial another worker claimed too; every worker exits 0; the
study ends with exactly its target of finished trials, nothing left RUNNING or WAITING, and the
baseline trained once; the dashboard answers throughout and exits 0 on SIGTERM. The study is
tiny (one short epoch per trial on the bundled digits): what takes the time is twelve
TensorFlow processes starting on a small machine.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from optuna.trial import TrialState

from hpsearch.records import BASELINE_ATTR
from tests.helpers import FINISHED, count, start_cli, stored_trials, wait_until, write_study
from tests.postgres import free_port

# Measured on a 2-core machine that other test runs were loading too: 65 to 110 s per storage,
# most of it twelve TensorFlow start-ups. The limit leaves room for a slower or busier machine.
pytestmark = pytest.mark.timeout(900)

WORKERS = 12
TARGET = 12
STORM_SECONDS = 600  # the longest the twelve workers may take, polled
# Symptoms of a start-up race: SQLite's lock timeout, and duplicate tables, studies or rows.
RACE_SYMPTOMS = ("database is locked", "Traceback", "already exists", "duplicate key", "IntegrityError",
                 "UniqueViolation", "Cannot tell a")  # the last: a trial two workers both claimed


def _study(directory: Path) -> Path:
    """A digits study of one-epoch trials on a tiny network, with one baseline to enqueue."""
    return write_study(
        directory, "storm",
        f'[data]\ndataset = "digits"\n[training]\nepochs = 1\n[search]\ntrials = {TARGET}\n'
        '[search.pruner]\ntype = "none"\n'
        "[space]\nblocks = 1\nconvs_per_block = 1\ndense_units = 16\n"
        "base_filters = { choices = [4, 8] }\nbatch_size = { choices = [32, 64] }\n"
        "learning_rate = { low = 1e-3, high = 1e-2, log = true }\n"
        '[[baselines]]\nname = "hand-tuned"\nbase_filters = 8\nbatch_size = 32\nlearning_rate = 0.003\n',
    )


class Dashboard:
    """`hpsearch dashboard` on the storage, polled at /api/studies; every answer is kept."""

    def __init__(self, url: str, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.process = start_cli("dashboard", "--storage", url, "--port", str(self.port), log=log)
        self.answers: list[int] = []  # HTTP statuses
        self.studies: list[str] = []  # the study names of the last good answer
        self._last = 0.0

    def poll(self, every: float = 2.0) -> None:
        """Ask /api/studies, at most once per `every` seconds. No answer in time (not listening
        yet, or slow among a dozen busy processes on a small machine) is no error; an error
        status is."""
        if time.monotonic() - self._last < every:
            return
        self._last = time.monotonic()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/studies", timeout=10) as reply:
                self.answers.append(reply.status)
                self.studies = [s["study_name"] for s in json.load(reply)["study_summaries"]]
        except urllib.error.HTTPError as error:
            self.answers.append(error.code)
        except OSError:
            pass

    def lists(self, name: str) -> bool:
        self.poll(every=0)
        return name in self.studies

    def stop(self) -> int | None:
        """SIGTERM, as a container stop sends (SIGINT may be ignored in a background shell); the
        exit code, or None when it did not stop (it is then killed)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_dozen_workers_start_at_once_on_a_fresh_storage(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path}/storm.db" if kind == "sqlite" else request.getfixturevalue("database")
    path = _study(tmp_path)
    dashboard = Dashboard(url, tmp_path / "dashboard.log")
    workers: list[subprocess.Popen[bytes]] = []
    try:
        # The dashboard is already connecting (and creating tables) as the workers start. Default
        # heartbeats: no worker dies here, and with a 5 s grace twelve start-ups on two loaded
        # cores once starved a healthy baseline's heartbeat, so it was failed as stale and retried.
        workers = [
            start_cli("worker", str(path), "--storage", url, "--trials", str(TARGET),
                      log=tmp_path / f"worker-{index}.log")
            for index in range(WORKERS)
        ]

        def all_exited() -> bool:
            dashboard.poll()
            return all(worker.poll() is not None for worker in workers)

        wait_until(all_exited, STORM_SECONDS, f"{WORKERS} workers to finish")
        wait_until(lambda: dashboard.lists(path.stem), 60, "the dashboard to list the study")
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        exit_code = dashboard.stop()

    logs = {f"worker-{i}": (tmp_path / f"worker-{i}.log").read_text(errors="replace") for i in range(WORKERS)}
    logs["dashboard"] = dashboard.log.read_text(errors="replace")
    for name, text in logs.items():
        for symptom in RACE_SYMPTOMS:
            assert symptom not in text, f"{name}: {symptom!r} in its output:\n{text[-3000:]}"
    failed = {i: worker.returncode for i, worker in enumerate(workers) if worker.returncode != 0}
    assert not failed, f"workers exited {failed}:\n" + "\n".join(logs[f"worker-{i}"][-2000:] for i in failed)
    assert exit_code == 0, f"the dashboard's exit on SIGTERM: {exit_code}\n{logs['dashboard'][-3000:]}"
    assert dashboard.answers and set(dashboard.answers) == {200}, dashboard.answers

    trials = stored_trials(url, path.stem)
    assert count(trials, *FINISHED) == TARGET
    assert count(trials, TrialState.RUNNING, TrialState.WAITING) == 0
    assert len({t.number for t in trials}) == len(trials)
    # Twelve workers each found no baseline trial yet; still it is queued, and trained, once.
    assert [t.state for t in trials if t.user_attrs.get(BASELINE_ATTR) == "hand-tuned"] == [TrialState.COMPLETE]
