"""A study lives in its storage: workers and `resume` train the spec it was created with (epochs,
subset, data, space), whatever file or flags their machine has; data at another path is checked
against the study's fingerprint; a contradicting flag is refused in one sentence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest

from hpsearch.space.spec import parse_spec, spec_document
from hpsearch.space.study_files import load_spec, study_files
from tests.helpers import MNIST, run_cli, start_cli, stored_trials, write_study

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize("name", sorted(study_files()))
def test_a_stored_spec_reads_back_equal(name: str) -> None:
    """What the storage keeps (JSON) parses back to the very spec, overrides included."""
    spec = load_spec(name).with_overrides(epochs=2, subset=400, budget="1h", seed=7)
    stored = json.loads(json.dumps(spec_document(spec)))
    assert parse_spec(stored, spec.source) == spec


def _mnist_slice(path: Path, start: int) -> Path:
    """600 training and 200 test images of the MNIST subset, from `start`, as an .npz at `path`."""
    with np.load(MNIST) as data:
        train, test = slice(start, start + 600), slice(0, 200)
        np.savez(path, x_train=data["x_train"][train], y_train=data["y_train"][train],
                 x_test=data["x_test"][test], y_test=data["y_test"][test])
    return path


def _keras_that_fails(directory: Path) -> Path:
    """A directory for PYTHONPATH whose `keras` fails to import: a command run with it must answer
    without loading Keras (and so TensorFlow), as a refusal should."""
    (directory / "keras").mkdir(parents=True)
    (directory / "keras" / "__init__.py").write_text('raise ImportError("keras was imported")\n')
    return directory


def _target(storage: str, name: str) -> int:
    return int(optuna.load_study(study_name=name, storage=storage).user_attrs["target_trials"])


def _data_line(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("Data:"))


def test_a_bare_worker_elsewhere_trains_what_the_study_says(tmp_path: Path, database: str,
                                                            shared_data: Path) -> None:
    """Created with --epochs 2 --subset 400 --data X.npz; joined on PostgreSQL by workers started
    where neither the study file nor those flags exist: they train 2-epoch trials on the same 400
    images, two processes at once."""
    creator_dir, elsewhere = tmp_path / "creator", tmp_path / "elsewhere"
    creator_dir.mkdir()
    elsewhere.mkdir()
    data = _mnist_slice(creator_dir / "digits-a.npz", 0)
    path = write_study(creator_dir, "stored", '[data]\ndataset = "digits"\n[training]\nepochs = 6\n'
                       '[search]\ntrials = 1\n[search.pruner]\ntype = "none"\n'
                       "[space]\nblocks = 1\nconvs_per_block = 1\ndense_units = 16\n"
                       "base_filters = { choices = [4, 8] }\n")
    created = run_cli("run", str(path), "--storage", database, "--epochs", "2", "--subset", "400",
                      "--data", str(data), cwd=creator_dir)
    assert created.returncode == 0, created.stdout + created.stderr
    path.unlink()  # the joining machines have no study file

    bare = run_cli("worker", "stored", "--storage", database, cwd=elsewhere)
    assert bare.returncode == 0, bare.stdout + bare.stderr
    assert "1 of 1 trials finished" in bare.stdout  # the stored target: nothing left to train

    logs = [elsewhere / f"worker{i}.log" for i in range(2)]
    workers = [start_cli("worker", "stored", "--storage", database, "--trials", "5", log=log) for log in logs]
    for process in workers:
        assert process.wait(timeout=240) == 0
    for log in logs:
        assert _data_line(log.read_text()) == _data_line(created.stdout)  # the same 400 images
    trials = stored_trials(database, "stored")
    assert sum(t.state.name == "COMPLETE" for t in trials) == 5
    assert {len(t.user_attrs["history"]["loss"]) for t in trials if t.state.name == "COMPLETE"} == {2}


@pytest.mark.timeout(600)  # eight commands in a row, each loading TensorFlow: 290 s on two loaded cores
def test_data_elsewhere_is_checked_and_a_changed_file_is_reported(tmp_path: Path, shared_data: Path) -> None:
    storage = f"sqlite:///{tmp_path}/stored.db"
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    body = ('[data]\ndataset = "digits"\n[training]\nepochs = 1\n[search]\ntrials = 1\n'
            "[space]\nblocks = 1\nconvs_per_block = 1\ndense_units = 16\nbase_filters = { choices = [4, 8] }\n")
    path = write_study(here, "moved", body)
    created = run_cli("run", str(path), "--storage", storage, "--data", str(_mnist_slice(here / "a.npz", 0)))
    assert created.returncode == 0, created.stdout + created.stderr

    copy = _mnist_slice(there / "a.npz", 0)  # the same images at another path: accepted
    joined = run_cli("worker", "moved", "--storage", storage, "--trials", "2", "--data", str(copy))
    assert joined.returncode == 0, joined.stdout + joined.stderr
    no_keras = {"PYTHONPATH": str(_keras_that_fails(tmp_path / "no-keras"))}
    at_target = run_cli("worker", "moved", "--storage", storage, "--data", str(copy), env=no_keras)
    assert at_target.returncode == 0, at_target.stdout + at_target.stderr  # nothing to train: no Keras loaded
    assert "Done: 2 of 2 trials finished" in at_target.stdout, at_target.stdout

    other = _mnist_slice(there / "b.npz", 600)  # other images: refused in one sentence, before Keras loads
    refused = run_cli("worker", "moved", "--storage", storage, "--trials", "3", "--data", str(other),
                      env=no_keras)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "error: this data is not the data study 'moved' was created with" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert _target(storage, "moved") == 2, "the refused worker's --trials was stored"

    out = tmp_path / "exported"
    not_its_data = run_cli("export", "moved", "--storage", storage, "--out", str(out), "--data", str(other))
    assert not_its_data.returncode == 2, not_its_data.stdout + not_its_data.stderr
    assert "this data is not the data study 'moved' was created with" in not_its_data.stderr
    assert not (out / "model.keras").exists()
    rng = np.random.default_rng(0)  # images of another shape: refused before any model is built
    images = rng.integers(0, 255, (300, 16, 16, 1)).astype("uint8")
    np.savez(there / "shape.npz", x_train=images, y_train=np.arange(300) % 10, x_test=images[:50],
             y_test=np.arange(50) % 10)
    other_shape = run_cli("export", "moved", "--storage", storage, "--out", str(out), "--data", str(there / "shape.npz"))
    assert other_shape.returncode == 2 and "not the data study 'moved' was created with" in other_shape.stderr
    assert "Traceback" not in other_shape.stderr
    exported = run_cli("export", "moved", "--storage", storage, "--out", str(out), "--data", str(copy))
    assert exported.returncode == 0 and (out / "model.keras").exists(), exported.stdout + exported.stderr

    path.write_text(path.read_text().replace("choices = [4, 8]", "choices = [32, 64]"))
    resumed = run_cli("resume", str(path), "--storage", storage, "--trials", "3")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{path} differs from study moved as created (space.base_filters)" in resumed.stdout
    assert {t.params["base_filters"] for t in stored_trials(storage, "moved")} <= {4, 8}


@pytest.mark.parametrize("command", [["resume", "digits-quick"], ["confirm", "digits-quick"],
                                     ["run", "digits-quick", "--workers", "999"],
                                     ["run", "digits-quick", "--data", "no-such-file.npz"],
                                     ["worker", "digits-quick", "--data", "no-such-file.npz"]], ids=" ".join)
def test_a_refused_command_leaves_no_storage_behind(tmp_path: Path, command: list[str]) -> None:
    database = tmp_path / "absent.db"
    refused = run_cli(*command, "--storage", f"sqlite:///{database}")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr and not database.exists()
