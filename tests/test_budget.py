"""Budgets in compute (`--budget 2h`, `--budget 300epochs`, `[search] budget`) and the GP sampler:
parsing and measuring on made-up trials, then real runs of tiny digits studies that stop because
their budget is spent, are resumed with a larger one, and are summarized."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from hpsearch.lifecycle import stopping
from hpsearch.compute.budget import (
    NO_TRIAL_TARGET,
    Budget,
    BudgetError,
    busy_seconds,
    duration_text,
    measure,
    parse_budget,
)
from hpsearch.records import HISTORY_ATTR, RESUMED_EPOCHS_ATTR, TrialRecord
from hpsearch.errors import SpecError
from hpsearch.space.spec import parse_spec
from hpsearch.search.study import make_sampler
from tests.conftest import SMALL_NET
from tests.helpers import FINISHED, count, run_cli, stored_trials, write_study

T0 = datetime(2026, 1, 1, 12, 0, 0)


@pytest.mark.parametrize(("text", "unit", "amount", "canonical"), [
    ("2h", "seconds", 7200, "2h"), ("90m", "seconds", 5400, "1h30m"), ("1h30m", "seconds", 5400, "1h30m"),
    ("45s", "seconds", 45, "45s"), ("1h0m5s", "seconds", 3605, "1h5s"), (" 2H ", "seconds", 7200, "2h"),
    ("300epochs", "epochs", 300, "300epochs"), ("1epoch", "epochs", 1, "1epoch"),
    ("1.5h", "seconds", 5400, "1h30m"), ("0.25h", "seconds", 900, "15m"), ("2.5m", "seconds", 150, "2m30s"),
])
def test_budgets_are_read_in_their_two_kinds(text: str, unit: str, amount: int, canonical: str) -> None:
    budget = parse_budget(text)
    assert budget == Budget(unit, amount) and budget.text == canonical  # type: ignore[arg-type]
    assert parse_budget(canonical) == budget


@pytest.mark.parametrize(("text", "says"), [
    ("2 hours", "is not a budget; write a wall time such as 2h"), ("1h30", "is not a budget"),
    ("", "is not a budget"), ("300 epochs", "is not a budget"), ("0h", "allows nothing"),
    ("0epochs", "allows nothing"), ("-5epochs", "cannot be negative"), ("1.5epochs", "is not a budget"),
    ("1.5s", "is not a budget"), (".5h", "is not a budget"), ("0.0001h", "allows nothing"),
])
def test_bad_budgets_are_one_sentence(text: str, says: str) -> None:
    with pytest.raises(BudgetError, match=says):
        parse_budget(text)
    assert parse_budget("none") is None


def _trial(start: float | None, end: float | None, epochs: int = 0, resumed: int = 0) -> FrozenTrial:
    """A trial that ran from `start` to `end` seconds after T0 (None: not started / still running)."""
    trial = optuna.trial.create_trial(state=TrialState.COMPLETE, value=0.5)
    trial.datetime_start = None if start is None else T0 + timedelta(seconds=start)
    trial.datetime_complete = None if end is None else T0 + timedelta(seconds=end)
    trial.set_user_attr(HISTORY_ATTR, {"loss": [1.0] * epochs})
    trial.set_user_attr(RESUMED_EPOCHS_ATTR, resumed)
    return trial


def test_wall_time_counts_parallel_trials_once_and_a_stopped_study_not_at_all() -> None:
    now = T0 + timedelta(seconds=10_000)
    parallel = [_trial(0, 100), _trial(50, 150), _trial(151, 200)]  # two workers, a 1 s gap between trials
    assert busy_seconds(parallel, now) == 200
    stopped_then_resumed = [_trial(0, 100), _trial(5_000, 5_100)]  # stood stopped for over an hour
    assert busy_seconds(stopped_then_resumed, now) == 200
    running = [_trial(0, 100), _trial(9_990, None), _trial(None, None)]  # running up to now; queued: nothing
    assert busy_seconds(running, now) == 110
    # A worker about to start a trial counts the short gap since the last one ended.
    assert busy_seconds([_trial(0, 100)], T0 + timedelta(seconds=120), active=True) == 120
    assert busy_seconds([_trial(0, 100)], T0 + timedelta(seconds=120)) == 100


def test_epochs_count_once_on_the_attempt_that_trained_them() -> None:
    attempts = [_trial(0, 10, epochs=3), _trial(20, 30, epochs=10, resumed=3)]  # a retry resumed at epoch 3
    assert [TrialRecord(t).epochs_trained for t in attempts] == [3, 7]
    use = measure(Budget("epochs", 12), attempts)
    assert use.used == 10 and not use.spent and use.seconds_left is None
    assert use.describe() == "budget 12 epochs: 10 used (83%)"
    time_use = measure(Budget("seconds", 7200), [_trial(0, 4320)], now=T0 + timedelta(days=1))
    assert time_use.describe() == "budget 2h: 1h12m used (60%)" and time_use.seconds_left == 2880
    assert duration_text(59.6) == "1m" and duration_text(0) == "0s"


def test_a_deadline_is_a_stop_asked_for_by_the_clock() -> None:
    try:
        stopping.stop_at(0.0)  # long past
        assert stopping.stop_requested() and stopping.deadline_passed() and not stopping.signal_received()
        with pytest.raises(stopping.StopRequested, match="time budget is spent"):
            stopping.check()
        stopping.stop_at(None)
        assert not stopping.stop_requested()
        stopping.check()
    finally:
        stopping.stop_at(None)


STUDY = {"name": "x", "description": "d", "data": {"dataset": "digits"}}


def test_the_study_file_takes_a_budget_that_alone_or_with_trials_ends_the_study() -> None:
    alone = parse_spec({**STUDY, "search": {"budget": "90m"}}, "x.toml").search
    assert alone.budget == "1h30m" and alone.trials == NO_TRIAL_TARGET and not alone.has_target
    assert alone.goal() == "trials (until a budget of 1h30m is spent)"
    both = parse_spec({**STUDY, "search": {"budget": "300epochs", "trials": 40}}, "x.toml").search
    assert both.trials == 40 and both.goal() == "40 trials (or a budget of 300 epochs, whichever comes first)"
    assert parse_spec(STUDY, "x.toml").search.budget is None
    for bad, says in [(300, 'write a budget as text in quotes, such as "2h" or "300epochs" (got 300)'),
                      ("2 hours", "'2 hours' is not a budget"), ("-1h", "cannot be negative")]:
        with pytest.raises(SpecError, match=f"^x.toml: search.budget: .*{re.escape(says)}"):
            parse_spec({**STUDY, "search": {"budget": bad}}, "x.toml")
    with pytest.raises(SpecError, match="a study with no budget needs a trial target"):
        parse_spec({**STUDY, "search": {"budget": "2h"}}, "x.toml").with_overrides(budget="none")


def test_gp_sampler_is_selectable() -> None:
    spec = parse_spec({**STUDY, "search": {"sampler": {"type": "gp", "startup_trials": 4}}}, "x.toml")
    sampler = make_sampler(spec, seed=3)
    assert isinstance(sampler, optuna.samplers.GPSampler)
    assert sampler._n_startup_trials == 4  # type: ignore[attr-defined]  # unshared among brackets
    with pytest.raises(SpecError, match="search.sampler.type"):
        parse_spec({**STUDY, "search": {"sampler": {"type": "bayes"}}}, "x.toml")


def test_bad_budgets_on_the_command_line_exit_2_before_anything_is_created(tmp_path: Path) -> None:
    db = tmp_path / "never.db"
    for bad in ("2 hours", "0h", "-5epochs"):
        result = run_cli("run", "digits-quick", "--budget", bad, "--storage", f"sqlite:///{db}")
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr.startswith("error: --budget: ") and len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr
    assert not db.exists()
    path = write_study(tmp_path, "badfile", '[data]\ndataset = "digits"\n[search]\nbudget = "2 hours"\n')
    from_file = run_cli("run", str(path), "--storage", f"sqlite:///{db}")
    assert from_file.returncode == 2 and "search.budget: '2 hours' is not a budget" in from_file.stderr
    only_budget = write_study(tmp_path, "onlybudget", '[data]\ndataset = "digits"\n[search]\nbudget = "1h"\n')
    nothing_ends_it = run_cli("run", str(only_budget), "--budget", "none", "--storage", f"sqlite:///{db}")
    assert nothing_ends_it.returncode == 2 and "needs a trial target" in nothing_ends_it.stderr


def _epochs(trials: list[FrozenTrial]) -> int:
    return sum(TrialRecord(t).epochs_trained for t in trials)


def _summary(url: str, name: str) -> dict:
    result = run_cli("summary", name, "--storage", url, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_an_epoch_budget_stops_the_run_and_summary_shows_what_it_bought(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/epochs.db"
    result = run_cli("run", "digits-quick", "--epochs", "2", "--budget", "7epochs", "--storage", url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "until a budget of 7 epochs is spent" in result.stdout and "Budget spent:" in result.stdout
    trials = stored_trials(url, "digits-quick")
    assert 7 <= _epochs(trials) < 7 + 2  # running trials finish: less than one trial's epochs over
    assert count(trials, TrialState.RUNNING) == 0
    found = _summary(url, "digits-quick")
    assert found["target"] is None
    assert found["budget"] == {"text": "7epochs", "unit": "epochs", "amount": 7, "used": _epochs(trials),
                               "spent": True}
    table = run_cli("summary", "digits-quick", "--storage", url)
    assert f"budget 7 epochs: {_epochs(trials)} used" in table.stdout
    counts = found["counts"]
    assert f"bought {counts['complete']} complete and {counts['pruned']} pruned trials" in table.stdout

    # Two worker processes read the raised budget from the storage and stop together.
    raised = run_cli("resume", "digits-quick", "--budget", "15epochs", "--workers", "2", "--storage", url)
    assert raised.returncode == 0, raised.stdout + raised.stderr
    assert "Budget spent:" in raised.stdout
    trials = stored_trials(url, "digits-quick")
    assert 15 <= _epochs(trials) < 15 + 2 * 2 and count(trials, TrialState.RUNNING) == 0


def test_a_budget_in_the_study_file_ends_the_study_or_the_trials_do_first(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/file.db"
    body = (f'[data]\ndataset = "digits"\nsubset = 300\n[training]\nepochs = 2\n[search]\n{{}}\n'
            f'[search.pruner]\ntype = "none"\n[space]\n{SMALL_NET}batch_size = {{{{ choices = [32, 64] }}}}\n')
    budget_only = write_study(tmp_path, "budgetonly", body.format('budget = "3epochs"'))
    result = run_cli("run", str(budget_only), "--storage", url)
    assert result.returncode == 0 and "Budget spent:" in result.stdout, result.stdout + result.stderr
    assert 3 <= _epochs(stored_trials(url, "budgetonly")) < 5
    trials_first = write_study(tmp_path, "trialsfirst", body.format('budget = "100epochs"\ntrials = 2'))
    result = run_cli("run", str(trials_first), "--storage", url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Done: 2 of 2 trials finished" in result.stdout
    assert "budget 100 epochs: 4 used (4%)" in result.stdout


def test_a_time_budget_stops_the_running_trial_at_a_safe_point_and_resume_finishes_it(tmp_path: Path) -> None:
    """One trial of 100 epochs takes far longer than a 3-second budget (each epoch also writes a
    checkpoint), so the deadline certainly falls inside it."""
    url = f"sqlite:///{tmp_path}/time.db"
    path = write_study(tmp_path, "long", '[data]\ndataset = "digits"\n[training]\nepochs = 100\n[search]\n'
                       # no cost cap: it would prune this trial for taking longer than the budget
                       f'max_trial_share = 0\n[search.pruner]\ntype = "none"\n[space]\n{SMALL_NET}')
    result = run_cli("run", str(path), "--budget", "3s", "--trials", "1", "--storage", url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Budget spent:" in result.stdout and "Traceback" not in result.stderr
    interrupted, queued = stored_trials(url, "long")
    assert interrupted.state == TrialState.FAIL and interrupted.user_attrs["end_reason"] == "interrupted"
    assert queued.state == TrialState.WAITING and queued.system_attrs["failed_trial"] == interrupted.number
    trained = len(interrupted.user_attrs.get(HISTORY_ATTR, {}).get("loss", []))
    assert trained < 100

    spent = run_cli("resume", str(path), "--storage", url)
    assert spent.returncode == 0 and "has spent its budget 3s" in spent.stdout, spent.stdout + spent.stderr

    resumed = run_cli("resume", str(path), "--budget", "1h", "--storage", url)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "Done: 1 of 1 trials finished" in resumed.stdout
    _, finished = stored_trials(url, "long")
    assert finished.state in FINISHED and finished.number == queued.number
    assert finished.user_attrs.get(RESUMED_EPOCHS_ATTR, 0) == trained  # from its checkpoint, if it had one
    budget = _summary(url, "long")["budget"]
    assert budget["text"] == "1h" and not budget["spent"] and budget["used"] >= 3


def test_gp_sampler_runs_a_short_study(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/gp.db"
    path = write_study(
        tmp_path, "gp",
        '[data]\ndataset = "digits"\nsubset = 400\n[training]\nepochs = 2\n[search]\ntrials = 4\n'
        '[search.sampler]\ntype = "gp"\nstartup_trials = 2\n[search.pruner]\ntype = "none"\n'
        f"[space]\n{SMALL_NET}learning_rate = {{ low = 1e-3, high = 1e-2, log = true }}\n"
        "batch_size = { choices = [16, 32] }\n",
    )
    result = run_cli("run", str(path), "--storage", url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Done: 4 of 4 trials finished" in result.stdout
    trials = stored_trials(url, "gp")
    # After two completed trials the GP (fitted with torch beside TensorFlow) proposed the rest.
    assert all(any(k.startswith("gp:relative_params") for k in t.system_attrs) for t in trials[2:])
