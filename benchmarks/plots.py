"""Curves of what each search had found against what it had spent: the picture a table of final
numbers hides (an arm that is ahead early but stalls, one that needs its whole budget).

For every arm, the test accuracy of its best trial so far *by validation* (the test images choose
nothing: they only score the trial the validation split picked), against the training epochs spent
and against wall time, one line per arm (the mean over its seeds) with a band from its worst to its
best seed. A point is drawn only where every seed of the arm had finished a trial, as the tables'
'-' says. Wall times compare only between runs on equally loaded machines: BENCHMARKS says where.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from benchmarks.searches import ArmResult

POINTS = 200  # samples along each axis: enough for step curves to look like steps


def _arm_curve(runs: Sequence[ArmResult], grid: Sequence[float], by_seconds: bool,
               ) -> tuple[list[float], list[float], list[float], list[float]]:
    """(x, mean, worst, best) in percent over the arm's seeds, at the grid points where every seed
    had finished a trial, up to where its longest seed stopped."""
    end = max(run.timeline[-1][0 if by_seconds else 1] for run in runs)
    xs, means, lows, highs = [], [], [], []
    for x in [*(x for x in grid if x < end), end]:
        found = [run.best_test_at(seconds=x) if by_seconds else run.best_test_at(epochs=x) for run in runs]
        if any(value is None for value in found):
            continue
        points = [100 * value for value in found if value is not None]
        xs.append(x / 60 if by_seconds else x)
        means.append(sum(points) / len(points))
        lows.append(min(points))
        highs.append(max(points))
    return xs, means, lows, highs


def plot_searches(results: dict[str, list[ArmResult]], title: str, path: Path) -> Path:
    """Draw every arm that kept a timeline into `path` (a PNG): accuracy against epochs spent on the
    left, against wall minutes on the right."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a benchmark machine
    import matplotlib.pyplot as plt

    drawn = {arm: runs for arm, runs in results.items() if runs and all(run.timeline for run in runs)}
    figure, axes = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
    for axis, by_seconds in zip(axes, (False, True)):
        end = max(max(step[0 if by_seconds else 1] for step in run.timeline)
                  for runs in drawn.values() for run in runs)
        grid = [end * i / POINTS for i in range(POINTS + 1)]
        for arm, runs in drawn.items():
            xs, means, lows, highs = _arm_curve(runs, grid, by_seconds)
            label = f"{arm} ({len(runs)} seeds)"
            if len(xs) == 1:  # networks trained alone, each one trial: a point and its seeds' range
                axis.errorbar(xs, means, yerr=[[means[0] - lows[0]], [highs[0] - means[0]]], fmt="o", capsize=4,
                              label=label)
            elif xs:
                (line,) = axis.step(xs, means, where="post", label=label)
                axis.fill_between(xs, lows, highs, step="post", alpha=0.15, color=line.get_color())
        axis.set_xlabel("wall minutes" if by_seconds else "training epochs spent")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy % of the best trial by validation")
    axes[0].legend(loc="lower right", fontsize="small")
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_if_asked(path: Path | None, results: dict[str, list[ArmResult]], title: str) -> None:
    """A search benchmark's `--plot PATH`: draw its arms there and say where."""
    if path is not None:
        print(f"Curves: {plot_searches(results, title, path)}")
