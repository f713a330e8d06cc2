"""A trial whose worker is SIGKILLed resumes, on another worker, from its last finished epoch.

Real worker processes train on the bundled digits against a real PostgreSQL server; one is
killed with SIGKILL mid-trial (nothing of it runs afterwards), and a second worker, started
later, finds the stale trial, retries it and loads its checkpoint.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from optuna.trial import TrialState

from hpsearch.records import HISTORY_ATTR, RESUMED_EPOCHS_ATTR
from tests.helpers import FINISHED, count, run_cli, start_cli, stored_trials, wait_until
from tests.interruptions import digits_study, kill_and_retry

pytestmark = pytest.mark.timeout(300)
EPOCHS = 12
KILL_AFTER = 5  # epochs the first attempt reports before it is killed


def _break_model(checkpoints: Path) -> None:
    (saved,) = checkpoints.rglob("state.json")
    for model in saved.parent.glob("model-*.keras"):
        model.write_bytes(b"not a keras archive")


def _claim_epoch_999(checkpoints: Path) -> None:
    """A state that parses, names real files, and claims more epochs than the trial has."""
    (saved,) = checkpoints.rglob("state.json")
    state = json.loads(saved.read_text())
    saved.write_text(json.dumps({**state, "epoch": 999}))


BROKEN = {"checkpoint": lambda checkpoints: None, "corrupt-checkpoint": _break_model, "epoch-999": _claim_epoch_999}


@pytest.mark.parametrize(("broken", "backend"), [(broken, None) for broken in sorted(BROKEN)] + [("checkpoint", "jax")])
def test_sigkilled_trial_resumes_from_its_last_epoch(
    tmp_path: Path, database: str, broken: str, backend: str | None
) -> None:
    checkpoints = tmp_path / "checkpoints"
    outcome = kill_and_retry(tmp_path, database, checkpoints, EPOCHS, KILL_AFTER,
                             before_retry=lambda: BROKEN[broken](checkpoints), backends=(backend, backend))
    corrupt = broken != "checkpoint"
    killed, retry = outcome.killed, outcome.retry
    assert outcome.worker_result.returncode == 0, outcome.worker_result.stdout + outcome.worker_result.stderr
    reported = len(killed.intermediate_values)
    assert reported >= KILL_AFTER
    assert killed.user_attrs["history"]["val_accuracy"][:reported] == [
        killed.intermediate_values[step] for step in range(1, reported + 1)
    ], "the killed attempt kept the epochs it trained"
    assert retry.state == TrialState.COMPLETE and retry.params == killed.params
    assert len(retry.user_attrs["history"]["loss"]) == EPOCHS
    assert sorted(retry.intermediate_values) == list(range(1, EPOCHS + 1))  # the pruner saw every epoch
    if corrupt:
        assert RESUMED_EPOCHS_ATTR not in retry.user_attrs  # a bad checkpoint: trained afresh, and said so
        assert "note: the checkpoint in" in outcome.worker_result.stderr + outcome.worker_result.stdout
    else:
        # A kill between an epoch's record and its checkpoint costs that epoch too; the epoch in
        # flight at the kill is lost in any case.
        resumed = retry.user_attrs[RESUMED_EPOCHS_ATTR]
        assert reported - 1 <= resumed < EPOCHS and outcome.epochs_trained_again <= 1
        carried = [retry.intermediate_values[step] for step in range(1, resumed + 1)]
        assert carried == killed.user_attrs["history"]["val_accuracy"][:resumed]
    assert count(outcome.trials, *FINISHED) == 1 and count(outcome.trials, TrialState.RUNNING) == 0
    # Each trained epoch counts once: the killed attempt's, then the retry's own.
    summary = run_cli("summary", outcome.study, "--storage", database, "--format", "json")
    trained = outcome.epochs_finished + EPOCHS - retry.user_attrs.get(RESUMED_EPOCHS_ATTR, 0)
    assert json.loads(summary.stdout)["compute"]["epochs"] == trained
    assert not list(checkpoints.rglob("*.keras")), "a finished trial's checkpoint was left behind"


def test_a_new_study_never_resumes_an_old_studys_checkpoint(tmp_path: Path) -> None:
    """A study stopped with a checkpoint, its SQLite file deleted, and a study of the same name
    made anew there: its trial 0 has the same parameters, but it is another trial of another
    study, so it trains from scratch and the old checkpoint is reported, not resumed."""
    checkpoints, database = tmp_path / "checkpoints", tmp_path / "x.db"
    url = f"sqlite:///{database}"
    study = digits_study(tmp_path, "reused", epochs=30, trials=1, space="base_filters = 8\nbatch_size = 32\n",
                         data="pad_to = 32\n")
    common = (str(study), "--storage", url, "--checkpoints", str(checkpoints))
    first = start_cli("run", *common, log=tmp_path / "first.log")
    try:
        wait_until(lambda: any(checkpoints.rglob("state.json")), 180, "the first study's checkpoint")
        first.send_signal(signal.SIGINT)
        assert first.wait(timeout=120) == 130, (tmp_path / "first.log").read_text()
    finally:
        first.kill()
    for leftover in tmp_path.glob("x.db*"):
        leftover.unlink()
    again = run_cli("run", *common, "--epochs", "6")
    assert again.returncode == 0, again.stdout + again.stderr
    (trial,) = stored_trials(url, study.stem)
    assert RESUMED_EPOCHS_ATTR not in trial.user_attrs and len(trial.user_attrs[HISTORY_ATTR]["loss"]) == 6
    assert "holds checkpoints of another study" in again.stdout + again.stderr
    assert any(checkpoints.rglob("state.json")), "the other study's checkpoint is left alone"


@pytest.mark.parametrize("where", ["under-proc", "a-regular-file"])
def test_a_checkpoint_directory_that_cannot_be_written_is_refused_before_training(tmp_path: Path, where: str) -> None:
    target = Path("/proc/hpsearch-checkpoints") if where == "under-proc" else tmp_path / "a-file"
    if where == "a-regular-file":
        target.write_text("")
    refused = run_cli("run", "digits-quick", "--storage", f"sqlite:///{tmp_path}/c.db", "--checkpoints", str(target))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"cannot write checkpoints into {target}" in refused.stderr and "Traceback" not in refused.stderr
    assert "trial 0" not in refused.stdout  # nothing trained
