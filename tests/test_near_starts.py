"""Draws near the starting points: a share of the sampler's trials spread around the best finished
starting points, in a sampler test and in a real run of a study file; such a draw is not pruned
while it keeps pace with its starting point."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution

import hpsearch
from hpsearch.records import BASELINE_ATTR, NEAR_START_ATTR, WARM_START_ATTR
from hpsearch.search.near_starts import NearStarts
from hpsearch.search.study import make_sampler
from hpsearch.space.spec import NEAR_SHARE_WITH_WARM_STARTS
from hpsearch.space.study_files import load_spec
from hpsearch.store.storage import quiet_optuna
from tests.helpers import run_cli, stored_trials, write_study

SPACE = {"rate": FloatDistribution(1e-4, 1e-1, log=True), "width": FloatDistribution(0, 1),
         "kind": CategoricalDistribution(["a", "b", "c", "d"])}


def test_a_share_of_trials_is_drawn_near_the_finished_starting_points_the_best_more_often() -> None:
    quiet_optuna()
    study = optuna.create_study(direction="maximize", sampler=NearStarts(optuna.samplers.RandomSampler(seed=1), 1, 0.3))
    study.add_trial(optuna.create_trial(params={"rate": 1e-2, "width": 0.5, "kind": "c"}, distributions=SPACE,
                                        value=0.9, user_attrs={BASELINE_ATTR: "vgg + proven recipe"}))
    study.add_trial(optuna.create_trial(params={"rate": 1e-3, "width": 0.2, "kind": "a"}, distributions=SPACE,
                                        value=0.6, user_attrs={BASELINE_ATTR: "warm start earlier#4",
                                                               WARM_START_ATTR: "earlier#4"}))
    study.add_trial(optuna.create_trial(params={"rate": 1e-1, "width": 0.9, "kind": "d"}, distributions=SPACE,
                                        value=0.99))  # a drawn trial, however good, is no starting point
    study.add_trial(optuna.create_trial(params={"rate": 1e-4, "width": 0.0, "kind": "b"}, distributions=SPACE,
                                        state=optuna.trial.TrialState.PRUNED, user_attrs={BASELINE_ATTR: "stuck"}))
    drawn = []
    for _ in range(600):
        trial = study.ask(SPACE)
        study.tell(trial, 0.1)
        drawn.append(study.trials[-1])
    near = [t for t in drawn if NEAR_START_ATTR in t.system_attrs]
    assert abs(len(near) / len(drawn) - 0.3) < 0.06
    assert {t.system_attrs[NEAR_START_ATTR] for t in near} == {0, 1}  # neither the drawn trial nor the pruned start
    best = [t for t in near if t.system_attrs[NEAR_START_ATTR] == 0]
    assert 0.55 < len(best) / len(near) < 0.8  # weights 1 and 1/2: two thirds near the best
    # Near trials sit close to their starting point; the others spread over the whole range.
    assert sum(0.2 < t.params["width"] < 0.8 for t in best) / len(best) > 0.95
    assert sum(t.params["kind"] == "c" for t in best) / len(best) > 0.75
    others = [t for t in drawn if t not in near]
    assert min(t.params["width"] for t in others) < 0.05 and max(t.params["width"] for t in others) > 0.95


def test_past_tpes_startup_trials_a_near_draw_is_still_drawn_near_its_start(tmp_path: Path) -> None:
    """TPE here samples every parameter jointly once its startup trials have run; a trial tagged
    near a start must not be handed to it (Optuna gives the sampler the trial as read before the
    tag), in a real SQLite storage."""
    quiet_optuna()
    tpe = optuna.samplers.TPESampler(seed=0, n_startup_trials=3, multivariate=True, group=True)
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'tpe.db'}", direction="maximize",
                                sampler=NearStarts(tpe, 0, 0.5))
    study.add_trial(optuna.create_trial(params={"rate": 1e-2, "width": 0.5, "kind": "c"}, distributions=SPACE,
                                        value=0.9, user_attrs={BASELINE_ATTR: "vgg + proven recipe"}))
    for _ in range(60):
        trial = study.ask(SPACE)
        study.tell(trial, 0.5 * trial.params["width"])  # TPE learns to draw wide trials, far from 0.5
    near = [t for t in study.trials[10:] if NEAR_START_ATTR in t.system_attrs]
    assert len(near) > 10
    assert all(0.15 < t.params["width"] < 0.85 for t in near), [t.params["width"] for t in near]


def test_a_retry_keeps_its_first_attempts_start_and_a_draw_without_one_gets_none() -> None:
    """A retried trial is queued again with its values and system attributes: the sampler draws
    nothing for it, so it keeps the start its first attempt was drawn near, or none."""
    quiet_optuna()
    study = optuna.create_study(direction="maximize", sampler=NearStarts(optuna.samplers.RandomSampler(seed=1), 1, 0.99))
    study.add_trial(optuna.create_trial(params={"width": 0.5}, distributions={"width": SPACE["width"]}, value=0.9,
                                        user_attrs={BASELINE_ATTR: "start a"}))
    study.add_trial(optuna.create_trial(params={"width": 0.2}, distributions={"width": SPACE["width"]}, value=0.8,
                                        user_attrs={BASELINE_ATTR: "start b"}))
    for tag in ({NEAR_START_ATTR: 1}, {}):
        study.add_trial(optuna.create_trial(state=optuna.trial.TrialState.WAITING, params={"width": 0.3},
                                            distributions={"width": SPACE["width"]}, system_attrs=tag))
        retried = study.ask({"width": SPACE["width"]})
        assert retried.params == {"width": 0.3}
        assert study._storage.get_trial_system_attrs(retried._trial_id).get(NEAR_START_ATTR) == tag.get(NEAR_START_ATTR)
        study.tell(retried, 0.1)


@pytest.mark.parametrize(("search", "share"), [
    ({}, 0.0),
    ({"warm_start": ["earlier"]}, NEAR_SHARE_WITH_WARM_STARTS),
    ({"warm_start": ["earlier"], "near_starts": 0.0}, 0.0),
    ({"near_starts": 0.4}, 0.4),
])
def test_the_share_is_the_studys_setting_and_a_quarter_with_warm_starts_by_default(search: dict, share: float) -> None:
    base = load_spec("digits-quick")
    spec = base.model_copy(update={"search": base.search.model_validate({**base.search.model_dump(), **search})})
    sampler = make_sampler(spec, seed=0)
    assert spec.search.near_share == share
    assert isinstance(sampler, NearStarts) == bool(share)
    if share:
        assert isinstance(sampler, NearStarts) and sampler.share == share


def test_a_run_draws_near_its_baseline_and_a_share_out_of_range_is_refused(tmp_path: Path) -> None:
    body = ('[data]\ndataset = "digits"\n[training]\nepochs = 1\n[search]\ntrials = 6\nnear_starts = SHARE\n'
            "[search.pruner]\ntype = \"none\"\n"
            "[space]\nblocks = 1\nbase_filters = { choices = [8, 16, 32] }\ndense_units = { choices = [32, 64, 128] }\n"
            "learning_rate = { low = 1e-4, high = 1e-1, log = true }\n"
            '[[baselines]]\nname = "small"\nbase_filters = 8\ndense_units = 32\nlearning_rate = 0.003\n')
    refused = run_cli("run", str(write_study(tmp_path, "wrong", body.replace("SHARE", "1.5"))),
                      "--storage", f"sqlite:///{tmp_path / 'wrong.db'}")
    assert refused.returncode == 2 and "search.near_starts: Input should be less than 1" in refused.stderr and "Traceback" not in refused.stderr
    url = f"sqlite:///{tmp_path / 'near.db'}"
    hpsearch.run(str(write_study(tmp_path, "near", body.replace("SHARE", "0.9"))), storage=url)
    trials = stored_trials(url, "near")
    assert trials[0].user_attrs[BASELINE_ATTR] == "small"
    near = [t for t in trials[1:] if t.system_attrs.get(NEAR_START_ATTR) == 0]
    assert len(near) >= 3, [t.system_attrs for t in trials]
    # Drawn near a learning rate of 0.003 over a range of three decades: within a factor of ten of it.
    assert all(3e-4 < t.params["learning_rate"] < 3e-2 for t in near)


def test_a_draw_near_a_start_is_not_pruned_while_it_keeps_pace_with_it() -> None:
    """The pruner here would stop every trial at every epoch; a draw near the start goes on while
    it is level with or ahead of the start at the same epoch, and is pruned once it falls behind.
    A trial drawn by the sampler alone has no pace to keep."""
    from hpsearch.train.objective import EpochPruning, Pace, TrialMonitor

    quiet_optuna()
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=1.0))
    study.add_trial(optuna.create_trial(params={"width": 0.5}, distributions={"width": SPACE["width"]}, value=0.7,
                                        intermediate_values={1: 0.3, 2: 0.5, 3: 0.7},
                                        user_attrs={BASELINE_ATTR: "vgg + proven recipe"}))

    def pruning(near: bool) -> EpochPruning:
        trial = study.ask({"width": SPACE["width"]})
        if near:
            study._storage.set_trial_system_attr(trial._trial_id, NEAR_START_ATTR, 0)
        pace = Pace.of_start_near(trial, maximize=True)
        assert (pace is not None) == near
        return EpochPruning(trial, "val_accuracy", 4, TrialMonitor(trial, None), None, prunable=True, pace=pace)

    near = pruning(near=True)
    near.on_epoch_end(0, {"val_accuracy": 0.3})  # level with the start
    near.on_epoch_end(1, {"val_accuracy": 0.6})  # ahead
    with pytest.raises(optuna.TrialPruned, match="pruned at epoch 3"):
        near.on_epoch_end(2, {"val_accuracy": 0.65})  # behind the start's 0.7
    with pytest.raises(optuna.TrialPruned, match="pruned at epoch 1"):
        pruning(near=False).on_epoch_end(0, {"val_accuracy": 0.9})
    # Kept, it is still asked, so successive halving records it at its rung with this epoch's value.
    study.pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=1)
    rung = pruning(near=True)
    rung.on_epoch_end(0, {"val_accuracy": 0.35})
    assert study._storage.get_trial_system_attrs(rung.trial._trial_id)["completed_rung_0"] == 0.35
    assert Pace({1: 0.4}, maximize=False).kept(1, 0.3) and not Pace({1: 0.4}, maximize=False).kept(1, 0.5)
    assert not Pace({1: 0.4}, maximize=True).kept(2, 0.9)  # past the start's curve: nothing to keep up with
