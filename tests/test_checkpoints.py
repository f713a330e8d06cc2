"""A trial whose worker is SIGKILLed resumes, on another worker, from its last finished epoch.

Real worker processes train on the bundled digits against a real PostgreSQL server; one is
killed with SIGKILL mid-trial (nothing of it runs afterwards), and a second worker, started
later, finds the stale trial, retries it and loads its checkpoint.
"""

from __future__ import annotations

import secrets
import signal
from pathlib import Path

import pytest
from optuna.trial import FrozenTrial, TrialState

from hpsearch.records import RESUMED_EPOCHS_ATTR
from tests.helpers import FAST_HEARTBEAT, FINISHED, count, run_cli, start_cli, stored_trials, wait_until, write_study

pytestmark = pytest.mark.timeout(300)
EPOCHS = 12
KILL_AFTER = 5  # epochs the first attempt reports before it is killed


def _study(directory: Path) -> Path:
    return write_study(
        directory, "checkpointed-" + secrets.token_hex(3),
        f'[data]\ndataset = "digits"\n[training]\nepochs = {EPOCHS}\n[search]\ntrials = 1\n'
        '[search.pruner]\ntype = "none"\n'
        "[space]\nblocks = 1\nconvs_per_block = 1\ndense_units = 16\nbase_filters = 8\n"
        "batch_size = 32\nlearning_rate = { low = 1e-3, high = 1e-2, log = true }\n",
    )


def _kill_mid_trial(path: Path, database: str, checkpoints: Path, log: Path) -> FrozenTrial:
    """Start a worker, SIGKILL it once its trial has reported KILL_AFTER epochs, return that trial."""
    doomed = start_cli("worker", str(path), "--storage", database, "--checkpoints", str(checkpoints),
                       log=log, env=FAST_HEARTBEAT)

    def far_enough() -> bool:
        try:
            trials = stored_trials(database, path.stem)
        except KeyError:
            return False
        return any(t.state == TrialState.RUNNING and len(t.intermediate_values) >= KILL_AFTER for t in trials)

    try:
        wait_until(far_enough, 180, f"the first worker to train {KILL_AFTER} epochs")
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
    (killed,) = [t for t in stored_trials(database, path.stem) if t.state == TrialState.RUNNING]
    return killed


@pytest.mark.parametrize("corrupt", [False, True], ids=["checkpoint", "corrupt-checkpoint"])
def test_sigkilled_trial_resumes_from_its_last_epoch(tmp_path: Path, database: str, corrupt: bool) -> None:
    path, checkpoints = _study(tmp_path), tmp_path / "checkpoints"
    killed = _kill_mid_trial(path, database, checkpoints, tmp_path / "doomed.log")
    reported = len(killed.intermediate_values)
    assert killed.user_attrs["history"]["val_accuracy"][:reported] == [
        killed.intermediate_values[step] for step in range(1, reported + 1)
    ], "the killed attempt kept the epochs it trained"
    saved = list(checkpoints.rglob("state.json"))
    assert len(saved) == 1
    if corrupt:
        for model in saved[0].parent.glob("model-*.keras"):
            model.write_bytes(b"not a keras archive")

    result = run_cli("worker", str(path), "--storage", database, "--checkpoints", str(checkpoints),
                     env=FAST_HEARTBEAT)
    assert result.returncode == 0, result.stdout + result.stderr
    trials = stored_trials(database, path.stem)
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
    assert retry.state == TrialState.COMPLETE and retry.params == killed.params
    assert len(retry.user_attrs["history"]["loss"]) == EPOCHS
    assert sorted(retry.intermediate_values) == list(range(1, EPOCHS + 1))  # the pruner saw every epoch
    if corrupt:
        assert RESUMED_EPOCHS_ATTR not in retry.user_attrs  # a bad checkpoint: trained afresh
    else:
        resumed = retry.user_attrs[RESUMED_EPOCHS_ATTR]
        assert reported <= resumed < EPOCHS  # at most the epoch in flight at the kill is trained again
        carried = [retry.intermediate_values[step] for step in range(1, reported + 1)]
        assert carried == [killed.intermediate_values[step] for step in range(1, reported + 1)]
    assert count(trials, *FINISHED) == 1 and count(trials, TrialState.RUNNING) == 0
    assert not list(checkpoints.rglob("*.keras")), "a finished trial's checkpoint was left behind"
