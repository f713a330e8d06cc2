"""What a study found, as plain data: counts, best trial, gain over the baseline, importances,
compute spent (and the budget used, for a study with one) and a diagnosis of every finished
trial. `as_json` is the documented, stable form; the table, CSV and Markdown renderings are
built from it.
"""

from __future__ import annotations

import csv
import importlib
import io
import sys
import warnings
from types import ModuleType
from typing import Any

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hpsearch.compute.budget import (
    NO_TRIAL_TARGET,
    Budget,
    BudgetUse,
    measure,
    stored_budget,
)
from hpsearch.compute.cost import cost_front, trial_cost
from hpsearch.analysis.diagnosis import diagnose_trial
from hpsearch.records import (
    BUDGET_ATTR,
    EPOCHS_ATTR,
    METRIC_ATTR,
    TARGET_ATTR,
    TrialRecord,
    best_first,
    end_reason,
    epochs_trained,
)
from hpsearch.store.snapshot import StudySnapshot

SCHEMA_VERSION = 1
STATES = ("complete", "pruned", "fail", "running", "waiting")


def _trial_row(trial: FrozenTrial) -> dict[str, Any]:
    diagnosis = diagnose_trial(trial)
    record = TrialRecord(trial)
    return {
        "number": trial.number,
        "state": trial.state.name.lower(),
        "value": trial.value,
        "test_accuracy": record.test_accuracy,
        "epochs": record.epochs_done,
        "best_epoch": record.best_epoch,
        "baseline": record.baseline,
        "end_reason": end_reason(trial),
        "diagnosis": diagnosis.label,
        "diagnosis_detail": diagnosis.detail,
        "params": dict(trial.params),
    }


class _CompletedTrials:
    """Just what Optuna's importance evaluators read from a study (its direction and its
    completed trials), served from a snapshot: building a real in-memory study would deep-copy
    every trial first, a tenth of a second on 2,000 trials."""

    def __init__(self, trials: list[FrozenTrial], maximize: bool) -> None:
        self._trials = trials
        self.directions = [StudyDirection.MAXIMIZE if maximize else StudyDirection.MINIMIZE]

    def _is_multi_objective(self) -> bool:
        return False

    def get_trials(self, deepcopy: bool = False, states: tuple[TrialState, ...] | None = None) -> list[FrozenTrial]:
        return [t for t in self._trials if states is None or t.state in states]


def _importances(snapshot: StudySnapshot) -> dict[str, float]:
    """PED-ANOVA importances (which parameters decide whether a trial reaches the top) of the
    parameters every completed trial has; empty when too few. fANOVA gives similar answers but
    takes seconds per thousand trials; PED-ANOVA takes milliseconds."""
    complete = [t for t in snapshot.trials if t.state == TrialState.COMPLETE]
    if len(complete) < 2:
        return {}
    study = _CompletedTrials(complete, snapshot.maximize)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = _import_importance().get_param_importances(
                study, evaluator=importance_evaluator()  # type: ignore[arg-type]
            )
    except (RuntimeError, ValueError):  # no parameter common to all trials, or all values equal
        return {}
    return {name: round(float(share), 4) for name, share in found.items()}


def importance_evaluator() -> optuna.importance.BaseImportanceEvaluator:
    """The one importance method of summaries and reports."""
    return _import_importance().PedAnovaImportanceEvaluator()


def _import_importance() -> ModuleType:
    """`optuna.importance`, without scikit-learn when nothing has loaded it yet.

    Importing `optuna.importance` imports scikit-learn and SciPy for its fANOVA evaluator, which
    hpsearch does not use: over a second, most of what `summary` may take. Marking scikit-learn
    absent while the module loads makes Optuna skip that import (fANOVA then reports scikit-learn
    missing, in this process only); PED-ANOVA needs only NumPy.
    """
    if "sklearn" in sys.modules:
        return importlib.import_module("optuna.importance")
    sys.modules["sklearn"] = None  # type: ignore[assignment]  # the import system's "not installed"
    try:
        return importlib.import_module("optuna.importance")
    finally:
        del sys.modules["sklearn"]


def _compute(trials: list[FrozenTrial]) -> dict[str, Any]:
    # A retry resumed from a checkpoint carries the epochs its earlier attempt trained and
    # recorded; each epoch counts once, on the attempt that trained it.
    records = [TrialRecord(t) for t in trials]
    epochs = epochs_trained(trials)
    seconds = sum(record.seconds_trained for record in records)
    saved = sum(max(0, int(record.training.get("epochs", 0)) - record.epochs_done)
                for record in records if record.trial.state == TrialState.PRUNED)
    return {"epochs": epochs, "hours": round(seconds / 3600, 4), "epochs_saved_by_pruning": saved}


def _cost_front(complete: list[FrozenTrial], epochs: int, maximize: bool) -> list[dict[str, Any]]:
    """The trials no cheaper network beats, cheapest first (see `cost.py`)."""
    costs = [c for t in complete if epochs and (c := trial_cost(t, epochs)) is not None]
    return [{"number": c.number, "value": c.value, "minutes_per_trial": round(c.full_seconds / 60, 2),
             "params": c.params} for c in cost_front(costs, maximize)]


def summarize(snapshot: StudySnapshot) -> dict[str, Any]:
    """The study's summary in its stable JSON form (see README, "hpsearch summary"); `budget` is
    there only for a study with a budget, so summaries of other studies keep their exact fields."""
    trials, maximize = snapshot.trials, snapshot.maximize
    ranked = best_first(trials, maximize)
    complete = sorted(ranked, key=lambda t: t.number)
    rows = {t.number: _trial_row(t) for t in trials}
    baselines = [rows[t.number] for t in complete if TrialRecord(t).baseline]
    best = rows[ranked[0].number] if ranked else None
    improvement = None
    if best and baselines:
        values = [b["value"] for b in baselines]
        reference = max(values) if maximize else min(values)
        gain = best["value"] - reference if maximize else reference - best["value"]
        improvement = round(100 * gain, 2) if maximize else round(gain, 4)
    target = snapshot.user_attrs.get(TARGET_ATTR)
    budget = stored_budget(snapshot.user_attrs.get(BUDGET_ATTR))
    found = {
        "schema": SCHEMA_VERSION,
        "study": snapshot.name,
        "metric": snapshot.user_attrs.get(METRIC_ATTR, "value"),
        "direction": "maximize" if maximize else "minimize",
        "target": None if target == NO_TRIAL_TARGET else target,
        "counts": {s: sum(t.state.name.lower() == s for t in trials) for s in STATES},
        "best": best,
        "baselines": baselines,
        "improvement": improvement,
        "improvement_unit": "points" if maximize else "metric units",
        "importances": _importances(snapshot),
        "compute": _compute(trials),
        "cost_front": _cost_front(complete, int(snapshot.user_attrs.get(EPOCHS_ATTR, 0)), maximize),
        "trials": [rows[t.number] for t in ranked]
        + [rows[t.number] for t in trials if t.state != TrialState.COMPLETE],
    }
    if budget is not None:
        found["budget"] = measure(budget, trials).as_json()
    return found


CSV_COLUMNS = (
    "number", "state", "value", "test_accuracy", "epochs", "best_epoch", "baseline", "diagnosis", "end_reason",
    "params",
)


def as_csv(summary: dict[str, Any]) -> str:
    """One row per trial, parameters as `name=value` pairs."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in summary["trials"]:
        params = " ".join(f"{k}={v}" for k, v in row["params"].items())
        writer.writerow([*(row[c] if row[c] is not None else "" for c in CSV_COLUMNS[:-1]), params])
    return out.getvalue()


def _number(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def headline(summary: dict[str, Any]) -> list[str]:
    """The few sentences that matter most, shared by the table and Markdown renderings."""
    counts = ", ".join(f"{n} {s}" for s, n in summary["counts"].items() if n)
    target = "no trial target" if summary["target"] is None else f"target {summary['target']}"
    lines = [f"{summary['study']}: {counts or 'no trials'} ({target})"]
    best, metric = summary["best"], summary["metric"]
    if "budget" in summary:
        lines.append(_budget_line(summary))
    if best:
        test = best["test_accuracy"]
        lines.append(
            f"best: trial {best['number']}, {metric} {_number(best['value'])}"
            + (f" at epoch {best['best_epoch']} of {best['epochs']}" if best["best_epoch"] else "")
            + (f", test accuracy {_number(test)}" if test is not None else "")
            + f" ({best['diagnosis']})"
        )
        lines.append("best parameters: " + _params_text(best["params"]))
    for baseline in summary["baselines"]:
        lines.append(f"baseline {baseline['baseline']}: trial {baseline['number']}, {metric} "
                     f"{_number(baseline['value'])}")
    if summary["improvement"] is not None:
        lines.append(f"improvement over the best baseline: {summary['improvement']:+} "
                     f"{summary['improvement_unit']}")
    compute = summary["compute"]
    lines.append(f"compute: {compute['epochs']} epochs, {compute['hours']:.2f} hours; pruning saved "
                 f"{compute['epochs_saved_by_pruning']} epochs")
    if len(summary["cost_front"]) > 1:
        points = ", ".join(f"trial {p['number']} {_number(p['value'])} ({p['minutes_per_trial']:.1f} min)"
                           for p in summary["cost_front"])
        lines.append(f"accuracy against cost, minutes a full trial takes (each beats every cheaper network): {points}")
    return lines


def _budget_line(summary: dict[str, Any]) -> str:
    """The budget, what of it was used, and what it bought: `budget 300 epochs: 212 used (71%),
    spent; bought 5 complete and 7 pruned trials, best val_accuracy 0.9826`."""
    recorded = summary["budget"]
    use = BudgetUse(Budget(recorded["unit"], int(recorded["amount"])), float(recorded["used"]))
    counts = summary["counts"]
    bought = f"bought {counts['complete']} complete and {counts['pruned']} pruned trials"
    best = summary["best"]
    if best:
        bought += f", best {summary['metric']} {_number(best['value'])}"
    return f"{use.describe()}{', spent' if recorded['spent'] else ''}; {bought}"


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def top_rows(summary: dict[str, Any], top: int) -> list[list[str]]:
    """Cells of the top-trials table: completed trials best first, then the others."""
    return [
        [
            str(row["number"]) + (f" ({row['baseline']})" if row["baseline"] else ""),
            row["state"],
            _number(row["value"]),
            _number(row["test_accuracy"]),
            str(row["epochs"]),
            row["diagnosis"],
        ]
        for row in summary["trials"][:top]
    ]


TOP_HEADER = ["trial", "state", "value", "test acc", "epochs", "diagnosis"]


def as_markdown(summary: dict[str, Any], top: int) -> str:
    lines = [f"# Study {summary['study']}", ""] + [f"- {line}" for line in headline(summary)] + [""]
    lines += ["| " + " | ".join([*TOP_HEADER, "parameters"]) + " |", "|" + " --- |" * (len(TOP_HEADER) + 1)]
    lines += [
        "| " + " | ".join([*cells, _params_text(row["params"])]) + " |"
        for cells, row in zip(top_rows(summary, top), summary["trials"])
    ]
    if summary["importances"]:
        lines += ["", "| parameter | importance |", "| --- | --- |"]
        lines += [f"| {name} | {share:.3f} |" for name, share in summary["importances"].items()]
    return "\n".join(lines) + "\n"
