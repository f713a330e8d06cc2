"""The cost cap under a time budget: does pruning the networks whose full trial would take more
than `max_trial_share` of the budget (README, "Budgets") buy a better network in the same hours?

Arms, each hpsearch's search as `hpsearch run STUDY --budget Nh --seed S` runs it (its sampler,
pruner, starting points, worker and storage), differing only in `max_trial_share` (the study's
starting points train in full in all of them):
- cap: 0.125: a full trial may take an eighth of the budget (the default until this benchmark);
- whole-budget: 1.0, the default since: only a network whose full trial would outlast the whole
  budget is cut;
- no-cap: 0, every network trains however long its epochs take.

For each, the best trial's validation accuracy and its test accuracy, the trials finished and the
ones pruned for their cost, and what each had found at fractions of the budget. Time budgets
measure the machine: run the arms as processes (`--arms ARM`, one pinned to each core with
`taskset`, each beside another run), so they see the same load; then tabulate with `--saved-only`.

    python -m benchmarks.cost_cap --study cifar-architecture --data ../shared/data/cifar10-subset.npz \
        --epochs 15 --hours 0.5 --seeds 0 1 2
"""

from __future__ import annotations

import statistics

from benchmarks.plots import plot_if_asked
from benchmarks.search_quality import difference, print_found, print_found_by
from benchmarks.searches import ArmResult, bench_from_command_line, run_hpsearch_arm
from hpsearch.space.spec import StudySpec

SHARES = {"cap": 0.125, "whole-budget": 1.0, "no-cap": 0.0}  # arm: the max_trial_share it runs with
FRACTIONS = (0.25, 0.5, 0.75, 1.0)  # of the budget: what each search had found by then


def _with_share(spec: StudySpec, share: float) -> StudySpec:
    return spec.model_copy(update={"search": spec.search.model_copy(update={"max_trial_share": share})})


def main() -> None:
    bench = bench_from_command_line(__doc__ or "", time_budget=True)
    spec, hours = bench.spec, bench.hours or 0.0
    specs = {arm: _with_share(spec, share) for arm, share in SHARES.items()}
    arms = [arm for arm in SHARES if arm in (bench.arms or SHARES)]
    results: dict[str, list[ArmResult]] = {arm: [] for arm in arms}
    for seed in bench.seeds:
        for arm in arms:
            result = bench.run(arm, seed, lambda work: run_hpsearch_arm(arm, specs[arm], seed, bench.budget_flag, work),
                               keyed={**bench.hpsearch_settings, "max_trial_share": specs[arm].search.max_trial_share})
            if result is not None:
                results[arm].append(result)
    arms = [arm for arm in arms if results[arm]]

    print()
    print(f"Cost cap: {spec.name}, {len(bench.splits.x_train)} training / {len(bench.splits.x_val)} validation / "
          f"{len(bench.splits.x_test)} test images, {hours:g} h per search, full trial {spec.training.epochs} "
          f"epochs, seeds {' '.join(map(str, bench.seeds))}; the share of the budget a full trial may take: "
          + ", ".join(f"{arm} {SHARES[arm]:g}" for arm in arms) + " (0: no cap)")
    print()
    print_found({arm: results[arm] for arm in arms}, {
        "trials finished (mean)": lambda runs: f"{statistics.mean(r.trials for r in runs):.1f}",
        "pruned as too costly (mean)": lambda runs: f"{statistics.mean(r.too_costly for r in runs):.1f}",
        "epochs trained (mean)": lambda runs: f"{statistics.mean(r.epochs_spent for r in runs):.0f}",
    })
    print()
    print("Test accuracy % of the best trial (by validation) finished by each share of the budget, "
          "mean over seeds ('-': no trial finished yet in some seed)")
    print_found_by(tuple(fraction * hours for fraction in FRACTIONS), {arm: results[arm] for arm in arms})
    plot_if_asked(bench.plot, {arm: results[arm] for arm in arms}, f"{spec.name}: {hours:g} h per search, "
                  f"{spec.training.epochs}-epoch trials, seeds {' '.join(map(str, bench.seeds))}")
    for arm in arms:
        if arm != "no-cap" and "no-cap" in arms and len(results[arm]) > 1 and len(results["no-cap"]) > 1:
            print(difference(arm, "no-cap", results))


if __name__ == "__main__":
    main()
