"""Several workers, one PostgreSQL: exact targets, crashes, interruptions, restarts.

Real worker processes train tiny Keras models on the bundled digits against a real PostgreSQL
server that the suite starts itself. Heartbeats are shortened so a dead worker's trial goes
stale in seconds instead of a minute.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpsearch.records import LOST_PREFIX, SURPLUS, end_reason
from tests.helpers import (
    FAST_HEARTBEAT,
    FINISHED,
    alive,
    count,
    processes_of,
    run_cli,
    start_cli,
    stored_trials,
    training_now,
    wait_until,
    write_study,
)
from tests.postgres import PostgresServer, free_port

pytestmark = pytest.mark.timeout(300)

def _study(directory: Path, epochs: int, trials: int, data: str = "") -> Path:
    """A tiny digits study whose trials each take about `epochs` short epochs (`data` may pad the
    images, for epochs of about half a second rather than 0.07 s)."""
    return write_study(
        directory,
        "shared-" + secrets.token_hex(3),
        f'[data]\ndataset = "digits"\n{data}[training]\nepochs = {epochs}\n[search]\ntrials = {trials}\n'
        '[search.pruner]\ntype = "none"\n'
        "[space]\nblocks = 1\nconvs_per_block = 1\ndense_units = 16\n"
        "base_filters = { choices = [4, 8, 16] }\nbatch_size = { choices = [32, 64] }\n"
        "learning_rate = { low = 1e-3, high = 1e-2, log = true }\n",
    )


def test_four_workers_end_with_exactly_the_target(tmp_path: Path, database: str) -> None:
    path = _study(tmp_path, epochs=2, trials=7)
    result = run_cli("run", str(path), "--workers", "4", "--storage", database, env=FAST_HEARTBEAT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Workers: 4 (CPU, CPU, CPU, CPU)" in result.stdout
    trials = stored_trials(database, path.stem)
    assert count(trials, *FINISHED) == 7
    assert count(trials, TrialState.RUNNING, TrialState.WAITING) == 0
    assert len({t.number for t in trials}) == len(trials)
    stepped_back = [t for t in trials if t.state == TrialState.FAIL]
    assert all(t.user_attrs["end_reason"].startswith("not needed") for t in stepped_back)
    assert database.split("@")[0].split(":")[-1] not in result.stdout + result.stderr  # password


def test_killed_worker_trial_is_retried_with_the_same_parameters(tmp_path: Path, database: str) -> None:
    # Few, slower epochs: the kill lands mid-trial, and the second worker trains two short trials
    # (200 epochs of 0.07 s, checkpointed each, took over 300 s on two loaded cores).
    path = _study(tmp_path, epochs=20, trials=2, data="pad_to = 32\n")
    doomed = start_cli("worker", str(path), "--storage", database, "--trials", "2",
                       log=tmp_path / "doomed.log", env=FAST_HEARTBEAT)
    try:
        wait_until(lambda: training_now(database, path.stem, 1), 120, "the first worker to train")
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
    (killed,) = [t for t in stored_trials(database, path.stem) if t.state == TrialState.RUNNING]

    # A second worker, given nothing but the storage, finds the stale trial, fails it, and trains
    # it again with the same parameters (from its checkpoint); the study still reaches its target.
    result = run_cli("worker", str(path), "--storage", database, env=FAST_HEARTBEAT)
    assert result.returncode == 0, result.stdout + result.stderr
    trials = stored_trials(database, path.stem)
    assert trials[killed.number].state == TrialState.FAIL
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
    assert retry.params == killed.params and retry.state == TrialState.COMPLETE
    assert retry.system_attrs["retry_history"] == [killed.number]
    assert count(trials, *FINISHED) == 2 and count(trials, TrialState.RUNNING) == 0


def test_sigterm_stops_all_workers_and_resume_finishes(tmp_path: Path, database: str) -> None:
    # Few, slower epochs: the stop lands mid-trial, and the resume trains three short trials.
    path = _study(tmp_path, epochs=20, trials=3, data="pad_to = 32\n")
    run = start_cli("run", str(path), "--workers", "2", "--storage", database,
                    log=tmp_path / "run.log", env=FAST_HEARTBEAT)
    wait_until(lambda: training_now(database, path.stem, 2), 120, "both workers to train")
    interrupted = {t.number: t.params for t in stored_trials(database, path.stem) if t.state == TrialState.RUNNING}
    run.send_signal(signal.SIGTERM)
    assert run.wait(timeout=60) == 130, (tmp_path / "run.log").read_text()
    assert not processes_of(path), "a worker outlived its parent"
    output = (tmp_path / "run.log").read_text()
    assert "interrupted" in output and "Traceback" not in output

    trials = stored_trials(database, path.stem)
    assert count(trials, TrialState.RUNNING) == 0
    queued = {t.system_attrs["failed_trial"]: t.params for t in trials if t.state == TrialState.WAITING}
    assert queued == interrupted  # each interrupted trial waits to run again, same parameters

    result = run_cli("resume", str(path), "--storage", database, env=FAST_HEARTBEAT)  # no flags needed
    assert result.returncode == 0, result.stdout + result.stderr
    trials = stored_trials(database, path.stem)
    assert count(trials, *FINISHED) == 3
    resumed = {t.system_attrs["failed_trial"]: t for t in trials if "failed_trial" in t.system_attrs}
    assert all(resumed[n].state == TrialState.COMPLETE and resumed[n].params == p for n, p in interrupted.items())

    again = run_cli("resume", str(path), "--storage", database)
    assert again.returncode == 0 and "already finished" in again.stdout
    assert all(t.user_attrs.get("resumed_epochs", 0) >= 1 for t in resumed.values())  # from checkpoints


def test_workers_stop_when_their_launcher_is_killed(tmp_path: Path, database: str) -> None:
    """A launcher SIGKILLed (or killed by the OOM killer) cannot stop its workers itself; they
    stop anyway, each at a safe point with its trial queued again, instead of training on
    unsupervised."""
    path = _study(tmp_path, epochs=40, trials=4, data="pad_to = 32\n")
    run = start_cli("run", str(path), "--workers", "2", "--storage", database, log=tmp_path / "run.log",
                    env=FAST_HEARTBEAT)
    wait_until(lambda: training_now(database, path.stem, 2), 120, "both workers to train")
    pids = {int(t.user_attrs["worker"].split(":")[1]) for t in stored_trials(database, path.stem)
            if t.state == TrialState.RUNNING}
    run.send_signal(signal.SIGKILL)
    run.wait()
    wait_until(lambda: not any(alive(pid) for pid in pids), 30, "the workers to stop")
    trials = stored_trials(database, path.stem)
    assert count(trials, TrialState.RUNNING) == 0
    failed = sorted(t.number for t in trials if t.state == TrialState.FAIL)
    queued = sorted(t.system_attrs["failed_trial"] for t in trials if t.state == TrialState.WAITING)
    assert len(failed) == 2 and queued == failed


def test_study_survives_a_postgres_restart(tmp_path: Path, database: str, postgres: PostgresServer) -> None:
    # Trials of many short epochs: a trial is mid-training for most of its life, so the restart
    # below lands in one (with 3-epoch trials the whole study once finished between two polls).
    path = _study(tmp_path, epochs=60, trials=4)
    run = start_cli("run", str(path), "--workers", "2", "--storage", database,
                    log=tmp_path / "run.log", env=FAST_HEARTBEAT)
    wait_until(lambda: training_now(database, path.stem, 1), 120, "workers to train")
    postgres.restart()
    assert run.wait(timeout=240) == 0, (tmp_path / "run.log").read_text()
    trials = stored_trials(database, path.stem)
    assert count(trials, *FINISHED) == 4 and count(trials, TrialState.RUNNING) == 0
    # A trial the restart cut short is failed as lost and trained again with the same parameters.
    # A retry lost again is retried once more; each copy lists the attempts before it in `retry_history`.
    # The only other failure allowed is a trial a worker began once the others had the target in hand.
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert all(end_reason(t).startswith((LOST_PREFIX, SURPLUS)) for t in failed), [end_reason(t) for t in failed]
    for lost in (t for t in failed if end_reason(t).startswith(LOST_PREFIX)):
        assert f"trial {lost.number}: failed, {end_reason(lost)}" in (tmp_path / "run.log").read_text()
        (retry,) = [t for t in trials if t.system_attrs.get("retry_history", [])[-1:] == [lost.number]]
        # It keeps every value the attempt had drawn (all of them, unless the restart came before the
        # attempt drew any: then there is nothing to keep); finished, or itself lost and retried.
        assert lost.params.items() <= retry.params.items(), (lost.params, retry.params)


def test_resume_needs_an_existing_study(tmp_path: Path) -> None:
    path = _study(tmp_path, epochs=1, trials=1)
    result = run_cli("resume", str(path), "--storage", f"sqlite:///{tmp_path}/empty.db")
    assert result.returncode == 2 and "hpsearch run" in result.stderr


def test_dashboard_serves_the_storage_on_loopback(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/dash.db"
    optuna.create_study(study_name="seen-by-dashboard", storage=url)
    port = free_port()
    dashboard = start_cli("dashboard", "--storage", url, "--port", str(port), log=tmp_path / "dash.log")
    try:
        def answers() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as reply:
                    return reply.status == 200
            except OSError:
                return False

        wait_until(answers, 60, "optuna-dashboard to answer")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as reply:
            studies = json.load(reply)["study_summaries"]
        assert [s["study_name"] for s in studies] == ["seen-by-dashboard"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/dashboard/", timeout=5) as page:
            assert page.status == 200 and b"<html" in page.read().lower()
        listening = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True).stdout
        assert [line.split()[3] for line in listening.splitlines()] == [f"127.0.0.1:{port}"]
    finally:
        # SIGTERM, as a container stop sends: SIGINT would be ignored when the suite itself runs
        # in the background of a non-interactive shell, which starts children with SIGINT ignored.
        dashboard.send_signal(signal.SIGTERM)
        assert dashboard.wait(timeout=20) == 0


def test_gpu_planning_pins_workers() -> None:
    from hpsearch.launch.engines.local import WorkerSlot, plan_workers, worker_environment

    assert plan_workers(None, ["0", "1"], 2) == [
        WorkerSlot(0, "0"), WorkerSlot(1, "1"), WorkerSlot(2, "0"), WorkerSlot(3, "1")
    ]
    assert plan_workers(3, [], 1) == [WorkerSlot(0, None), WorkerSlot(1, None), WorkerSlot(2, None)]
    gpu_env = worker_environment(WorkerSlot(1, "3"), 0, "sqlite:///x.db")
    assert gpu_env["CUDA_VISIBLE_DEVICES"] == "3" and gpu_env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    cpu_env = worker_environment(WorkerSlot(0, None), 2, "sqlite:///x.db")
    assert cpu_env["CUDA_VISIBLE_DEVICES"] == "" and cpu_env["HPSEARCH_STORAGE"] == "sqlite:///x.db"
    assert int(cpu_env["TF_NUM_INTRAOP_THREADS"]) == max(1, (os.cpu_count() or 1) // 2)


def test_a_stored_study_keeps_its_data_epochs_and_seed(tmp_path: Path) -> None:
    path = _study(tmp_path, epochs=5, trials=1)
    storage = f"sqlite:///{tmp_path}/kept.db"
    first = run_cli("run", str(path), "--storage", storage, "--epochs", "1", "--subset", "400", "--seed", "3")
    assert first.returncode == 0, first.stdout + first.stderr

    for flag, value, stored in (("--epochs", "7", "1"), ("--subset", "500", "400"), ("--data", "mnist", "digits"),
                                ("--seed", "4", "3")):
        refused = run_cli("worker", str(path), "--storage", storage, flag, value)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert f"was created with {flag} {stored}" in refused.stderr and "Traceback" not in refused.stderr

    more = run_cli("resume", str(path), "--storage", storage, "--trials", "2")  # the target may move
    assert more.returncode == 0, more.stdout + more.stderr
    assert f"the study file says --epochs 5; study {path.stem} keeps 1" in more.stdout
    data_line = next(line for line in first.stdout.splitlines() if line.startswith("Data:"))
    assert data_line in more.stdout  # the same 400-image subset, split by the same seed
    trials = stored_trials(storage, path.stem)
    assert [len(t.user_attrs["history"]["loss"]) for t in trials] == [1, 1]


def test_dashboard_on_a_taken_port_says_so_before_announcing_an_address(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run_cli("dashboard", "--storage", f"sqlite:///{tmp_path}/dash.db", "--port", str(port))
    assert result.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "optuna-dashboard on" not in result.stdout
