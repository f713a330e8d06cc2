"""Keras 3 on other backends: a real search on PyTorch and on JAX (trials trained, pruned by
Hyperband, the best exported) in a process where TensorFlow cannot be imported at all, as on a
machine that has none; the exported model then loads and trains on another backend without the
one it was saved on. The backend is chosen per run and recorded per trial, and a trial resumes
from its checkpoint on another backend."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from optuna.trial import TrialState

from hpsearch.search.confirm import confirm_name
from hpsearch.records import BACKEND_ATTR, RESUMED_EPOCHS_ATTR
from tests.helpers import REPO, run_cli, stored_trials
from tests.interruptions import digits_study, kill_and_retry

pytestmark = pytest.mark.timeout(600)

WITHOUT_TENSORFLOW = """
import io, json, sys
sys.modules["tensorflow"] = None  # any import of TensorFlow now fails
import keras, optuna, hpsearch
from rich.console import Console
storage, said = sys.argv[1], Console(file=io.StringIO(), width=300)
progress = hpsearch.run("digits-quick", storage=storage, trials=6, epochs=3, console=said)
exported = hpsearch.export("digits-quick", out=sys.argv[2], storage=storage)
states = [t.state.name for t in optuna.load_study(study_name="digits-quick", storage=storage).trials]
print(json.dumps({"backend": keras.backend.backend(), "said": said.file.getvalue(), "done": progress.done,
                  "states": states,
                  "test_accuracy": exported.test_accuracy}))
"""

# `hpsearch ARGS` (its Typer app, as `python -m hpsearch` runs it) where TensorFlow cannot be imported.
CLI_WITHOUT_TENSORFLOW = """
import sys
sys.modules["tensorflow"] = None
from hpsearch.cli import main
sys.argv[0] = "hpsearch"
main()
"""

LOAD = """
import sys


class Without:  # imports of the backends named after the file fail, as on a machine without them
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in sys.argv[2:]:
            raise ModuleNotFoundError(f"No module named {name!r}")


sys.meta_path.insert(0, Without())
import keras, numpy as np, hpsearch.train.recipe
model = keras.models.load_model(sys.argv[1])
images = np.random.default_rng(0).random((8, *model.input_shape[1:]), dtype="float32")
model.fit(images, np.arange(8) % model.output_shape[-1], epochs=1, verbose=0)  # it trains on, too
print(keras.backend.backend(), model.count_params())
"""


def _python(code: str, *args: str, backend: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=500, env={**os.environ, "COLUMNS": "200", "KERAS_BACKEND": backend})


def test_a_search_trains_prunes_and_exports_without_tensorflow_on_jax_from_python(tmp_path: Path) -> None:
    backend = "jax"  # PyTorch's is the command-line demo's below
    searched = _python(WITHOUT_TENSORFLOW, f"sqlite:///{tmp_path}/{backend}.db", str(tmp_path / "out"), backend=backend)
    assert searched.returncode == 0, searched.stderr[-3000:]
    outcome = json.loads(searched.stdout.strip().splitlines()[-1])
    assert outcome["backend"] == backend and outcome["done"] and f", Keras on {backend}" in outcome["said"]
    assert outcome["states"].count("COMPLETE") >= 2 and "PRUNED" in outcome["states"], outcome["states"]
    assert outcome["test_accuracy"] > 0.5
    loaded = _python(LOAD, str(tmp_path / "out" / "model.keras"), backend, backend="tensorflow")
    assert loaded.returncode == 0 and loaded.stdout.startswith("tensorflow "), loaded.stderr[-3000:]


@pytest.mark.parametrize(("backend", "words"), [
    ("nonsense", "KERAS_BACKEND=nonsense is not a backend hpsearch trains on (choose tensorflow, jax, torch)"),
    ("jax" if importlib.util.find_spec("jax") is None else "nonsense", "is not"),
])
def test_a_backend_that_cannot_train_is_one_sentence_before_anything_starts(
    tmp_path: Path, backend: str, words: str
) -> None:
    for command in (["run", "digits-quick"], ["worker", "digits-quick"], ["confirm", "digits-quick"]):
        result = run_cli(*command, "--storage", f"sqlite:///{tmp_path}/b.db", env={"KERAS_BACKEND": backend})
        assert result.returncode == 2 and words in result.stderr, result.stderr[-2000:]
        assert "Traceback" not in result.stderr and not (tmp_path / "b.db").exists()
    if backend == "jax":
        assert "pip install 'hpsearch[jax]'" in result.stderr


def _backends(url: str, name: str) -> set[str]:
    return {t.user_attrs[BACKEND_ATTR] for t in stored_trials(url, name) if BACKEND_ATTR in t.user_attrs}


def test_the_demo_runs_on_torch_without_tensorflow_from_the_command_line_with_its_summary_report_and_export(
    tmp_path: Path,
) -> None:
    """Trials trained and pruned, then summarized, reported and exported; the exported model loads
    and trains on TensorFlow without PyTorch, and on JAX without either."""
    url = f"sqlite:///{tmp_path}/demo.db"
    ran = _python(CLI_WITHOUT_TENSORFLOW, "run", "digits-quick", "--backend", "torch", "--storage", url,
                  "--trials", "6", "--epochs", "3", backend="")
    assert ran.returncode == 0 and ", Keras on torch" in ran.stdout, ran.stdout + ran.stderr
    assert _backends(url, "digits-quick") == {"torch"}
    states = [t.state for t in stored_trials(url, "digits-quick")]
    assert states.count(TrialState.COMPLETE) >= 2 and TrialState.PRUNED in states, states
    summary = run_cli("summary", "digits-quick", "--storage", url, "--format", "json")
    counts = json.loads(summary.stdout)["counts"] if summary.returncode == 0 else {}
    assert counts.get("complete", 0) + counts.get("pruned", 0) == 6, summary.stdout + summary.stderr
    report = run_cli("report", "digits-quick", "--storage", url, "--out", str(tmp_path / "report.html"))
    assert report.returncode == 0 and "Learning curves" in (tmp_path / "report.html").read_text(), report.stderr
    exported = _python(CLI_WITHOUT_TENSORFLOW, "export", "digits-quick", "--storage", url, "--out",
                       str(tmp_path / "out"), backend="torch")
    accuracy = re.search(r"test accuracy ([0-9.]+)\.", exported.stdout)
    assert exported.returncode == 0 and accuracy and float(accuracy[1]) > 0.5, exported.stdout + exported.stderr[-3000:]
    for backend, without in (("tensorflow", ("torch",)), ("jax", ("torch", "tensorflow"))):
        loaded = _python(LOAD, str(tmp_path / "out" / "model.keras"), *without, backend=backend)
        assert loaded.returncode == 0 and loaded.stdout.startswith(f"{backend} "), loaded.stderr[-3000:]


def test_workers_and_confirm_train_on_the_studys_backend_and_keras_backend_beats_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/pool.db"
    study = digits_study(tmp_path, "on-jax", epochs=1, trials=2, space="base_filters = { choices = [4, 8] }\n")
    study.write_text(study.read_text().replace("[training]\n", '[training]\nbackend = "jax"\n'))
    ran = run_cli("run", str(study), "--workers", "2", "--storage", url, env={"KERAS_BACKEND": ""})
    assert ran.returncode == 0 and ", Keras on jax" in ran.stdout, ran.stdout + ran.stderr
    assert _backends(url, study.stem) == {"jax"}
    confirmed = run_cli("confirm", str(study), "--top", "1", "--epochs", "2", "--storage", url, env={"KERAS_BACKEND": ""})
    assert confirmed.returncode == 0, confirmed.stdout + confirmed.stderr
    assert _backends(url, confirm_name(study.stem)) == {"jax"}  # the study's backend, as the search's
    resumed = run_cli("resume", str(study), "--trials", "3", "--storage", url, env={"KERAS_BACKEND": "torch"})
    assert resumed.returncode == 0 and ", Keras on torch" in resumed.stdout, resumed.stdout + resumed.stderr
    assert _backends(url, study.stem) == {"jax", "torch"}


def test_a_trial_killed_on_torch_resumes_from_its_checkpoint_on_jax(tmp_path: Path) -> None:
    outcome = kill_and_retry(tmp_path, f"sqlite:///{tmp_path}/kill.db", tmp_path / "checkpoints", 12, 5,
                             backends=("torch", "jax"))
    assert outcome.worker_result.returncode == 0, outcome.worker_result.stdout + outcome.worker_result.stderr
    assert outcome.killed.user_attrs[BACKEND_ATTR] == "torch" and outcome.retry.user_attrs[BACKEND_ATTR] == "jax"
    assert outcome.retry.state == TrialState.COMPLETE and outcome.retry.user_attrs[RESUMED_EPOCHS_ATTR] >= 4
    assert "note: the checkpoint in" not in outcome.worker_result.stdout + outcome.worker_result.stderr


def test_a_backend_keras_cannot_switch_to_is_one_sentence(tmp_path: Path) -> None:
    code = ("import keras, hpsearch\n"
            "try:\n    hpsearch.run('digits-quick', backend='jax', storage=sys.argv[1])\n"
            "except hpsearch.LaunchError as error:\n    print(error)\n")
    result = _python("import sys\n" + code, f"sqlite:///{tmp_path}/s.db", backend="torch")
    assert "Keras is already loaded on torch in this process, and it cannot switch to jax" in result.stdout, result.stderr
    assert not (tmp_path / "s.db").exists()


COMPILED = """
import sys, optuna
from hpsearch.space.architecture import setup_from_values
from hpsearch.space.sampling import sample
from hpsearch.space.study_files import load_spec
from hpsearch.train.model import compile_model
spec = load_spec("digits-quick")
told = {"auto": {}, "on": {"jit_compile": True}, "off": {"jit_compile": False}}[sys.argv[1]]
values = sample(optuna.create_study().ask(), spec.space)
setup = setup_from_values(values, (8, 8, 1), 10, **{**spec.training.trial_settings(), **told})
print(compile_model(setup.architecture, setup.training, 10).jit_compile)
"""


@pytest.mark.parametrize(("backend", "told", "compiled"), [
    ("jax", "auto", "True"), ("jax", "off", "False"), ("torch", "auto", "False"), ("tensorflow", "auto", "False"),
])
def test_training_steps_compile_as_keras_chooses_per_backend_unless_told(backend: str, told: str, compiled: str) -> None:
    """Unset, `jit_compile` is Keras's choice: JAX jit-compiles (without, every step runs op by op),
    PyTorch runs eagerly, TensorFlow uses XLA on GPUs only (none here)."""
    result = _python(COMPILED, told, backend=backend)
    assert result.returncode == 0 and result.stdout.split()[-1] == compiled, result.stderr[-2000:]


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_mixed_precision_trains_on_jax_and_torch_and_start_up_is_quiet(tmp_path: Path, backend: str) -> None:
    url = f"sqlite:///{tmp_path}/mixed.db"
    ran = run_cli("run", "digits-quick", "--backend", backend, "--precision", "mixed_bfloat16", "--trials", "1",
                  "--epochs", "1", "--storage", url)
    assert ran.returncode == 0 and "Done: 1 of 1 trials finished (1 complete)" in ran.stdout, ran.stdout + ran.stderr
    noise = [line for line in ran.stderr.splitlines() if not line.startswith("note: no GPU found")]
    assert not noise, noise  # no native start-up logs, warnings or tracebacks
    (trial,) = stored_trials(url, "digits-quick")
    assert trial.user_attrs["training"]["precision"] == "mixed_bfloat16" and trial.user_attrs[BACKEND_ATTR] == backend
