"""The Python entry points the CLI is built on: `hpsearch.run` trains a real study and returns
where it stands, `hpsearch.load` reads it back through Optuna, and bad input is a LaunchError."""

from __future__ import annotations

import datetime
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import hpsearch
from hpsearch.launch import arguments
from hpsearch.space.study_files import load_spec
from tests.helpers import run_cli, write_study


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


def test_the_api_takes_what_a_python_user_passes(tmp_path: Path) -> None:
    """Paths as os.PathLike, a budget in seconds or as a timedelta, a trial number as an int."""
    storage = f"sqlite:///{tmp_path}/types.db"
    study = Path(__file__).parent.parent / "hpsearch" / "studies" / "digits-quick.toml"
    progress = hpsearch.run(study, storage=storage, trials=1, epochs=1, budget=datetime.timedelta(hours=1),
                            checkpoints=tmp_path / "checkpoints")
    assert progress.done and hpsearch.load(study, storage=storage).user_attrs["budget"] == "1h"
    exported = hpsearch.export("digits-quick", out=str(tmp_path / "out"), trial=0, storage=storage)
    assert (tmp_path / "out" / "model.keras").exists() and exported.test_accuracy > 0
    assert arguments.budget("budget", 3600) == "3600s" and arguments.budget("budget", 90.4) == "90s"


@pytest.mark.parametrize(("call", "message"), [
    (lambda: hpsearch.run(None), "study takes a study name, a path to its .toml file, or a StudySpec (got NoneType None)"),
    (lambda: hpsearch.run("digits-quick", trails=3), "run() has no argument 'trails'; did you mean 'trials'?"),
    (lambda: hpsearch.run("digits-quick", storage=5), "storage takes text (or a path) (got int 5)"),
    (lambda: hpsearch.run("digits-quick", budget=[1]), "budget takes text such as"),
    (lambda: hpsearch.run("digits-quick", trials="3"), "trials takes a whole number (got str '3')"),
    (lambda: hpsearch.run("digits-quick", storage="sqlite:///:memory:"), "is an in-memory SQLite database"),
    (lambda: hpsearch.export("digits-quick", out=None), "out takes a path (str or os.PathLike) (got NoneType None)"),
    (lambda: hpsearch.confirm("digits-quick", top=True), "top takes a whole number (got bool True)"),
    (lambda: hpsearch.load(3.5), "study takes a study name"),
], ids=lambda value: value if isinstance(value, str) else "")
def test_the_api_refuses_other_types_in_one_sentence(call: Callable[[], object], message: str) -> None:
    with pytest.raises(hpsearch.LaunchError) as refused:
        call()
    assert message in refused.value.message and refused.value.exit_code == 2


def test_a_study_file_that_is_not_utf8_is_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "latin.toml"
    path.write_bytes(b'name = "latin"\n# caf\xe9 au lait\ndescription = "x"\n')
    for command in (["show", str(path)], ["run", str(path), "--storage", f"sqlite:///{tmp_path}/l.db"]):
        result = run_cli(*command)
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"{path}: not UTF-8 text (byte 0xe9 at position 20, line 2)" in result.stderr
        assert "Traceback" not in result.stderr
    listed = run_cli("list", "--storage", f"sqlite:///{tmp_path}/l.db", cwd=tmp_path,
                     env={"HPSEARCH_STUDIES": str(tmp_path)})
    assert listed.returncode == 0 and "Traceback" not in listed.stderr and "invalid" in listed.stdout


def test_forced_data_with_impossible_labels_is_one_sentence(tmp_path: Path) -> None:
    """--force runs past the doctor's findings, never into a crash: labels of a trillion classes."""
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 255, (200, 8, 8, 1)).astype("uint8"), rng.integers(0, 10, 200)
    labels[0] = 10**12
    np.savez(tmp_path / "huge.npz", x_train=images, y_train=labels, x_test=images[:40], y_test=labels[1:41])
    result = run_cli("run", "digits-quick", "--force", "--data", str(tmp_path / "huge.npz"), "--trials", "1",
                     "--storage", f"sqlite:///{tmp_path}/h.db")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "y_train holds the class number 1000000000000" in result.stderr
