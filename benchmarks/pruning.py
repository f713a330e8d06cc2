"""Pruning: how many training epochs does the search spend before it has a network within one
point of the best it will find, with the study's pruner and without it?

Both arms are hpsearch's search (`hpsearch.run`: TPE, starting points first) under the same epoch budget; they differ
only in the pruner. Per seed, the reference is the best validation accuracy either arm found,
and each arm's cost is the epochs spent (pruned trials' epochs included) when its best-so-far
first came within one point of it.

    python -m benchmarks.pruning --study cifar-dropout --epochs 4 --budget 24 --seeds 0 1 2
"""

from __future__ import annotations

import statistics

from benchmarks.plots import plot_if_asked
from benchmarks.searches import bench_from_command_line, run_hpsearch_arm
from hpsearch.space.pruners import NoPruning

WITHIN = 0.01  # one point of accuracy
TARGET_RATIO = 0.5


def main() -> None:
    bench = bench_from_command_line(__doc__ or "")
    spec, budget = bench.spec, bench.budget
    unpruned_spec = spec.model_copy(update={"search": spec.search.model_copy(update={"pruner": NoPruning()})})

    rows = []
    for seed in bench.seeds:
        # "hpsearch" is the search-quality benchmark's arm: the same settings reuse its saved run.
        pruned = bench.run("hpsearch", seed, lambda work: run_hpsearch_arm("hpsearch", spec, seed, bench.budget_flag, work),
                           keyed=bench.hpsearch_settings)
        unpruned = bench.run("tpe-no-pruning", seed, lambda work: run_hpsearch_arm(
            "tpe-no-pruning", unpruned_spec, seed, bench.budget_flag, work), keyed=bench.hpsearch_settings)
        if pruned is None or unpruned is None:  # --saved-only, before both arms ran this seed
            continue
        reference = max(r.best_val for r in (pruned, unpruned) if r.best_val is not None)
        rows.append((seed, reference, pruned, unpruned,
                     pruned.epochs_to_reach(reference - WITHIN), unpruned.epochs_to_reach(reference - WITHIN)))

    print()
    print(f"Pruning: {spec.name} ({spec.search.pruner.type} pruner), budget {budget} epochs per search, "
          f"full trial {spec.training.epochs} epochs; epochs until the best-so-far is within one point of "
          "the best either arm found")
    print()
    print("| seed | best val acc % (either arm) | epochs, with pruner | epochs, without | ratio "
          "| trials with / without | best val % with / without |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    ratios = []
    for seed, reference, pruned, unpruned, with_pruner, without in rows:
        reached = with_pruner is not None and without is not None
        ratio = with_pruner / without if reached else None
        if ratio is not None:
            ratios.append(ratio)
        print(f"| {seed} | {100 * reference:.1f} | {_epochs(with_pruner, budget)} | {_epochs(without, budget)} | "
              f"{'-' if ratio is None else f'{ratio:.2f}'} | {pruned.trials} / {unpruned.trials} | "
              f"{100 * (pruned.best_val or 0):.1f} / {100 * (unpruned.best_val or 0):.1f} |")
    print()
    if ratios:
        print(f"mean ratio with / without: {statistics.mean(ratios):.2f} over {len(ratios)} seeds "
              f"(target <= {TARGET_RATIO}); a dash means that arm never came within one point in its budget")
    else:
        print("no seed where both arms came within one point of the best: no ratio")
    plot_if_asked(bench.plot, {"hpsearch": [row[2] for row in rows], "tpe-no-pruning": [row[3] for row in rows]},
                  f"{spec.name}: {budget} epochs per search, {spec.training.epochs}-epoch trials, with and "
                  f"without its {spec.search.pruner.type} pruner, seeds {' '.join(map(str, bench.seeds))}")


def _epochs(value: int | None, budget: int) -> str:
    return f"not within {budget}" if value is None else str(value)


if __name__ == "__main__":
    main()
