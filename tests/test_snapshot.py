"""The fast read-only readers of `list` and `summary` against Optuna's own reading of the same
storage, on SQLite and on a real PostgreSQL server: every state, value kind, parameter kind and
attribute must come back as Optuna itself returns it. No training: trials are written directly.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from hpsearch.store.snapshot import UnknownStudy, read_overviews, read_snapshot
from hpsearch.store.storage import open_storage, quiet_optuna
from tests.postgres import PostgresServer

DISTRIBUTIONS = {
    "learning_rate": FloatDistribution(1e-4, 1e-1, log=True),
    "dropout": FloatDistribution(0.0, 0.5, step=0.1),
    "blocks": IntDistribution(1, 4),
    "batch_norm": CategoricalDistribution(["none", "after_activation", None]),
    "batch_size": CategoricalDistribution([32, 64]),
}


def _params(i: int) -> dict[str, object]:
    return {"learning_rate": 10 ** (-1 - i % 3), "dropout": 0.1 * (i % 5), "blocks": 1 + i % 4,
            "batch_norm": ["none", "after_activation", None][i % 3], "batch_size": [32, 64][i % 2]}


def _fill(url: str) -> None:
    """Two studies: one maximized with every trial state and infinite values, one minimized."""
    quiet_optuna()
    storage = open_storage(url)
    study = optuna.create_study(storage=storage, study_name="mixed", direction="maximize")
    study.set_user_attr("target_trials", 12)
    study.set_user_attr("description", "every kind of trial")
    states = [TrialState.COMPLETE] * 6 + [TrialState.PRUNED] * 3 + [TrialState.FAIL, TrialState.RUNNING,
                                                                     TrialState.WAITING]
    trials = []
    for i, state in enumerate(states):
        value = {0: math.inf, 1: -math.inf}.get(i, 0.5 + i / 100) if state in (TrialState.COMPLETE,
                                                                               TrialState.PRUNED) else None
        trials.append(create_trial(
            state=state, value=value, params=_params(i), distributions=DISTRIBUTIONS,
            user_attrs={"history": {"val_accuracy": [0.1 * i, 0.2 * i]}, "end_reason": f"reason {i}",
                        "test_accuracy": None if i % 2 else 0.4},
        ))
    study.add_trials(trials)
    small = optuna.create_study(storage=storage, study_name="minimized", direction="minimize")
    small.optimize(lambda t: (t.suggest_float("x", -3, 3) - 1) ** 2, n_trials=5)
    storage.engine.dispose()


def _check_against_optuna(url: str) -> None:
    storage = open_storage(url)
    try:
        for name in ("mixed", "minimized"):
            study = optuna.load_study(study_name=name, storage=storage)
            snapshot = read_snapshot(url, name)
            assert snapshot.name == name
            assert snapshot.maximize == (study.direction == optuna.study.StudyDirection.MAXIMIZE)
            assert snapshot.user_attrs == study.user_attrs
            expected = study.get_trials(deepcopy=False)
            assert [t.number for t in snapshot.trials] == [t.number for t in expected]
            for ours, theirs in zip(snapshot.trials, expected):
                assert ours.state == theirs.state
                assert ours.values == theirs.values
                assert ours.params == theirs.params
                assert ours.distributions == theirs.distributions
                assert ours.user_attrs == theirs.user_attrs
        overviews = {o.name: o for o in read_overviews(url)}
        assert set(overviews) == {"mixed", "minimized"}
        mixed = overviews["mixed"].progress
        assert (mixed.target, mixed.finished, mixed.states["RUNNING"], mixed.states["WAITING"]) == (12, 9, 1, 1)
        assert mixed.states_text() == "6 complete, 3 pruned, 1 fail, 1 running, 1 waiting"
        assert overviews["mixed"].description == "every kind of trial"
        assert mixed.best_value == optuna.load_study(study_name="mixed", storage=storage).best_value == math.inf
        minimized = optuna.load_study(study_name="minimized", storage=storage)
        assert overviews["minimized"].progress.best_value == pytest.approx(minimized.best_value)
    finally:
        storage.engine.dispose()


def test_snapshot_matches_optuna_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/study.db"
    _fill(url)
    _check_against_optuna(url)
    with pytest.raises(UnknownStudy):
        read_snapshot(url, "absent")


def test_snapshot_matches_optuna_on_postgresql(postgres: PostgresServer, database: str) -> None:
    _fill(database)
    _check_against_optuna(database)


def test_list_and_summary_load_no_heavy_modules(tmp_path: Path) -> None:
    """What keeps them fast on big studies: `list` never imports Optuna, and `summary` neither
    Alembic (Optuna's schema check), scikit-learn (Optuna's fANOVA) nor TensorFlow."""
    url = f"sqlite:///{tmp_path}/study.db"
    _fill(url)
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from hpsearch.cli import app\n"
        "def loaded(args):\n"
        "    result = CliRunner().invoke(app, [*args, '--storage', sys.argv[1]])\n"
        "    assert result.exit_code == 0, (args, result.output)\n"
        "    return sorted(m for m in ('optuna', 'alembic', 'sklearn', 'tensorflow') if m in sys.modules)\n"
        "print(loaded(['list']), loaded(['summary', 'minimized']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code, url], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] ['optuna']"
