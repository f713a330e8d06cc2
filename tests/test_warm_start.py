"""Warm starts: an earlier study's best trials, read back from a real SQLite storage, become a new
study's first trials in its own space, and a share of the sampler's trials is drawn near them."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

import hpsearch
from hpsearch.search.study import stored_spec
from hpsearch.search.warm_start import NEAR_ATTR, NEAR_SHARE, NearWarmStarts, enqueue_warm_starts, warm_starts
from hpsearch.space.study_files import load_spec
from hpsearch.records import BASELINE_ATTR, WARM_START_ATTR
from hpsearch.store.storage import open_storage, quiet_optuna
from tests.helpers import run_cli, stored_trials, write_study


@pytest.fixture(scope="module")
def earlier(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A finished digits-quick search (three one-epoch trials) in an SQLite storage."""
    url = f"sqlite:///{tmp_path_factory.mktemp('warm') / 'earlier.db'}"
    hpsearch.run("digits-quick", storage=url, trials=3, epochs=1)
    return url


@pytest.mark.parametrize("target", ["digits-quick", "cifar-architecture", "mnist-vgg11"])
def test_an_earlier_studys_best_trials_map_into_another_space(earlier: str, target: str) -> None:
    quiet_optuna()
    storage = open_storage(earlier)
    source = optuna.load_study(study_name="digits-quick", storage=storage)
    spec = load_spec(target)
    starts = warm_starts(spec, [(stored_spec(storage, "digits-quick"), source)])  # type: ignore[list-item]
    best = sorted((t for t in source.trials if t.state == TrialState.COMPLETE), key=lambda t: -float(t.value or 0))
    assert [s.source for s in starts] == [f"digits-quick#{t.number}" for t in best]
    for start in starts:
        for name, value in start.values.items():  # only what the new search could draw itself
            dim = spec.space[name].under(start.values.get("optimizer", ""))
            assert dim.searched and all(dim.problem(v) is None for v in (value if isinstance(value, tuple) else [value]))
    study = optuna.create_study(storage=storage, study_name=f"new-{target}")
    assert enqueue_warm_starts(study, spec, starts, present=set()) == [start.name for start in starts]
    queued = study.get_trials(deepcopy=False)
    assert [t.user_attrs[WARM_START_ATTR] for t in queued] == [s.source for s in starts]
    assert all(t.user_attrs[BASELINE_ATTR].startswith("warm start ") for t in queued)


def test_a_share_of_trials_is_drawn_near_a_finished_warm_start() -> None:
    quiet_optuna()
    space = {"rate": FloatDistribution(1e-4, 1e-1, log=True), "width": FloatDistribution(0, 1),
             "kind": CategoricalDistribution(["a", "b", "c", "d"])}
    study = optuna.create_study(direction="maximize", sampler=NearWarmStarts(optuna.samplers.RandomSampler(seed=1), 1))
    study.add_trial(optuna.create_trial(params={"rate": 1e-2, "width": 0.5, "kind": "c"}, distributions=space,
                                        value=0.9, user_attrs={WARM_START_ATTR: "earlier#4"}))
    drawn = []
    for _ in range(400):
        trial = study.ask(space)
        study.tell(trial, 0.1)
        drawn.append(study.trials[-1])
    near = [t for t in drawn if NEAR_ATTR in t.system_attrs]
    assert abs(len(near) / len(drawn) - NEAR_SHARE) < 0.07
    assert {t.system_attrs[NEAR_ATTR] for t in near} == {0}
    # Near trials sit close to the warm start; the others spread over the whole range.
    assert sum(0.2 < t.params["width"] < 0.8 for t in near) / len(near) > 0.95
    assert sum(t.params["kind"] == "c" for t in near) / len(near) > 0.75
    others = [t for t in drawn if t not in near]
    assert min(t.params["width"] for t in others) < 0.05 and max(t.params["width"] for t in others) > 0.95


def test_a_study_run_with_warm_start_trains_the_earlier_best_first_and_names_them(
    earlier: str, tmp_path: Path
) -> None:
    later = write_study(tmp_path, "later", '[data]\ndataset = "digits"\n[training]\nepochs = 1\n[search]\ntrials = 5\n'
                        "[space]\nblocks = 1\nbase_filters = { choices = [8, 16] }\ndense_units = { choices = [32, 64] }\n"
                        "learning_rate = { low = 1e-3, high = 1e-2, log = true }\n")
    missing = run_cli("run", str(later), "--storage", earlier, "--warm-start", "nowhere")
    assert missing.returncode == 2 and "--warm-start nowhere: no earlier study" in missing.stderr, missing.stderr
    ran = run_cli("run", str(later), "--storage", earlier, "--warm-start", "digits-quick")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    trials = stored_trials(earlier, "later")
    sources = [t.user_attrs.get(WARM_START_ATTR) for t in trials]
    assert sources[:3] == [f"digits-quick#{n}" for n in _best_numbers(earlier)] and sources[3:] == [None, None]
    assert "trial 0 (warm start from digits-quick#" in ran.stdout
    summary = run_cli("summary", "later", "--storage", earlier, "--format", "json")
    names = [b["baseline"] for b in json.loads(summary.stdout)["baselines"]]
    assert all(name.startswith("warm start digits-quick#") for name in names) and len(names) == 3


def _best_numbers(url: str) -> list[int]:
    trials = [t for t in stored_trials(url, "digits-quick") if t.state == TrialState.COMPLETE]
    return [t.number for t in sorted(trials, key=lambda t: -float(t.value or 0))][:3]
