"""Warm starts: an earlier study's best trials, read back from a real SQLite storage, become a new
study's first trials in its own space."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

import hpsearch
from hpsearch.search.study import stored_spec
from hpsearch.search.warm_start import enqueue_warm_starts, warm_starts
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
