"""What a trial's network costs, and the accuracy-vs-cost front that summary and report show."""

from __future__ import annotations

import optuna
import pytest

from hpsearch.cost import Cost, cost_front, seconds_per_epoch, trial_cost
from hpsearch.records import EPOCH_SECONDS_ATTR, PARAMS_ATTR


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
