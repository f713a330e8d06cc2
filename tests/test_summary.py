"""`summary` and `export` on studies that really ran: every number comes from the storage, each
diagnosis label from a run that behaves that way, and an exported model keeps its accuracy.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import keras
import optuna
import pytest
from optuna.trial import TrialState

from hpsearch.data.sources import load_splits
from tests.helpers import run_cli


def _summary(url: str, name: str) -> dict:
    result = run_cli("summary", name, "--storage", url, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_each_diagnosis_comes_from_a_run_that_behaves_so(studies: tuple[str, Path]) -> None:
    url, _ = studies
    by_baseline = {row["baseline"]: row for row in _summary(url, "labels")["trials"] if row["baseline"]}
    assert by_baseline["at-chance"]["diagnosis"] == "chance level"
    assert by_baseline["explodes"]["diagnosis"] == "diverged"
    assert by_baseline["explodes"]["state"] == "fail"
    assert by_baseline["underfits"]["diagnosis"] == "underfitting"
    (overfit,) = _summary(url, "overfits")["trials"]
    assert overfit["diagnosis"] == "overfitting", overfit["diagnosis_detail"]


def test_summary_agrees_with_the_storage(studies: tuple[str, Path]) -> None:
    url, _ = studies
    found = _summary(url, "beats-baseline")
    study = optuna.load_study(study_name="beats-baseline", storage=url)
    trials = study.get_trials(deepcopy=False)
    assert found["counts"]["complete"] == sum(t.state == TrialState.COMPLETE for t in trials) == 3
    assert found["best"]["number"] == study.best_trial.number
    assert found["best"]["value"] == study.best_value
    assert found["best"]["params"] == study.best_trial.params
    assert found["best"]["test_accuracy"] == study.best_trial.user_attrs["test_accuracy"]
    assert found["best"]["best_epoch"] == study.best_trial.user_attrs["best_epoch"]
    assert found["compute"]["epochs"] == 6
    assert found["trials"][0]["value"] == study.best_value  # best first


def test_json_has_the_documented_fields(studies: tuple[str, Path]) -> None:
    url, _ = studies
    found = _summary(url, "labels")
    assert set(found) == {
        "schema", "study", "metric", "direction", "target", "counts", "best", "baselines",
        "improvement", "improvement_unit", "importances", "compute", "cost_front", "trials",
    }
    assert found["cost_front"] and set(found["cost_front"][0]) == {"number", "value", "minutes_per_trial", "params"}
    values = [point["value"] for point in found["cost_front"]]
    assert values == sorted(values)  # cheapest first, each better than every cheaper one
    assert set(found["counts"]) == {"complete", "pruned", "fail", "running", "waiting"}
    assert set(found["compute"]) == {"epochs", "hours", "epochs_saved_by_pruning"}
    assert set(found["trials"][0]) == {
        "number", "state", "value", "test_accuracy", "epochs", "best_epoch", "baseline", "end_reason",
        "diagnosis", "diagnosis_detail", "params",
    }


def test_a_bad_baseline_shows_a_positive_improvement(studies: tuple[str, Path]) -> None:
    url, _ = studies
    found = _summary(url, "beats-baseline")
    (baseline,) = found["baselines"]
    assert baseline["baseline"] == "hopeless"
    assert found["improvement"] == pytest.approx(100 * (found["best"]["value"] - baseline["value"]), abs=0.01)
    assert found["improvement"] > 20
    table = run_cli("summary", "beats-baseline", "--storage", url)
    assert table.returncode == 0 and "improvement over the best baseline: +" in table.stdout
    best = found["best"]
    assert f"{best['value']:.4f} at epoch {best['best_epoch']} of {best['epochs']}" in table.stdout


def test_csv_and_markdown(studies: tuple[str, Path]) -> None:
    url, _ = studies
    rows = list(csv.DictReader(io.StringIO(run_cli("summary", "labels", "--storage", url, "--format", "csv").stdout)))
    assert {row["diagnosis"] for row in rows} >= {"chance level", "diverged", "underfitting"}
    markdown = run_cli("summary", "labels", "--storage", url, "--format", "markdown").stdout
    assert markdown.startswith("# Study labels") and "| trial | state |" in markdown
    bad = run_cli("summary", "labels", "--storage", url, "--format", "yaml")
    assert bad.returncode == 2 and "unknown format" in bad.stderr
    missing = run_cli("summary", "nothing-here", "--storage", url)
    assert missing.returncode == 2 and "no study named 'nothing-here'" in missing.stderr


def test_exported_model_reproduces_its_test_accuracy(studies: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = studies
    out = tmp_path / "exported"
    result = run_cli("export", "beats-baseline", "--storage", url, "--out", str(out))
    assert result.returncode == 0, result.stderr
    settings = json.loads((out / "trial.json").read_text())
    study = optuna.load_study(study_name="beats-baseline", storage=url)
    assert settings["trial"] == study.best_trial.number and settings["params"] == study.best_trial.params
    assert settings["epochs"] == study.best_trial.user_attrs["best_epoch"]
    assert len(json.loads((out / "curves.json").read_text())["loss"]) == settings["epochs"]
    model = keras.models.load_model(out / "model.keras")
    splits = load_splits("digits", validation_fraction=0.1, seed=0)
    _, accuracy = model.evaluate(splits.x_test, splits.y_test, verbose=0)
    assert accuracy == pytest.approx(settings["test_accuracy"], abs=1e-6)
    assert f"test accuracy {settings['test_accuracy']:.4f}" in result.stdout


def test_export_refuses_what_it_cannot_do_before_training(studies: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = studies
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    under_a_file = run_cli("export", "beats-baseline", "--storage", url, "--out", str(blocker / "model"))
    assert under_a_file.returncode == 2 and f"cannot write into --out {blocker / 'model'}" in under_a_file.stderr
    assert "retrained" not in under_a_file.stdout and "Traceback" not in under_a_file.stderr

    queued_url = f"sqlite:///{tmp_path}/queued.db"
    queued = optuna.create_study(study_name="queued", storage=queued_url)
    queued.enqueue_trial({"learning_rate": 0.01})
    waiting = run_cli("export", "queued", "--trial", "0", "--storage", queued_url, "--out", str(tmp_path / "x"),
                      "--data", "digits")
    assert waiting.returncode == 2 and "trial 0 is queued and has not trained yet" in waiting.stderr
