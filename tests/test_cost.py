"""What a trial's network costs, and the accuracy-vs-cost front that summary and report show."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpsearch.compute.cost import Cost, cost_front, seconds_per_epoch, too_costly, trial_cost
from hpsearch.records import END_REASON_ATTR, EPOCH_SECONDS_ATTR, PARAMS_ATTR, TOO_COSTLY_ATTR
from hpsearch.space.study_files import load_spec
from tests.helpers import run_cli, stored_trials, write_study


def test_seconds_per_epoch_leaves_out_the_tracing_epoch() -> None:
    assert seconds_per_epoch([30.0, 10.0, 12.0, 11.0]) == 11.0
    assert seconds_per_epoch([30.0]) == 30.0  # a trial pruned after one epoch: all there is
    assert seconds_per_epoch([]) is None


def test_a_trial_costs_its_steady_epoch_times_the_study_length() -> None:
    trial = optuna.trial.create_trial(value=0.6, user_attrs={EPOCH_SECONDS_ATTR: [9.0, 4.0, 4.0],
                                                             PARAMS_ATTR: 1000})
    cost = trial_cost(trial, epochs=15)
    assert cost is not None and cost.full_seconds == pytest.approx(60.0) and cost.params == 1000
    assert trial_cost(optuna.trial.create_trial(value=0.5), epochs=15) is None  # no timings recorded


def test_the_front_keeps_only_trials_no_cheaper_trial_beats() -> None:
    costs = [Cost(0, 0.50, 10, None), Cost(1, 0.55, 30, None), Cost(2, 0.52, 40, None),
             Cost(3, 0.60, 200, None), Cost(4, 0.50, 5, None), Cost(5, 0.49, 2, None)]
    assert [c.number for c in cost_front(costs, maximize=True)] == [5, 4, 1, 3]
    assert [c.number for c in cost_front(costs, maximize=False)] == [5]


def test_a_network_too_costly_for_the_time_budget_is_judged_from_its_second_epoch() -> None:
    assert too_costly([30.0], epochs=15, cap_seconds=60.0) is None  # the first epoch traces the graph
    assert too_costly([30.0, 5.0], epochs=15, cap_seconds=60.0) == pytest.approx(75.0)
    assert too_costly([30.0, 3.0], epochs=15, cap_seconds=60.0) is None
    assert too_costly([30.0, 5.0], epochs=15, cap_seconds=None) is None  # no time budget, no cap


def test_only_a_time_budget_caps_what_one_trial_may_cost() -> None:
    spec = load_spec("digits-quick")
    timed = spec.with_overrides(budget="2h")
    assert timed.search.cost_cap_seconds() == pytest.approx(7200 * timed.search.max_trial_share)
    assert spec.with_overrides(budget="300epochs").search.cost_cap_seconds() is None
    assert spec.search.cost_cap_seconds() is None
    uncapped = timed.search.model_copy(update={"max_trial_share": 0.0})
    assert uncapped.cost_cap_seconds() is None  # 0: no cap


COSTLY = """
[search]
trials = 3
budget = "1h"
max_trial_share = 0.000001
[data]
dataset = "digits"
validation_fraction = 0.2
[training]
epochs = 4
[search.pruner]
type = "none"
[space]
blocks = 1
base_filters = { choices = [8, 16] }
dense_units = 16
[[baselines]]
name = "hand-tuned"
base_filters = 8
"""


def test_under_a_time_budget_a_costly_network_is_pruned_and_the_sampler_told(tmp_path: Path) -> None:
    """A cap of a millionth of an hour (3.6 ms a trial) makes every drawn network too costly: each
    is pruned after its second epoch, says why, and is infeasible to the sampler. The study's
    baseline, what the search is measured against, still trains in full."""
    url = f"sqlite:///{tmp_path / 'cost.db'}"
    result = run_cli("run", str(write_study(tmp_path, "costly", COSTLY)), "--storage", url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    baseline, *drawn = stored_trials(url, "costly")
    assert baseline.state == TrialState.COMPLETE and len(baseline.user_attrs["history"]["loss"]) == 4
    assert TOO_COSTLY_ATTR not in baseline.user_attrs
    assert [t.state for t in drawn] == [TrialState.PRUNED] * 2
    for trial in drawn:
        assert "too costly" in trial.user_attrs[END_REASON_ATTR]
        assert len(trial.user_attrs["history"]["loss"]) == 2
        assert trial.user_attrs[TOO_COSTLY_ATTR] > 0
        assert trial.constraints["cost"] > 0  # infeasible to the sampler (Trial.set_constraint)
