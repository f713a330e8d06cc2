"""One self-contained HTML page per study: the summary, and the plots people would rather look at
than read (optimization history, importances, parallel coordinates, slices, learning curves of
the best trials next to the baseline's). plotly.js is embedded once, so the page works offline.
"""

from __future__ import annotations

import html
import warnings
from typing import Any

import optuna
import plotly.graph_objects as go
from optuna.trial import TrialState

from hpsearch.compute.cost import cost_front, trial_cost
from hpsearch.records import EPOCHS_ATTR, TrialRecord, trial_label
from hpsearch.store.snapshot import snapshot_of
from hpsearch.analysis.summary import TOP_HEADER, headline, importance_evaluator, summarize, top_rows

BEST_CURVES = 3  # learning curves of this many best trials, beside every baseline's


def _learning_curves(study: optuna.Study, metric: str) -> go.Figure:
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    best = sorted(complete, key=lambda t: t.value, reverse=maximize)[:BEST_CURVES]  # type: ignore[arg-type,return-value]
    baselines = [t for t in complete if TrialRecord(t).baseline and t not in best]
    training_metric = metric.removeprefix("val_")
    figure = go.Figure()
    for trial in best + baselines:
        history = TrialRecord(trial).history
        name = trial_label(trial)
        dash = "dot" if trial in baselines else "solid"
        for key, width in ((metric, 3), (training_metric, 1)):
            values = history.get(key, [])
            figure.add_trace(go.Scatter(
                x=list(range(1, len(values) + 1)), y=values, mode="lines+markers",
                name=f"{name} {key}", line={"dash": dash, "width": width},
            ))
    figure.update_layout(
        title=f"Learning curves: best trials (solid) and baselines (dotted); thick = {metric}",
        xaxis_title="epoch", yaxis_title=metric,
    )
    return figure


def _cost_figure(study: optuna.Study, metric: str) -> go.Figure | None:
    """Every complete trial by what a full trial of its network costs, the front drawn through
    the ones no cheaper network beats; None before any trial recorded its timings."""
    epochs = int(study.user_attrs.get(EPOCHS_ATTR, 0))
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    costs = [c for t in complete if epochs and (c := trial_cost(t, epochs)) is not None]
    if not costs:
        return None
    front = cost_front(costs, maximize=study.direction == optuna.study.StudyDirection.MAXIMIZE)
    figure = go.Figure()
    figure.add_trace(go.Scatter(
        x=[c.full_seconds / 60 for c in costs], y=[c.value for c in costs], mode="markers", name="trials",
        text=[f"trial {c.number}, {c.params or '?'} parameters" for c in costs],
    ))
    figure.add_trace(go.Scatter(
        x=[c.full_seconds / 60 for c in front], y=[c.value for c in front], mode="lines+markers",
        name="front: no cheaper trial does better", line={"shape": "hv"},
        text=[f"trial {c.number}" for c in front],
    ))
    figure.update_layout(title=f"{metric} against the minutes a full {epochs}-epoch trial of the network takes",
                         xaxis_title="minutes per full trial", yaxis_title=metric)
    return figure


def _figures(study: optuna.Study, metric: str) -> list[tuple[str, go.Figure]]:
    """The plots that have enough trials to say something."""
    from optuna import visualization as plots

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    figures = [("Optimization history", plots.plot_optimization_history(study, target_name=metric))]
    figures.append(("Validation metric by epoch, every trial", plots.plot_intermediate_values(study)))
    if len(complete) >= 2 and complete[0].params:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                importances = plots.plot_param_importances(study, evaluator=importance_evaluator())
                figures.append(("Parameter importances (PED-ANOVA)", importances))
            except (RuntimeError, ValueError):  # no parameter shared by all trials
                pass
            figures.append(("Parallel coordinates", plots.plot_parallel_coordinate(study, target_name=metric)))
            figures.append(("Slices", plots.plot_slice(study, target_name=metric)))
    figures.append(("Learning curves", _learning_curves(study, metric)))
    cost = _cost_figure(study, metric)
    if cost is not None:
        figures.append(("Accuracy against cost", cost))
    return figures


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_report(study: optuna.Study) -> str:
    """The whole report as one HTML document."""
    found: dict[str, Any] = summarize(snapshot_of(study))
    sections = []
    for index, (title, figure) in enumerate(_figures(study, found["metric"])):
        plot = figure.to_html(full_html=False, include_plotlyjs=index == 0, default_height="480px")
        sections.append(f'<section class="plot"><h2>{html.escape(title)}</h2>{plot}</section>')
    lines = "".join(f"<li>{html.escape(line)}</li>" for line in headline(found))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>hpsearch: {html.escape(found["study"])}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }} td, th {{ border: 1px solid #ccc; padding: 4px 8px; }}
section.plot {{ margin: 2em 0; }}
</style></head><body>
<h1>Study {html.escape(found["study"])}</h1>
<ul>{lines}</ul>
<h2>Top trials</h2>
{_table(TOP_HEADER, top_rows(found, 10))}
{"".join(sections)}
</body></html>
"""
