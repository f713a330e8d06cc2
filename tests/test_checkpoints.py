"""A trial whose worker is SIGKILLed resumes, on another worker, from its last finished epoch.

Real worker processes train on the bundled digits against a real PostgreSQL server; one is
killed with SIGKILL mid-trial (nothing of it runs afterwards), and a second worker, started
later, finds the stale trial, retries it and loads its checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from optuna.trial import TrialState

from hpsearch.store.records import RESUMED_EPOCHS_ATTR
from tests.helpers import FINISHED, count, run_cli
from tests.interruptions import kill_and_retry

pytestmark = pytest.mark.timeout(300)
EPOCHS = 12
KILL_AFTER = 5  # epochs the first attempt reports before it is killed


def _corrupt(checkpoints: Path) -> None:
    (saved,) = checkpoints.rglob("state.json")
    for model in saved.parent.glob("model-*.keras"):
        model.write_bytes(b"not a keras archive")


@pytest.mark.parametrize("corrupt", [False, True], ids=["checkpoint", "corrupt-checkpoint"])
def test_sigkilled_trial_resumes_from_its_last_epoch(tmp_path: Path, database: str, corrupt: bool) -> None:
    checkpoints = tmp_path / "checkpoints"
    outcome = kill_and_retry(tmp_path, database, checkpoints, EPOCHS, KILL_AFTER,
                             before_retry=(lambda: _corrupt(checkpoints)) if corrupt else lambda: None)
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
        assert RESUMED_EPOCHS_ATTR not in retry.user_attrs  # a bad checkpoint: trained afresh
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
