"""`hpsearch run` end to end: real processes, real Keras training on real data, real storage."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpsearch.space.architecture import Architecture
from hpsearch.analysis.diagnosis import loss_diverged
from tests.helpers import CIFAR, REPO, run_cli, write_study

TINY_SPACE = """
[space]
blocks = 1
convs_per_block = 1
base_filters = { choices = [4, 8] }
kernel_size = { choices = [2, 3] }
dense_layers = 1
dense_units = 16
batch_size = { choices = [32, 64] }
"""


def _trials(db: Path, name: str) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{db}")
    return study.get_trials(deepcopy=False)


def test_run_records_everything_and_continues_without_rerunning(tmp_path: Path) -> None:
    path = write_study(
        tmp_path,
        "tiny",
        '[data]\ndataset = "digits"\n[training]\nepochs = 2\n[search]\ntrials = 3\n'
        '[search.pruner]\ntype = "none"\n'
        + TINY_SPACE
        + '[[baselines]]\nname = "hand-made"\nbase_filters = 8\nkernel_size = 3\nbatch_size = 32\n',
    )
    db = tmp_path / "study.db"
    result = run_cli("run", str(path), "--storage", f"sqlite:///{db}")
    assert result.returncode == 0, result.stderr
    assert "Done: 3 of 3 trials finished" in result.stdout
    assert "I0000" not in result.stderr and "cuInit" not in result.stderr  # TensorFlow's start-up noise
    trials = _trials(db, "tiny")
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    baseline = trials[0]
    assert baseline.user_attrs["baseline"] == "hand-made"
    assert baseline.params == {"base_filters": 8, "kernel_size": 3, "batch_size": 32}
    for trial in trials:
        attrs = trial.user_attrs
        assert set(attrs["history"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
        assert all(len(curve) == 2 for curve in attrs["history"].values())
        curve = attrs["history"]["val_accuracy"]
        assert trial.value == max(curve) and attrs["best_epoch"] == curve.index(max(curve)) + 1
        assert attrs["end_reason"] == "complete"
        assert attrs["params_count"] > 0 and attrs["images_per_second"] > 0
        assert len(attrs["epoch_seconds"]) == 2 and 0.0 <= attrs["test_accuracy"] <= 1.0
        architecture = Architecture.from_dict(attrs["architecture"])
        assert architecture.blocks[0].filters == trial.params["base_filters"]
        assert attrs["training"]["batch_size"] == trial.params["batch_size"]

    # Continuing with a larger target adds exactly the missing trials; finished ones stay.
    result = run_cli("run", str(path), "--storage", f"sqlite:///{db}", "--trials", "4")
    assert result.returncode == 0, result.stderr
    again = _trials(db, "tiny")
    assert len(again) == 4 and [t.value for t in again[:3]] == [t.value for t in trials]
    result = run_cli("run", str(path), "--storage", f"sqlite:///{db}", "--trials", "4")
    assert result.returncode == 0 and len(_trials(db, "tiny")) == 4

    listed = run_cli("list", "--storage", f"sqlite:///{db}")
    assert listed.returncode == 0 and "4/4" in listed.stdout


def test_pruning_stops_hopeless_trials(tmp_path: Path) -> None:
    """Half the learning rates cannot learn in 4 epochs: the median pruner stops those trials."""
    path = write_study(
        tmp_path,
        "prunable",
        '[data]\ndataset = "digits"\n[training]\nepochs = 4\n'
        '[search]\ntrials = 6\nseed = 1\n[search.sampler]\ntype = "random"\n'
        '[search.pruner]\ntype = "median"\nstartup_trials = 1\nwarmup_epochs = 0\n'
        "[space]\nblocks = 1\nconvs_per_block = 1\nbase_filters = 8\ndense_units = 16\n"
        "learning_rate = { choices = [0.005, 0.0000001] }\n"
        '[[baselines]]\nname = "learns"\nlearning_rate = 0.005\n',
    )
    db = tmp_path / "study.db"
    result = run_cli("run", str(path), "--storage", f"sqlite:///{db}")
    assert result.returncode == 0, result.stderr
    trials = _trials(db, "prunable")
    hopeless = [t for t in trials if t.params["learning_rate"] == 0.0000001]
    assert hopeless, "the seeded sampler should draw the hopeless rate at least once"
    assert all(t.state == TrialState.PRUNED for t in hopeless)
    for trial in hopeless:
        epochs = len(trial.user_attrs["history"]["val_accuracy"])
        assert epochs < 4 and trial.user_attrs["end_reason"] == f"pruned at epoch {epochs}"
    assert "pruned at epoch" in result.stdout


def test_diverging_trial_is_recorded_and_the_worker_goes_on(tmp_path: Path) -> None:
    path = write_study(
        tmp_path,
        "diverges",
        '[data]\ndataset = "digits"\n[training]\nepochs = 2\n[search]\ntrials = 1\n'
        "[space]\nblocks = 1\nconvs_per_block = 1\nbase_filters = 8\ndense_units = 16\n"
        'activation = "elu"\noptimizer = "sgd"\nlearning_rate = { choices = [10.0, 0.01] }\n'
        "max_norm = 0.0\nclipnorm = 0.0\n"
        '[[baselines]]\nname = "explodes"\nlearning_rate = 10.0\n'
        '[[baselines]]\nname = "sane"\nlearning_rate = 0.01\n',
    )
    db = tmp_path / "study.db"
    result = run_cli("run", str(path), "--storage", f"sqlite:///{db}")
    assert result.returncode == 0, result.stderr
    exploded, sane = _trials(db, "diverges")
    assert exploded.state == TrialState.FAIL
    assert exploded.user_attrs["end_reason"].startswith("diverged at epoch")
    assert loss_diverged(exploded.user_attrs["history"]["loss"][-1])
    assert sane.state == TrialState.COMPLETE
    assert "diverged at epoch" in result.stdout


@pytest.mark.usefixtures("shared_data")
def test_cifar_dropout_runs_on_real_cifar(tmp_path: Path) -> None:
    db = tmp_path / "study.db"
    result = run_cli(
        "run", "cifar-dropout", "--data", str(CIFAR), "--subset", "300",
        "--trials", "2", "--epochs", "1", "--storage", f"sqlite:///{db}",
    )
    assert result.returncode == 0, result.stderr
    assert "Data: 270 training, 30 validation, 1017 test images of shape (32, 32, 3)" in result.stdout
    trials = _trials(db, "cifar-dropout")
    assert trials[0].user_attrs["baseline"] == "vgg-dropout-0.2"
    architecture = Architecture.from_dict(trials[0].user_attrs["architecture"])
    assert [b.filters for b in architecture.blocks] == [32, 64, 128]
    assert [b.dropout for b in architecture.blocks] == [0.2, 0.2, 0.2]
    assert [(d.units, d.dropout) for d in architecture.dense] == [(1024, 0.5), (512, 0.5)]
    assert architecture.max_norm == 3.0
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials) == 2


def test_worker_plans_the_machine_cannot_honour_are_refused_in_one_sentence(tmp_path: Path) -> None:
    path = write_study(tmp_path, "plans", '[data]\ndataset = "digits"\n[training]\nepochs = 1\n' + TINY_SPACE)
    storage = f"sqlite:///{tmp_path}/plans.db"
    no_gpus = {"CUDA_VISIBLE_DEVICES": ""}
    crowd = run_cli("run", str(path), "--workers", "1000", "--storage", storage, env=no_gpus)
    assert crowd.returncode == 2 and "--workers 1000 is more than this machine's" in crowd.stderr
    assert "CPU, CPU" not in crowd.stdout  # refused before anything is started or listed
    absent = run_cli("run", str(path), "--gpus", "7", "--storage", storage, env=no_gpus)
    assert absent.returncode == 2 and "no GPU 7 on this machine (GPUs found: none)" in absent.stderr
    assert "Traceback" not in crowd.stderr + absent.stderr


def test_native_start_up_noise_is_filtered_and_real_lines_pass(tmp_path: Path) -> None:
    """A real process writes TensorFlow's known noise and a real warning straight to fd 2."""
    script = (
        "import os, sys\n"
        "from hpsearch.train.native_logs import filter_native_stderr\n"
        "filter_native_stderr()\n"
        "os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n')\n"
        "os.write(2, b'I0000 00:00:1.0 1 port.cc:153] oneDNN custom operations are on.\\n')\n"
        "os.write(2, b'E0000 00:00:1.0 1 cuda_platform.cc:52] failed call to cuInit: INTERNAL\\n')\n"
        "os.write(2, b'W0000 00:00:1.0 1 allocator.cc:1] Allocation exceeds 10% of free memory.\\n')\n"
        "print('error: a message of our own', file=sys.stderr)\n"
    )
    quiet = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert quiet.returncode == 0
    # Python's stderr and the native one reach the terminal by two routes, so their order may vary.
    assert sorted(quiet.stderr.splitlines()) == [
        "W0000 00:00:1.0 1 allocator.cc:1] Allocation exceeds 10% of free memory.",
        "error: a message of our own",
    ]
    loud = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "HPSEARCH_VERBOSE": "1"})
    assert "oneDNN custom operations" in loud.stderr and "cuInit" in loud.stderr
