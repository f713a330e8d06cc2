"""Search quality: under one budget of training epochs, what does each search find?

Arms, each run once per seed. hpsearch's arms run as `hpsearch run --seed S` does, whose seed also
picks the validation split, and every other arm of seed S trains and validates on that same split
(`--peers-on-study-split`: on the study's split for every seed, as the runs saved before did). The
test images are the same for every arm (from a .npz file, for every seed too):
- hpsearch: the study as `hpsearch run --seed S --budget Nepochs` searches it (its sampler and
  pruner; its baselines, then each with the proven training recipe, first);
- hpsearch-confirm: the same search, then `hpsearch confirm --top 3 --epochs E` (E: twice a full
  trial's epochs), scored by the confirmed winner as `export` retrains it: the route to a better
  network when a user can spend more than the budget (its epochs are counted on top of it);
- hpsearch-gp: the same with Optuna's GPSampler (`type = "gp"`), to choose the default sampler;
- hpsearch-random: the same with Optuna's random sampler, to tell TPE's share from the pruner's;
- hpsearch-near: the same with a quarter of the sampler's trials drawn near the best starting
  points (`[search] near_starts = 0.25`; such a draw is not pruned while it keeps pace with its
  start), to choose whether that is every study's default;
- random: Optuna's random sampler, no pruning, no baselines;
- keras-tuner: Keras Tuner's Hyperband on the very same space (max epochs and reduction factor
  as the study's), as it runs out of the box: a promoted trial continues in a fresh optimizer,
  so a step-based schedule warms up again and never anneals (the runs of BENCHMARKS 3a);
- keras-tuner-carried: the same with the optimizer's step counter carried over each promotion,
  so the schedule continues where the trial left off;
- keras-tuner-started: keras-tuner-carried after first training hpsearch's starting points for a
  full trial each, within its budget: the same head start as hpsearch;
- baseline: the study's hand-tuned networks, each trained for the epochs of a full trial;
- hand-built: one strong network from the study's space, the first baseline as an expert would
  fix it (`_hand_built`: for a study that searches the recipe, hpsearch's proven recipe on it;
  where the recipe does not apply, the study's last baseline, the fix its author reported),
  trained for the epochs of a full trial;
- hand-built-long: confirm's control: the same network trained for confirm's length (twice a
  full trial) with no search, as `hpsearch run --seed S` trains it (the seed's validation split):
  what the search plus `confirm` earns is its difference to this arm.
- hand-built-budget: the same network trained for the whole budget's epochs in one run: what the
  search's epochs would buy spent on its start alone.

For each, the best trial's validation accuracy (what the search optimizes) and that trial's test
accuracy (what a user gets), as mean and spread over seeds, and what each search had found after
equal wall time (every trial's end is recorded).

    python -m benchmarks.search_quality --study cifar-dropout --epochs 15 --budget 210 \
        --validation-fraction 0.2 --seeds 0 1 2
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

from benchmarks.plots import plot_if_asked
from benchmarks.searches import (
    ArmResult,
    Search,
    bench_from_command_line,
    run_baselines,
    run_hpsearch_arm,
    run_keras_tuner_arm,
    run_random_search,
    run_start_alone,
)
from hpsearch.space.baselines import Baseline
from hpsearch.space.spec import TAGGED, StudySpec
from hpsearch.space.starting_points import starting_points, with_proven_recipe

ARMS = ("hpsearch", "hpsearch-confirm", "hpsearch-gp", "hpsearch-random", "hpsearch-near", "random", "keras-tuner",
        "keras-tuner-carried", "keras-tuner-started", "baseline", "hand-built", "hand-built-long", "hand-built-budget")
RUN_BY_HPSEARCH = ("hand-built-long", "hand-built-budget")  # through `hpsearch run --seed S`, like hpsearch's arms
CANDIDATES = ("hpsearch-gp", "hpsearch-random", "hpsearch-near")  # hpsearch with another sampling: the default's rivals
NEAR_SHARE_TRIED = 0.25  # hpsearch-near's `near_starts`
TARGET_POINTS_OVER_BASELINE = 5.0
WALL_HOURS = (0.5, 1.0, 2.0)  # what each search had found after this long
CONFIRM_TOP = 3  # hpsearch-confirm retrains the search's best three...
CONFIRM_LONGER = 2  # ...for twice a full trial's epochs

# A strong hand-built network per study, from its own space: the study's first baseline as an
# expert would fix it. For a study that searches the training recipe, that is the baseline with
# hpsearch's proven recipe (`starting_points.with_proven_recipe`): on cifar-dropout, the author's
# VGG with batch norm, light dropout, flips, pad-and-crop, label smoothing and airbench's kind of
# schedule. hpsearch tries it right after the baselines, so against this arm hpsearch shows what its
# search adds.
HAND_BUILT = {
    "digits-quick": {"batch_norm": "after_activation", "conv_dropout": 0.1, "dense_dropout": 0.2,
                     "batch_size": 32},
}


def _with_sampler(spec: StudySpec, kind: str) -> StudySpec:
    kept = spec.search.sampler.model_dump(exclude={"type"})
    member = TAGGED["sampler"][kind]
    sampler = member(**{key: value for key, value in kept.items() if key in member.model_fields})
    return spec.model_copy(update={"search": spec.search.model_copy(update={"sampler": sampler})})


def _with_near_starts(spec: StudySpec, share: float) -> StudySpec:
    return spec.model_copy(update={"search": spec.search.model_copy(update={"near_starts": share})})


def _hand_built(spec: StudySpec) -> Baseline | None:
    first = spec.baselines[0] if spec.baselines else Baseline(name="", values={})
    if spec.name in HAND_BUILT:
        return Baseline(name="hand-built", values={**first.values, **HAND_BUILT[spec.name]})
    fixed = with_proven_recipe(spec, first)
    if fixed is not None:
        return Baseline(name="hand-built", values=fixed.values)
    # Where the recipe does not apply, the study's own fix: a study lists its baselines from the
    # stuck network to the fix its author reported (cifar-architecture's 64-256-fix).
    return Baseline(name="hand-built", values=spec.baselines[-1].values) if spec.baselines else None


def spread(values: list[float]) -> str:
    points = [100 * v for v in values]
    if len(points) == 1:
        return f"{points[0]:.1f}"
    return f"{statistics.mean(points):.1f} ± {statistics.stdev(points):.1f}"


def main() -> None:
    bench = bench_from_command_line(__doc__ or "")
    spec, splits, budget = bench.spec, bench.splits, bench.budget
    hand_built = _hand_built(spec)
    arms = [arm for arm in ARMS if arm in (bench.arms or ARMS) and (not arm.startswith("hand-built") or hand_built)]

    budget_flag = bench.budget_flag
    confirm = (CONFIRM_TOP, CONFIRM_LONGER * spec.training.epochs)
    results: dict[str, list[ArmResult]] = {arm: [] for arm in arms}
    for seed in bench.seeds:  # seed by seed, so an interrupted run leaves whole seeds behind
        splits = bench.splits_for(seed)
        searches: dict[str, Search] = {  # each takes the directory a stopped hpsearch search is kept in
            "hpsearch": lambda work: run_hpsearch_arm("hpsearch", spec, seed, budget_flag, work),
            "hpsearch-confirm": lambda work: run_hpsearch_arm("hpsearch-confirm", spec, seed, budget_flag, work,
                                                              confirm),
            "hpsearch-gp": lambda work: run_hpsearch_arm("hpsearch-gp", _with_sampler(spec, "gp"), seed, budget_flag,
                                                         work),
            # hpsearch's pruner and starting points with random draws: TPE's part in hpsearch's result
            "hpsearch-random": lambda work: run_hpsearch_arm("hpsearch-random", _with_sampler(spec, "random"), seed,
                                                             budget_flag, work),
            "hpsearch-near": lambda work: run_hpsearch_arm("hpsearch-near", _with_near_starts(spec, NEAR_SHARE_TRIED),
                                                           seed, budget_flag, work),
            "random": lambda _: run_random_search(spec, splits, seed, budget),
            "keras-tuner": lambda _: run_keras_tuner_arm(spec, splits, seed, budget, carry_schedule=False),
            "keras-tuner-carried": lambda _: run_keras_tuner_arm(spec, splits, seed, budget, arm="keras-tuner-carried"),
            "keras-tuner-started": lambda _: run_keras_tuner_arm(spec, splits, seed, budget, arm="keras-tuner-started",
                                                                 starts=starting_points(spec)),
            "baseline": lambda _: run_baselines(spec, splits, seed),
            "hand-built": lambda _: run_baselines(spec, splits, seed, arm="hand-built", networks=(hand_built,)),
            "hand-built-long": lambda work: run_start_alone("hand-built-long", spec, hand_built, seed, confirm[1], work),
            "hand-built-budget": lambda work: run_start_alone("hand-built-budget", spec, hand_built, seed, budget, work),
        }
        for arm in arms:
            own = bench.split_key(seed)  # the arms run here, on this seed's split
            if arm.startswith("hpsearch"):
                own = bench.hpsearch_settings
            if arm == "hpsearch-confirm":
                own = {**bench.hpsearch_settings, "confirm_top": confirm[0], "confirm_epochs": confirm[1]}
            if arm == "hpsearch-near":
                # Runs before a draw near a start kept pace with it (9ec3157) lack `near_keeps_pace`.
                own = {**bench.hpsearch_settings, "near_starts": NEAR_SHARE_TRIED, "near_keeps_pace": True}
            if arm in RUN_BY_HPSEARCH:
                own = {"runner": "hpsearch.run", "epochs": confirm[1] if arm == "hand-built-long" else budget}
            result = bench.run(arm, seed, searches[arm], keyed=own)
            if result is not None:
                results[arm].append(result)
    arms = [arm for arm in arms if results[arm]]  # with --saved-only, those with a saved search

    print()
    splits = bench.splits
    print(f"Search quality: {spec.name}, {len(splits.x_train)} training / {len(splits.x_val)} validation / "
          f"{len(splits.x_test)} test images, budget {budget} epochs per search, full trial "
          f"{spec.training.epochs} epochs, seeds {' '.join(map(str, bench.seeds))}")
    print()
    drawn_after = {arm: len(starting_points(spec)) if arm.startswith("hpsearch") else 0
                   for arm in arms if arm.startswith("hpsearch") or arm == "random"}
    print_found({arm: results[arm] for arm in arms}, {
        "best drawn trial's val acc % (mean ± sd)": lambda runs: _best_drawn(
            runs, drawn_after, spec.training.epochs, spec.search.direction == "maximize"),
        "seeds whose best drawn trial beat every start (val)": lambda runs: _search_gain(
            runs, drawn_after, spec.training.epochs, spec.search.direction == "maximize"),
        "epochs spent (mean)": lambda runs: f"{statistics.mean(r.epochs_spent for r in runs):.0f}",
        "trials (mean)": lambda runs: f"{statistics.mean(r.trials for r in runs):.1f}",
        "minutes (mean)": lambda runs: f"{statistics.mean(r.seconds for r in runs) / 60:.1f}",
    })
    print()
    print("At equal wall time: test accuracy % of the best trial (by validation) finished by then, "
          "mean over seeds ('-': no trial finished yet in some seed)")
    print_found_by(WALL_HOURS, {arm: results[arm] for arm in arms})
    plot_if_asked(bench.plot, {arm: results[arm] for arm in arms}, f"{spec.name}: {budget} epochs per search, "
                  f"{spec.training.epochs}-epoch trials, seeds {' '.join(map(str, bench.seeds))}")
    if "hpsearch" not in arms:
        return
    mean_test = {arm: statistics.mean(r.best_test or 0.0 for r in results[arm]) for arm in arms}
    peers = [arm for arm in ("random", "keras-tuner", "keras-tuner-carried", "keras-tuner-started")
             if arm in arms]  # not CANDIDATES
    ahead = all(mean_test["hpsearch"] > mean_test[arm] for arm in peers)
    verdict = ("yes" if ahead else "no") if peers else "no peer in this run"
    print(f"hpsearch ahead of every peer on mean test accuracy: {verdict}", end="")
    if "baseline" in arms:
        over_baseline = 100 * (mean_test["hpsearch"] - mean_test["baseline"])
        print(f"; {over_baseline:+.1f} points over the best baseline "
              f"(target: ahead of every peer and >= +{TARGET_POINTS_OVER_BASELINE:.0f})", end="")
    print()
    print()
    compared = [arm for arm in arms if arm != "hpsearch" and len(results[arm]) > 1 and len(results["hpsearch"]) > 1]
    for arm in compared:
        print(difference("hpsearch", arm, results, paired=not bench.peers_on_study_split))
    print()
    for arm in (arm for arm in compared if arm in CANDIDATES):  # the default sampling, by what it drew
        print(difference("hpsearch", arm, results, what="the best drawn trial's validation accuracy", paired=True,
                         measure=lambda r: r.best_drawn(drawn_after[r.arm], spec.training.epochs,
                                                        spec.search.direction == "maximize")))


def _best_drawn(runs: list[ArmResult], drawn_after: dict[str, int], epochs: int, maximize: bool) -> str:
    """The best complete trial a search drew itself (not a starting point), over seeds: what its
    sampler adds; '-' for an arm without a sampler's trials or without their curves."""
    if runs[0].arm not in drawn_after:
        return "-"
    found = [r.best_drawn(drawn_after[r.arm], epochs, maximize) for r in runs]
    drawn = [f for f in found if f is not None]
    return spread(drawn) if len(drawn) == len(found) else "-"


def _search_gain(runs: list[ArmResult], drawn_after: dict[str, int], epochs: int, maximize: bool) -> str:
    """In how many seeds the best trial the search drew beat its best starting point on validation
    (issue 25's search gain); '-' for an arm without starting points or without curves."""
    if not drawn_after.get(runs[0].arm):
        return "-"
    pairs = [(r.best_drawn(drawn_after[r.arm], epochs, maximize), r.best_start(drawn_after[r.arm], epochs, maximize))
             for r in runs]
    beat = sum(drawn is not None and (start is None or (drawn > start if maximize else drawn < start))
               for drawn, start in pairs)
    return f"{beat} of {len(runs)}"


def print_found(results: dict[str, list[ArmResult]], columns: dict[str, Callable[[list[ArmResult]], str]]) -> None:
    """A table of what each arm found over its seeds (best validation accuracy, that trial's test
    accuracy), then `columns`: a heading and how to tell it from an arm's runs."""
    print("| search | best val acc % (mean ± sd) | its test acc % (mean ± sd) | test acc % by seed | "
          + " | ".join(columns) + " | commit |")
    print("| --- | --- | --- | --- |" + " --- |" * len(columns) + " --- |")
    for arm, runs in results.items():
        vals = [r.best_val for r in runs if r.best_val is not None]
        tests = [r.best_test for r in runs if r.best_test is not None]
        print(f"| {arm} | {spread(vals) if vals else '-'} | {spread(tests) if tests else '-'} | "
              f"{' / '.join(f'{100 * r.best_test:.1f} (s{r.seed})' for r in runs if r.best_test is not None)} | "
              + " | ".join(tell(runs) for tell in columns.values()) + f" | {_commits(runs)} |")


def _commits(runs: list[ArmResult]) -> str:
    """The commits an arm's seeds ran at ('?': saved before results kept their commit)."""
    return ", ".join(sorted({r.commit or "?" for r in runs}))


def print_found_by(hours: tuple[float, ...], results: dict[str, list[ArmResult]]) -> None:
    """A table of what each arm had found after each of `hours`: the test accuracy of its best
    trial (by validation) finished by then, over seeds; '-' while some seed had finished none."""
    print()
    print("| search | " + " | ".join(f"{h:g} h" for h in hours) + " |")
    print("| --- |" + " --- |" * len(hours))
    for arm, runs in results.items():
        cells = []
        for h in hours:
            found = [r.best_test_at(h * 3600) for r in runs]
            ready = [f for f in found if f is not None]
            cells.append(spread(ready) if ready and len(ready) == len(found) else "-")
        print(f"| {arm} | " + " | ".join(cells) + " |")
    print()


def difference(arm: str, peer: str, results: dict[str, list[ArmResult]],
               measure: Callable[[ArmResult], float | None] = lambda r: r.best_test or 0.0,
               what: str = "test accuracy", paired: bool = False) -> str:
    """How far apart two arms are on `measure` (by default their best trial's test accuracy), and
    whether the seeds can tell them apart: a 95% interval from Welch's t-test (the arms' spreads
    differ), or with `paired` (every arm of a seed trained and validated on the same split) from
    the seeds' differences, over the seeds both arms ran. Seeds without a value are left out."""
    from scipy import stats

    ours = {r.seed: v for r in results[arm] if (v := measure(r)) is not None}
    theirs = {r.seed: v for r in results[peer] if (v := measure(r)) is not None}
    if paired:
        seeds = sorted(ours.keys() & theirs.keys())
        ours, theirs = {s: ours[s] for s in seeds}, {s: theirs[s] for s in seeds}
        test = stats.ttest_rel(list(ours.values()), list(theirs.values()))
        how = f"paired t over seeds {' '.join(map(str, seeds))}"
    else:
        test = stats.ttest_ind(list(ours.values()), list(theirs.values()), equal_var=False)
        how = "Welch's t"
    interval = test.confidence_interval(0.95)
    verdict = "apart" if interval.low > 0 or interval.high < 0 else "not apart at this many seeds"
    return (f"{arm} - {peer}: {100 * (statistics.mean(ours.values()) - statistics.mean(theirs.values())):+.1f} "
            f"points of {what}, 95% interval {100 * interval.low:+.1f} to {100 * interval.high:+.1f} "
            f"({how}, p = {test.pvalue:.2f}): {verdict}")


if __name__ == "__main__":
    main()
