"""The Python entry points the CLI is built on: `hpsearch.run` trains a real study and returns
where it stands, `hpsearch.load` reads it back through Optuna, and bad input is a LaunchError."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import hpsearch
from hpsearch.space.spec import load_spec
from tests.helpers import write_study


def test_run_then_load_from_python(tmp_path: Path) -> None:
    path = write_study(tmp_path, "from-python", '[data]\ndataset = "digits"\n[training]\nepochs = 1\n'
                       '[search]\ntrials = 2\n[space]\nblocks = 1\nconvs_per_block = 1\ndense_units = 16\n'
                       "base_filters = { choices = [4, 8] }\n")
    storage = f"sqlite:///{tmp_path}/api.db"
    progress = hpsearch.run(str(path), storage=storage, subset=300)
    assert progress.done and progress.finished == 2 and progress.best_value is not None
    study = hpsearch.load("from-python", storage=storage)
    assert study.best_value == progress.best_value
    assert {t.params["base_filters"] for t in study.trials} <= {4, 8}
    more = hpsearch.run(str(path), storage=storage, resume=True, trials=3)  # the stored subset is kept
    assert more.finished == 3

    with pytest.raises(hpsearch.LaunchError) as refused:
        hpsearch.run(str(path), storage=storage, epochs=5)
    assert refused.value.exit_code == 2 and "was created with --epochs 1" in refused.value.message
    with pytest.raises(hpsearch.LaunchError, match="no study named 'absent'"):
        hpsearch.load("absent", storage=storage)
    # Counts the CLI's flags bound are checked in Python too, before anything trains.
    for call, message in ((lambda: hpsearch.run(str(path), storage=storage, workers=-2), "workers must be at least 1"),
                          (lambda: hpsearch.confirm(str(path), storage=storage, top=-1), "top must be at least 1"),
                          (lambda: hpsearch.confirm(str(path), storage=storage, top=0), "top must be at least 1")):
        with pytest.raises(hpsearch.LaunchError, match=message):
            call()


def test_run_takes_a_spec_built_in_python(tmp_path: Path) -> None:
    """What a launcher (Ray, a notebook) does: build the spec in code, with no study file."""
    spec = load_spec("digits-quick").with_overrides(trials=1, epochs=1, subset=200)
    spec = spec.model_copy(update={"name": "built-in-python"})
    storage = f"sqlite:///{tmp_path}/built.db"
    progress = hpsearch.run(spec, storage=storage)
    assert progress.done and progress.finished == 1
    (trial,) = hpsearch.load("built-in-python", storage=storage).trials
    assert len(trial.user_attrs["history"]["loss"]) == 1


def test_importing_hpsearch_loads_no_tensorflow() -> None:
    code = "import sys, hpsearch\nassert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
