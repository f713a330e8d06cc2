"""`hpsearch confirm`: the best trials retrained for longer through the storage, whether their order
held, and `export` using the confirmed winner."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import optuna
from optuna.trial import TrialState

from hpsearch.search.confirm import confirm_name
from hpsearch.records import CONFIRMS_ATTR, HISTORY_ATTR, OVERRIDES_ATTR, TRAINING_ATTR
from hpsearch.lifecycle.retries import retry_trial
from hpsearch.lifecycle.stopping import SIGNAL_EXIT_CODE
from tests.helpers import run_cli, start_cli, stored_trials, training_now, wait_until


def test_confirm_retrains_the_top_trials_longer_and_export_uses_the_winner(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'confirm.db'}"
    searched = run_cli("run", "digits-quick", "--storage", url, "--trials", "4", "--epochs", "2", cwd=tmp_path)
    assert searched.returncode == 0, searched.stderr
    search = stored_trials(url, "digits-quick")
    complete = [t for t in search if t.state == TrialState.COMPLETE]
    top = sorted(complete, key=lambda t: t.value, reverse=True)[:2]

    result = run_cli("confirm", "digits-quick", "--storage", url, "--top", "2", "--epochs", "4", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "order" in result.stdout and "export" in result.stdout, result.stdout
    confirmed = stored_trials(url, confirm_name("digits-quick"))
    assert [t.state for t in confirmed] == [TrialState.COMPLETE] * 2
    searched_epochs = sum(len(t.user_attrs.get(HISTORY_ATTR, {}).get("loss", [])) for t in search)
    assert f"Training spent: {searched_epochs} epochs in the search, 8 in the confirm round, " \
           f"{searched_epochs + 8} in all." in result.stdout, result.stdout
    assert [t.user_attrs[CONFIRMS_ATTR] for t in confirmed] == [t.number for t in top]
    for long, short in zip(confirmed, top):
        assert long.params == short.params
        assert long.user_attrs[OVERRIDES_ATTR] == short.user_attrs.get(OVERRIDES_ATTR, {})
        assert long.user_attrs[TRAINING_ATTR]["epochs"] == 4
        assert len(long.user_attrs[HISTORY_ATTR]["loss"]) == 4  # no pruner: trained to the end

    again = run_cli("confirm", "digits-quick", "--storage", url, "--top", "2", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert len(stored_trials(url, confirm_name("digits-quick"))) == 2  # nothing trained twice

    contradicting = run_cli("confirm", "digits-quick", "--storage", url, "--epochs", "9", cwd=tmp_path)
    assert contradicting.returncode == 2 and "--epochs 4" in contradicting.stderr
    assert "Traceback" not in contradicting.stderr

    out = tmp_path / "exported"
    exported = run_cli("export", "digits-quick", "--storage", url, "--out", str(out), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    winner = max(confirmed, key=lambda t: t.value)
    settings = json.loads((out / "trial.json").read_text())
    assert settings["study"] == confirm_name("digits-quick") and settings["trial"] == winner.number
    assert "confirmed" in exported.stdout


def test_confirm_refuses_a_study_with_nothing_to_confirm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    missing = run_cli("confirm", "digits-quick", "--storage", url, cwd=tmp_path)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "digits-quick" in missing.stderr
    optuna.create_study(study_name="digits-quick", storage=url)
    empty = run_cli("confirm", "digits-quick", "--storage", url, cwd=tmp_path)
    assert empty.returncode == 2 and "no complete trial" in empty.stderr, empty.stderr


def test_a_retried_confirm_trial_still_knows_which_winner_it_retrains() -> None:
    study = optuna.create_study()
    study.enqueue_trial({"x": 1.0}, user_attrs={CONFIRMS_ATTR: 7, OVERRIDES_ATTR: {}})
    trial = study.ask()
    trial.suggest_float("x", 0, 2)
    study.tell(trial, state=TrialState.FAIL)
    retry_trial(study, study.trials[0])
    assert study.trials[-1].state == TrialState.WAITING
    assert study.trials[-1].user_attrs[CONFIRMS_ATTR] == 7


def test_ctrl_c_during_a_confirm_round_queues_the_winner_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'stop.db'}"
    searched = run_cli("run", "digits-quick", "--storage", url, "--trials", "2", "--epochs", "2", cwd=tmp_path)
    assert searched.returncode == 0, searched.stderr
    name = confirm_name("digits-quick")
    process = start_cli("confirm", "digits-quick", "--storage", url, "--top", "1", "--epochs", "500",
                        log=tmp_path / "confirm.log")
    try:
        wait_until(lambda: training_now(url, name, running=1), timeout=300, what="the confirm trial to train")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=120) == SIGNAL_EXIT_CODE, (tmp_path / "confirm.log").read_text()
    finally:
        process.kill()
    trials = stored_trials(url, name)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING]
    assert trials[1].user_attrs[CONFIRMS_ATTR] == trials[0].user_attrs[CONFIRMS_ATTR]
    assert "Traceback" not in (tmp_path / "confirm.log").read_text()
