"""The `slurm` engine on a real Slurm cluster (tests/slurm_cluster.py): a job array of workers
reaches the study's target; a task killed by `scancel` mid-trial has its trial finished by
another, from its checkpoint; a task stopped by its time limit hands its trial back."""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from optuna.trial import TrialState

from hpsearch.records import END_REASON_ATTR, RESUMED_EPOCHS_ATTR, WORKER_ATTR
from tests.helpers import FAST_HEARTBEAT, FINISHED, count, run_cli, start_cli, stored_trials, training_now, wait_until
from tests.interruptions import digits_study
from tests.slurm_cluster import SlurmCluster

pytestmark = pytest.mark.xdist_group("slurm")  # one cluster at a time on the machine


@pytest.fixture(scope="module")
def slurm() -> Iterator[SlurmCluster]:
    cluster = SlurmCluster(cpus=2)
    yield cluster
    cluster.close()


def _job_and_logs(log: Path) -> tuple[str, Path]:
    """The job id and the directory of the tasks' files, as the launcher printed them."""
    found = re.search(r"Slurm: job (\d+), \d+ task\(s\); logs in (\S+)", log.read_text())
    assert found, log.read_text()
    return found.group(1), Path(found.group(2))


def test_the_demo_runs_as_a_slurm_job_array(tmp_path: Path, slurm: SlurmCluster) -> None:
    storage = f"sqlite:///{tmp_path}/demo.db"
    result = run_cli("run", "digits-quick", "--engine", "slurm", "--workers", "2", "--storage", storage,
                     cwd=tmp_path, env=slurm.env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Slurm: job" in result.stdout and "Done: 12 of 12 trials" in result.stdout
    trials = stored_trials(storage, "digits-quick")
    assert count(trials, *FINISHED) == 12 and count(trials, TrialState.RUNNING, TrialState.WAITING) == 0
    assert len({trial.user_attrs[WORKER_ATTR] for trial in trials}) == 2  # both tasks trained
    assert slurm.command("squeue", "--noheader").stdout.strip() == ""  # nothing left in the queue


def test_a_task_killed_by_scancel_has_its_trial_resumed_from_its_checkpoint(
    tmp_path: Path, slurm: SlurmCluster
) -> None:
    path = digits_study(tmp_path, "scancel", epochs=30, trials=3, space="base_filters = { choices = [8, 16] }\n")
    storage = f"sqlite:///{tmp_path}/scancel.db"
    log = tmp_path / "run.log"
    run = start_cli("run", str(path), "--engine", "slurm", "--workers", "2", "--storage", storage,
                    log=log, env={**slurm.env, **FAST_HEARTBEAT})
    try:
        wait_until(lambda: training_now(storage, path.stem, 2), 240, "both tasks to train")
        job, directory = _job_and_logs(log)
        task_0 = (directory / "worker-0.identity").read_text().strip()
        (victim,) = [t for t in stored_trials(storage, path.stem)
                     if t.state == TrialState.RUNNING and t.user_attrs[WORKER_ATTR] == task_0]
        killed = slurm.command("scancel", "--signal=KILL", f"{job}_0")  # the worker gets no chance to hand back
        assert killed.returncode == 0, killed.stderr
        assert run.wait(timeout=600) == 0, log.read_text()
    finally:
        if run.poll() is None:
            run.kill()
    trials = stored_trials(storage, path.stem)
    assert count(trials, *FINISHED) == 3 and count(trials, TrialState.RUNNING, TrialState.WAITING) == 0
    (retry,) = [t for t in trials if "failed_trial" in t.system_attrs]
    assert retry.state == TrialState.COMPLETE and retry.user_attrs.get(RESUMED_EPOCHS_ATTR, 0) >= 1
    assert retry.system_attrs["failed_trial"] == victim.number and retry.params == victim.params
    assert "a worker failed" in log.read_text()  # task 0's, said in one line


def test_ctrl_c_on_the_launcher_stops_running_tasks_and_cancels_pending_ones(
    tmp_path: Path, slurm: SlurmCluster
) -> None:
    path = digits_study(tmp_path, "stop", epochs=2000, trials=4, space="base_filters = { choices = [8, 16] }\n")
    storage = f"sqlite:///{tmp_path}/stop.db"
    log = tmp_path / "run.log"
    # Three tasks on a node of two CPUs: one waits in the queue while two train.
    run = start_cli("run", str(path), "--engine", "slurm", "--workers", "3", "--storage", storage,
                    log=log, env=slurm.env)
    try:
        wait_until(lambda: training_now(storage, path.stem, 2), 240, "two tasks to train")
        assert "PENDING" in slurm.command("squeue", "--noheader", "--array", "--format=%T").stdout
        run.send_signal(signal.SIGINT)
        assert run.wait(timeout=240) == 130, log.read_text()
    finally:
        if run.poll() is None:
            run.kill()
    assert "2 running, 1 pending" in log.read_text()  # the array's progress, beside the study's
    assert slurm.command("squeue", "--noheader").stdout.strip() == ""  # nothing left running or queued
    trials = stored_trials(storage, path.stem)
    assert count(trials, TrialState.RUNNING) == 0
    stopped = [t for t in trials if t.state == TrialState.FAIL]
    assert len(stopped) == 2 and all(t.user_attrs[END_REASON_ATTR] == "interrupted" for t in stopped)
    queued = {t.system_attrs.get("failed_trial") for t in trials if t.state == TrialState.WAITING}
    assert {t.number for t in stopped} <= queued  # each waits to run again


def test_a_task_at_its_time_limit_stops_cleanly_and_hands_its_trial_back(
    tmp_path: Path, slurm: SlurmCluster
) -> None:
    path = digits_study(tmp_path, "limit", epochs=2000, trials=1, space="base_filters = { choices = [8, 16] }\n")
    storage = f"sqlite:///{tmp_path}/limit.db"
    # Three minutes: the engine's SIGTERM comes two minutes before the limit, to the worker alone.
    result = run_cli("run", str(path), "--engine", "slurm", "--sbatch", "--time=3 --partition=tests", "--storage",
                     storage, env=slurm.env)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output  # the target was not reached; `resume` continues
    # The worker's own last word: it stopped itself at a safe point (not killed by Slurm).
    assert "a worker failed: interrupted; the running trial is queued again" in output, output
    assert "Traceback" not in output
    trials = stored_trials(storage, path.stem)
    assert count(trials, TrialState.RUNNING) == 0
    (stopped,) = [t for t in trials if t.state == TrialState.FAIL]
    assert stopped.user_attrs[END_REASON_ATTR] == "interrupted"
    (queued,) = [t for t in trials if t.state == TrialState.WAITING]
    assert queued.params == stopped.params and queued.system_attrs["failed_trial"] == stopped.number


def test_options_sbatch_refuses_are_said_in_one_sentence_naming_them(tmp_path: Path, slurm: SlurmCluster) -> None:
    storage = f"sqlite:///{tmp_path}/refused.db"
    result = run_cli("run", "digits-quick", "--engine", "slurm", "--sbatch", "--partition=nowhere",
                     "--storage", storage, cwd=tmp_path, env=slurm.env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert ("cannot submit the workers to Slurm with --sbatch '--partition=nowhere' (sbatch failed: Batch job "
            "submission failed: Invalid partition name specified)") in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert count(stored_trials(storage, "digits-quick"), TrialState.RUNNING) == 0
