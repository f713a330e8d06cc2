"""Search quality: under one budget of training epochs, what does each search find?

Arms, each run once per seed on the same data split:
- hpsearch: the study as `hpsearch run` searches it (TPE with constant liar, the study's
  Hyperband pruner, baselines enqueued first);
- random: Optuna's random sampler, no pruning, no baselines;
- keras-tuner: Keras Tuner's Hyperband on the very same space (max epochs and reduction factor
  as the study's);
- baseline: the study's hand-tuned networks, each trained for the epochs of a full trial.

For each, the best trial's validation accuracy (what the search optimizes) and that trial's test
accuracy (what a user gets), as mean and spread over seeds.

    python -m benchmarks.search_quality --study cifar-dropout --epochs 4 --budget 24 --seeds 0 1 2
"""

from __future__ import annotations

import statistics

from benchmarks.searches import (
    ArmResult,
    bench_from_command_line,
    run_baselines,
    run_keras_tuner_arm,
    run_optuna_arm,
)

ARMS = ("hpsearch", "random", "keras-tuner", "baseline")
TARGET_POINTS_OVER_BASELINE = 5.0


def _spread(values: list[float]) -> str:
    points = [100 * v for v in values]
    if len(points) == 1:
        return f"{points[0]:.1f}"
    return f"{statistics.mean(points):.1f} ± {statistics.stdev(points):.1f}"


def main() -> None:
    bench = bench_from_command_line(__doc__ or "")
    spec, splits, budget = bench.spec, bench.splits, bench.budget

    results: dict[str, list[ArmResult]] = {arm: [] for arm in ARMS}
    for seed in bench.seeds:  # seed by seed, so an interrupted run leaves whole seeds behind
        searches = {
            "hpsearch": lambda: run_optuna_arm("hpsearch", spec, splits, seed, budget),
            "random": lambda: run_optuna_arm("random", spec, splits, seed, budget,
                                             random=True, pruning=False, baselines=False),
            "keras-tuner": lambda: run_keras_tuner_arm(spec, splits, seed, budget),
            "baseline": lambda: run_baselines(spec, splits, seed),
        }
        for arm in ARMS:
            results[arm].append(bench.run(arm, seed, searches[arm]))

    print()
    print(f"Search quality: {spec.name}, {len(splits.x_train)} training / {len(splits.x_val)} validation / "
          f"{len(splits.x_test)} test images, budget {budget} epochs per search, full trial "
          f"{spec.training.epochs} epochs, seeds {' '.join(map(str, bench.seeds))}")
    print()
    print("| search | best val acc % (mean ± sd) | its test acc % (mean ± sd) | test acc % per seed "
          "| epochs spent (mean) | trials (mean) | minutes (mean) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for arm in ARMS:
        runs = results[arm]
        vals = [r.best_val for r in runs if r.best_val is not None]
        tests = [r.best_test for r in runs if r.best_test is not None]
        print(f"| {arm} | {_spread(vals) if vals else '-'} | {_spread(tests) if tests else '-'} | "
              f"{' / '.join(f'{100 * t:.1f}' for t in tests)} | "
              f"{statistics.mean(r.epochs_spent for r in runs):.0f} | "
              f"{statistics.mean(r.trials for r in runs):.1f} | "
              f"{statistics.mean(r.seconds for r in runs) / 60:.1f} |")
    print()
    mean_test = {arm: statistics.mean(r.best_test or 0.0 for r in results[arm]) for arm in ARMS}
    peers_behind = all(mean_test["hpsearch"] > mean_test[arm] for arm in ("random", "keras-tuner"))
    over_baseline = 100 * (mean_test["hpsearch"] - mean_test["baseline"])
    print(f"hpsearch ahead of every peer on mean test accuracy: {'yes' if peers_behind else 'no'}; "
          f"{over_baseline:+.1f} points over the best baseline "
          f"(target: ahead of every peer and >= +{TARGET_POINTS_OVER_BASELINE:.0f})")
    if len(bench.seeds) > 1:
        print()
        for arm in ARMS[1:]:
            print(_difference("hpsearch", arm, results))


def _difference(arm: str, peer: str, results: dict[str, list[ArmResult]]) -> str:
    """How far apart two arms' test accuracies are, and whether the seeds can tell them apart:
    a 95% interval from Welch's t-test (the arms' spreads differ; seeds are not paired)."""
    from scipy import stats

    ours = [r.best_test or 0.0 for r in results[arm]]
    theirs = [r.best_test or 0.0 for r in results[peer]]
    test = stats.ttest_ind(ours, theirs, equal_var=False)
    interval = test.confidence_interval(0.95)
    verdict = "apart" if interval.low > 0 or interval.high < 0 else "not apart at this many seeds"
    return (f"{arm} - {peer}: {100 * (statistics.mean(ours) - statistics.mean(theirs)):+.1f} points of test "
            f"accuracy, 95% interval {100 * interval.low:+.1f} to {100 * interval.high:+.1f} "
            f"(Welch's t, p = {test.pvalue:.2f}): {verdict}")


if __name__ == "__main__":
    main()
