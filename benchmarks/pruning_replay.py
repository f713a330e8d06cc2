"""Pruning rules replayed on real learning curves: which rule spends the fewest epochs before the
search holds a network within one point of the best, and how often does it stop that network?

The search benchmarks save every trial's validation curve (`benchmarks/results`). This takes the
curves of the trials that trained every epoch in searches without a pruner (the `random` and
`tpe-no-pruning` arms of search_quality and pruning, for the given study and epochs) and replays
them through each rule: Optuna's own pruner, configured by hpsearch from the study file's
`[search.pruner]`, sees a curve epoch by epoch and stops it where it would have stopped the real
trial. Each order draws `--trials` curves at random (a search of that many full trials) and walks
them in turn; every rule replays the same orders, so the comparison is paired. Nothing is trained,
so it takes seconds. What it cannot show is how pruning steers the sampler: these trials are fixed.

    python -m benchmarks.pruning_replay --study cifar-dropout --epochs 4 --trials 24 --orders 200

The last rows are bounds, not rules: a pruner with foresight, stopping at a given epoch every trial
that will not end within one point of the best, shows how much any rule deciding then could save.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from dataclasses import dataclass
from pathlib import Path

import optuna

from benchmarks.landscape import replay_curve
from benchmarks import RESULTS_DIR
from hpsearch.space.pruners import HyperbandPruning, MedianPruning, NoPruning, Pruner, SuccessiveHalvingPruning
from hpsearch.space.spec import StudySpec
from hpsearch.space.study_files import load_spec
from hpsearch.store.storage import quiet_optuna
from hpsearch.search.study import make_pruner

UNPRUNED_ARMS = ("random", "tpe-no-pruning")
WITHIN = 0.01  # one point of accuracy, as benchmarks/pruning.py


def saved_curves(results_dir: Path, study: str, epochs: int) -> list[list[float]]:
    """Full-length validation curves of the unpruned searches saved for this study and epochs."""
    curves = []
    for path in sorted(results_dir.glob("*.json")):
        saved = json.loads(path.read_text())
        settings = saved["settings"]
        if (settings["arm"] in UNPRUNED_ARMS and settings["study"]["name"] == study
                and settings["study"]["training"]["epochs"] == epochs):
            curves += [curve for curve in saved.get("curves", []) if len(curve) == epochs]
    return curves


def rules(spec: StudySpec) -> list[tuple[str, Pruner]]:
    """No pruner, the study's own, and Hyperband, successive halving and median pruning from each
    epoch a trial can be stopped at (with the study's reduction factor, where it has one)."""
    own = spec.search.pruner
    factor = getattr(own, "reduction_factor", HyperbandPruning().reduction_factor)
    candidates: list[tuple[str, Pruner]] = [("none", NoPruning()), (f"the study's ({_describe(own)})", own)]
    for epoch in range(1, spec.training.epochs):
        for pruner in (HyperbandPruning(min_resource=epoch, reduction_factor=factor),
                       SuccessiveHalvingPruning(min_resource=epoch, reduction_factor=factor),
                       MedianPruning(warmup_epochs=epoch)):
            if pruner != own:
                candidates.append((_describe(pruner), pruner))
    return candidates


def _describe(pruner: Pruner) -> str:
    if isinstance(pruner, (HyperbandPruning, SuccessiveHalvingPruning)):
        return f"{pruner.type}, min_resource {pruner.min_resource}, reduction {pruner.reduction_factor}"
    if isinstance(pruner, MedianPruning):
        return f"median, warmup {pruner.warmup_epochs}, startup {pruner.startup_trials}"
    return pruner.type


@dataclass
class Replay:
    """One order of curves walked under one rule."""

    spent: int  # epochs trained in all, pruned trials included
    reached: int | None  # epochs spent when the best-so-far came within one point of the order's best
    shortfall: float  # the order's best curve minus the best complete trial's: what the rule lost


def replay(spec: StudySpec, pruner: Pruner, order: list[list[float]], name: str) -> Replay:
    """Walk one order of curves under `pruner`, as a search of those trials would have."""
    rule_spec = spec.model_copy(update={"search": spec.search.model_copy(update={"pruner": pruner})})
    # The same study name for every rule: Hyperband assigns brackets by it and the trial number.
    study = optuna.create_study(study_name=name, pruner=make_pruner(rule_spec), direction="maximize")
    best_possible = max(max(curve) for curve in order)
    spent, reached, best = 0, None, 0.0
    for curve in order:
        trial = study.ask()
        trained = replay_curve(study, trial, curve)
        spent += trained
        if trained == len(curve):
            best = max(best, max(curve))
            if reached is None and best >= best_possible - WITHIN:
                reached = spent
    return Replay(spent, reached, best_possible - best)


def foresight(order: list[list[float]], epoch: int) -> Replay:
    """The best any rule deciding at `epoch` could do: it stops every trial there except those
    that end within one point of the order's best, which train to the end."""
    best_possible = max(max(curve) for curve in order)
    spent, reached = 0, None
    for curve in order:
        if max(curve) >= best_possible - WITHIN:
            spent += len(curve)
            reached = spent if reached is None else reached
        else:
            spent += epoch
    return Replay(spent, reached, 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", default="cifar-dropout")
    parser.add_argument("--epochs", type=int, default=4, help="epochs of a fully trained trial, as the searches ran")
    parser.add_argument("--trials", type=int, default=24, help="curves per order: a search of that many full trials")
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="where the searches were saved")
    args = parser.parse_args()

    quiet_optuna()
    spec = load_spec(args.study).with_overrides(epochs=args.epochs)
    if spec.search.direction != "maximize":
        raise SystemExit(f"{spec.name} minimizes {spec.search.metric}; the replay compares metrics to maximize.")
    curves = saved_curves(args.results, spec.name, args.epochs)
    if len(curves) < args.trials:
        raise SystemExit(f"{len(curves)} saved unpruned curves of {args.epochs} epochs for {spec.name} in "
                         f"{args.results}; run the search_quality and pruning benchmarks with --epochs "
                         f"{args.epochs} first, or ask for fewer --trials.")
    rng = random.Random(0)
    orders = [rng.sample(curves, args.trials) for _ in range(args.orders)]
    runs = {label: [replay(spec, pruner, order, f"replay-{i}") for i, order in enumerate(orders)]
            for label, pruner in rules(spec)}
    for epoch in range(1, spec.training.epochs):
        runs[f"foresight from epoch {epoch} (a bound, not a rule)"] = [foresight(order, epoch) for order in orders]
    unpruned = runs["none"]

    _print_rank_agreement(curves)
    print(f"Pruning rules replayed: {spec.name}, {len(curves)} saved curves of {args.epochs} epochs, "
          f"{args.orders} orders of {args.trials} trials each; epochs until the best-so-far is within "
          "one point of the order's best curve")
    print()
    print("| rule | epochs spent (all trials) | orders where it kept a network within one point "
          "| points lost to the order's best (mean) | epochs to within one point (mean, where kept) "
          "| ratio to no pruning (paired, where kept) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, results in runs.items():
        kept = [(r.reached, u.reached) for r, u in zip(results, unpruned) if r.reached is not None]
        ratios = [r / u for r, u in kept if u]  # type: ignore[operator]
        print(f"| {label} | {statistics.mean(r.spent for r in results):.1f} | "
              f"{100 * len(kept) / len(results):.0f}% | "
              f"{100 * statistics.mean(r.shortfall for r in results):.2f} | "
              f"{statistics.mean(r for r, _ in kept) if kept else float('nan'):.1f} | "
              f"{statistics.mean(ratios) if ratios else float('nan'):.2f} |")


def _print_rank_agreement(curves: list[list[float]]) -> None:
    """How well each epoch's validation value ranks the networks by their best: what a pruner
    deciding at that epoch can know."""
    from scipy import stats

    print(f"Rank agreement of each epoch with the curve's best ({len(curves)} curves)")
    print()
    print("| epoch | Spearman correlation with the curve's best |")
    print("| --- | --- |")
    best = [max(curve) for curve in curves]
    for epoch in range(1, len(curves[0])):
        print(f"| {epoch} | {stats.spearmanr([curve[epoch - 1] for curve in curves], best).statistic:.2f} |")
    print()


if __name__ == "__main__":
    main()
