"""Keras 3 on other backends: a real search on PyTorch and on JAX (trials trained, pruned by
Hyperband, the best exported) in a process where TensorFlow cannot be imported at all, as on a
machine that has none; the exported model then loads under TensorFlow."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, run_cli

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

LOAD = """
import sys, keras, hpsearch.train.recipe
model = keras.models.load_model(sys.argv[1])
print(keras.backend.backend(), model.count_params())
"""


def _python(code: str, *args: str, backend: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=500, env={**os.environ, "KERAS_BACKEND": backend})


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_a_search_trains_prunes_and_exports_without_tensorflow(tmp_path: Path, backend: str) -> None:
    searched = _python(WITHOUT_TENSORFLOW, f"sqlite:///{tmp_path}/{backend}.db", str(tmp_path / "out"), backend=backend)
    assert searched.returncode == 0, searched.stderr[-3000:]
    outcome = json.loads(searched.stdout.strip().splitlines()[-1])
    assert outcome["backend"] == backend and outcome["done"] and f", Keras on {backend}" in outcome["said"]
    assert outcome["states"].count("COMPLETE") >= 2 and "PRUNED" in outcome["states"], outcome["states"]
    assert outcome["test_accuracy"] > 0.5
    loaded = _python(LOAD, str(tmp_path / "out" / "model.keras"), backend="tensorflow")
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
