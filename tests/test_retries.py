"""Retries carry a trial's identity, not its failed attempt's record; a launcher releases the
trials of workers it had to kill. On a real SQLite storage, with trials made as workers make them."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpsearch.records import (
    BASELINE_ATTR,
    END_REASON_ATTR,
    HISTORY_ATTR,
    INTERRUPTED,
    NO_RESULT,
    OUT_OF_MEMORY,
    RETRY_OF_ATTR,
    SURPLUS,
    WORKER_ATTR,
    EndReason,
)
from hpsearch.lifecycle.retries import MAX_RETRIES, queue_unqueued_retries, release_trials, retry_trial
from hpsearch.store.storage import is_storage_failure, open_storage, quiet_optuna
from tests.helpers import start_cli, stored_trials, training_now, wait_until, write_study
from tests.postgres import PostgresServer

# Trials are asked for here as a worker's Study.optimize would; Optuna warns that heartbeats expect it.
pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")


STORED_REASONS = {  # as trials store them, from objective.py and the heartbeat check
    "complete": EndReason.COMPLETE,
    "pruned at epoch 3": EndReason.PRUNED,
    "pruned at epoch 1, a full trial would take 900 s": EndReason.PRUNED,
    "diverged at epoch 2 (training loss nan)": EndReason.DIVERGED,
    INTERRUPTED: EndReason.INTERRUPTED,
    NO_RESULT: EndReason.LOST,
    "lost: storage error: OperationalError": EndReason.LOST,
    OUT_OF_MEMORY: EndReason.OUT_OF_MEMORY,
    SURPLUS: EndReason.SURPLUS,
    "error: ValueError: bad shape": EndReason.ERROR,
    "lostness": EndReason.ERROR,  # a word that only begins like a reason is not that reason
    "": EndReason.ERROR,
}


@pytest.mark.parametrize("text", sorted(STORED_REASONS))
def test_end_reasons_read_back_from_their_stored_text(text: str) -> None:
    reason = EndReason.of(text)
    assert reason is STORED_REASONS[text]
    assert reason.retried == (reason in (EndReason.INTERRUPTED, EndReason.LOST))


def _study(tmp_path: Path) -> optuna.Study:
    quiet_optuna()
    return optuna.create_study(study_name="retries", storage=open_storage(f"sqlite:///{tmp_path}/r.db"))


def _running(study: optuna.Study, worker: str, baseline: str) -> optuna.Trial:
    """A trial as a worker holds it: RUNNING, with its worker, identity and curves so far."""
    trial = study.ask()
    trial.suggest_categorical("batch_size", [32, 64])
    trial.set_user_attr(WORKER_ATTR, worker)
    trial.set_user_attr(BASELINE_ATTR, baseline)
    trial.set_user_attr(HISTORY_ATTR, {"loss": [2.0, 1.5]})
    return trial


def test_a_killed_workers_trials_are_released_and_queued_again(tmp_path: Path) -> None:
    study = _study(tmp_path)
    killed = _running(study, "host:101", "hand-made")
    alive = _running(study, "host:202", "other")
    assert release_trials(study, {"host:101"}) == [killed.number]
    trials = study.get_trials(deepcopy=False)
    assert trials[killed.number].state == TrialState.FAIL
    assert trials[killed.number].user_attrs[END_REASON_ATTR] == INTERRUPTED
    assert trials[killed.number].user_attrs[HISTORY_ATTR] == {"loss": [2.0, 1.5]}  # the attempt keeps its record
    assert trials[alive.number].state == TrialState.RUNNING  # another worker's trial is left alone
    (retry,) = [t for t in trials if t.state == TrialState.WAITING]
    assert retry.params == trials[killed.number].params
    # The retry is the trial, not the attempt: no curves or end reason, but its identity and key.
    assert retry.user_attrs == {BASELINE_ATTR: "hand-made", RETRY_OF_ATTR: killed.number}
    assert retry.system_attrs["failed_trial"] == killed.number
    assert release_trials(study, {"host:101"}) == []  # nothing left to release


def test_a_trial_failed_as_interrupted_but_not_yet_queued_is_queued_on_release(tmp_path: Path) -> None:
    """A second Ctrl-C can land after Optuna failed the interrupted trial and before its retry was
    queued; releasing the worker's trials then queues it, and only once."""
    study = _study(tmp_path)
    cut_off = _running(study, "host:101", "hand-made")
    cut_off.set_user_attr(END_REASON_ATTR, INTERRUPTED)
    study.tell(cut_off, state=TrialState.FAIL)
    assert release_trials(study, {"host:101"}) == [cut_off.number]
    assert release_trials(study, {"host:101"}) == []
    (retry,) = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    assert retry.system_attrs["failed_trial"] == cut_off.number


def test_a_trial_is_retried_at_most_max_retries_times(tmp_path: Path) -> None:
    study = _study(tmp_path)
    first = _running(study, "host:1", "hand-made")
    study.tell(first, state=TrialState.FAIL)
    attempt = study.get_trials(deepcopy=False)[first.number]
    for _ in range(MAX_RETRIES + 1):
        retry_trial(study, attempt)
        waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        if not waiting:
            break
        taken = study.ask()  # a worker takes the queued copy, and it fails again
        assert taken.number == waiting[0].number
        study.tell(taken, state=TrialState.FAIL)
        attempt = study.get_trials(deepcopy=False)[taken.number]
    retries = [t for t in study.get_trials(deepcopy=False) if "failed_trial" in t.system_attrs]
    assert len(retries) == MAX_RETRIES
    assert retries[-1].system_attrs["retry_history"] == list(range(MAX_RETRIES))
    assert {t.user_attrs[RETRY_OF_ATTR] for t in retries} == {first.number}  # one checkpoint key for all


def test_a_trial_stopped_on_purpose_is_retried_however_often_it_is_stopped(tmp_path: Path) -> None:
    """Stops asked for (Ctrl-C, SIGTERM, a spent time budget) end an attempt "interrupted"; they
    are not crashes, so a trial resumed and stopped again many times is never dropped."""
    study = _study(tmp_path)
    taken = _running(study, "host:1", "hand-made")
    for _ in range(2 * MAX_RETRIES):
        taken.set_user_attr(END_REASON_ATTR, INTERRUPTED)
        study.tell(taken, state=TrialState.FAIL)
        retry_trial(study, study.get_trials(deepcopy=False)[taken.number])
        previous, taken = taken.number, study.ask()
        assert taken.number == previous + 1, "the stopped trial was not queued again"
    retries = [t for t in study.get_trials(deepcopy=False) if "failed_trial" in t.system_attrs]
    assert len(retries) == 2 * MAX_RETRIES


def _queue_retry_at(url: str, number: int, moment: float) -> None:
    """In a process of its own: queue the retry of trial `number` at wall time `moment`, as a
    worker that found it stale (its storage's callback) and the worker that lost it both do."""
    quiet_optuna()
    study = optuna.load_study(study_name="retries", storage=open_storage(url))
    failed = study.get_trials(deepcopy=False)[number]
    time.sleep(max(0.0, moment - time.time()))
    retry_trial(study, failed)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_trial_noticed_by_several_processes_at_once_is_retried_once(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path}/r.db" if kind == "sqlite" else request.getfixturevalue("database")
    quiet_optuna()
    study = optuna.create_study(study_name="retries", storage=open_storage(url))
    lost = _running(study, "host:1", "hand-made")
    study.tell(lost, state=TrialState.FAIL)
    moment = time.time() + 8  # after every process has started and loaded the study
    processes = [multiprocessing.get_context("spawn").Process(target=_queue_retry_at, args=(url, lost.number, moment))
                 for _ in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0
    retries = [t for t in study.get_trials(deepcopy=False) if t.system_attrs.get("failed_trial") == lost.number]
    assert [t.state for t in retries] == [TrialState.WAITING]


LONG_TRIAL = """
[data]
dataset = "digits"
[training]
epochs = 100
[search]
trials = 1
[search.pruner]
type = "none"
[space]
blocks = 1
base_filters = 8
dense_units = 16
"""


def test_a_worker_whose_trial_another_failed_as_stale_carries_on(tmp_path: Path) -> None:
    """On an overloaded machine a worker's heartbeat can lapse while it trains: another worker then
    fails its trial as stale and queues a retry, and Optuna refuses the first worker's result with
    a ValueError. That worker says so and goes on (here: it trains the retry itself)."""
    url = f"sqlite:///{tmp_path / 'stale.db'}"
    path = write_study(tmp_path, "stale", LONG_TRIAL)
    process = start_cli("run", str(path), "--storage", url, log=tmp_path / "run.log")
    try:
        wait_until(lambda: training_now(url, "stale", running=1), timeout=300, what="the trial to train")
        storage = open_storage(url)
        study = optuna.load_study(study_name="stale", storage=storage)
        (running,) = study.get_trials(states=(TrialState.RUNNING,))
        storage.set_trial_state_values(running._trial_id, TrialState.FAIL)  # as fail_stale_trials does
        retry_trial(study, study.get_trials()[0])  # and the storage's stale-trial callback
        assert process.wait(timeout=300) == 0, (tmp_path / "run.log").read_text()
    finally:
        process.kill()
    log = (tmp_path / "run.log").read_text()
    assert "was failed as stale by another worker" in log and "Traceback" not in log
    assert [t.state for t in stored_trials(url, "stale")] == [TrialState.FAIL, TrialState.COMPLETE]


def test_a_retry_the_database_was_down_for_is_queued_once_it_is_back(postgres: PostgresServer, database: str) -> None:
    """A trial lost to a database restart fails first; its retry is queued right after, while the
    server may still be down. That retry is owed, not dropped, and queued when the server is back,
    in its own study only."""
    quiet_optuna()
    storage = open_storage(database)
    try:
        study = optuna.create_study(storage=storage, study_name="outage")
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        study.tell(trial, state=TrialState.FAIL)
        failed = study.get_trials(deepcopy=False)[0]
        postgres.stop()
        try:
            with pytest.raises(Exception) as raised:
                retry_trial(study, failed)
            assert is_storage_failure(raised.value)
        finally:
            postgres.start()
        # The same process going on to another study (the Python API's run, then confirm) owes
        # that study nothing: the retry stays the first study's.
        other = optuna.create_study(storage=storage, study_name="outage.confirm")
        queue_unqueued_retries(other)
        assert other.get_trials(deepcopy=False) == []
        queue_unqueued_retries(study)
        queue_unqueued_retries(study)  # owed once: a second call queues nothing more
        (retry,) = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.WAITING]
        assert retry.params == failed.params and retry.system_attrs["retry_history"] == [failed.number]
    finally:
        storage.engine.dispose()
