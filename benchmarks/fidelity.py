"""Which cheap evaluation ranks networks as their full-length training does (issue 25, item 2).

On a development problem (never a held-out one), K networks drawn at random from the study's space
are trained for a full trial, and each again at cheaper fidelities:
- `first-R`: the full run's validation result after R epochs, what Hyperband and the median pruner
  judge a trial by today (its learning-rate schedule spans the full length, so at R it has not
  annealed);
- `complete-R`: a run of R epochs whose schedule is defined over those R epochs (warmup and decay
  complete within them), what a rung that trains a complete schedule would see;
- `images-F`: the full length on a fraction F of the training images (the same validation images).
Each fidelity's rank agreement with the full-length result is Spearman's rho over the K networks
(validation only: test images choose nothing), with its cost in full-size epochs per network.
Results are saved per (problem, seed, fidelity) under benchmarks/results, and within a fidelity after
every network, so a run resumes where it was stopped.

    python -m benchmarks.fidelity --problem digits --networks 16 --seeds 0 1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from benchmarks import RESULTS_DIR
from benchmarks.problems import BY_NAME, Problem
from benchmarks.searches import scratch_checkpoints
from hpsearch.data.sources import Splits, load_splits
from hpsearch.records import HISTORY_ATTR
from hpsearch.space.catalogue import LR_SCHEDULES
from hpsearch.space.dimension import parse_space
from hpsearch.space.pruners import NoPruning
from hpsearch.space.sampling import sample
from hpsearch.space.spec import StudySpec
from hpsearch.store.storage import quiet_optuna
from hpsearch.train.objective import Objective


def _spec(problem: Problem, networks: int, epochs: int, schedule: str | None) -> StudySpec:
    """The problem's study with no starting points (drawn networks only), no pruner, `epochs` long;
    with `schedule`, every network's learning rate follows it (a study with a constant rate trains
    its first R epochs exactly as a run of R epochs would)."""
    spec = problem.study_spec().with_overrides(epochs=epochs, trials=networks)
    search = spec.search.model_copy(update={"proven_recipe": False, "budget": None,
                                            "pruner": NoPruning()})
    space = spec.space if schedule is None else {**spec.space, "lr_schedule": parse_space(
        {"lr_schedule": schedule})["lr_schedule"]}
    return spec.model_copy(update={"search": search, "baselines": (), "space": space})


def _fewer_images(splits: Splits, fraction: float, seed: int) -> Splits:
    """The same validation and test images, a stratified `fraction` of the training images."""
    rng = np.random.default_rng(seed)
    keep = np.concatenate([rng.permutation(np.flatnonzero(splits.y_train == label))[
        :max(1, round(fraction * int((splits.y_train == label).sum())))] for label in np.unique(splits.y_train)])
    keep.sort()
    return Splits(splits.x_train[keep], splits.y_train[keep], splits.x_val, splits.y_val, splits.x_test,
                  splits.y_test, splits.num_classes)


def _draws(spec: StudySpec, networks: int, seed: int) -> list[dict[str, Any]]:
    """The parameters of `networks` networks drawn at random (seeded) from the study's space, as a
    seeded random search draws them trial after trial (the random sampler ignores results)."""
    quiet_optuna()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed), direction=spec.search.direction)
    draws = []
    for _ in range(networks):
        trial = study.ask()
        sample(trial, spec.space)
        draws.append(dict(trial.params))
        study.tell(trial, state=TrialState.FAIL)
    return draws


def _train(spec: StudySpec, splits: Splits, configurations: list[dict[str, Any]], seed: int,
           done: list[dict[str, Any]], saved: Callable[[list[dict[str, Any]]], None]) -> list[dict[str, Any]]:
    """Train the configurations not in `done` (the first networks, trained earlier), calling
    `saved` with all so far after each; per network its parameters, validation curve, result (the
    objective's value; None if it failed) and seconds. Network k is trial k of its study, so its
    weights are seeded as in one uninterrupted run (the search seed plus the trial number)."""
    quiet_optuna()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed),
                                pruner=optuna.pruners.NopPruner(), direction=spec.search.direction)
    for _ in done:  # placeholders that keep the trial numbers; failed trials count toward nothing
        study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL))
    objective = Objective(spec, splits, scratch_checkpoints())
    metric = spec.search.metric
    networks = list(done)
    for params in configurations[len(done):]:
        study.enqueue_trial(params)
        study.optimize(objective, n_trials=1, catch=(Exception,))
        trial = study.trials[-1]
        networks.append({"params": trial.params, "value": trial.value,
                         "curve": list(trial.user_attrs.get(HISTORY_ATTR, {}).get(metric, [])),
                         "seconds": (trial.datetime_complete - trial.datetime_start).total_seconds()})
        saved(networks)
    return networks


def _saved(results: Path | None, name: str, configurations: list[dict[str, Any]],
           train: Callable[[list[dict[str, Any]], Callable[[list[dict[str, Any]]], None]], list[dict[str, Any]]],
           ) -> list[dict[str, Any]]:
    """The networks of one fidelity: read back from `results` if they all ran, else trained from
    where an interrupted run left off (`NAME.partial.json`, written after every network)."""
    if results is None:
        return train([], lambda networks: None)
    path, partial = results / f"{name}.json", results / f"{name}.partial.json"
    if path.exists():
        return json.loads(path.read_text())["networks"]
    done = json.loads(partial.read_text())["networks"] if partial.exists() else []
    if [network["params"] for network in done] != configurations[:len(done)]:
        raise SystemExit(f"{partial} holds other networks than these draws; remove it to start this fidelity again")
    results.mkdir(parents=True, exist_ok=True)
    networks = train(done, lambda so_far: _write_whole(partial, {"networks": so_far}))
    path.write_text(json.dumps({"networks": networks}, indent=1))
    partial.unlink(missing_ok=True)
    return networks


def _write_whole(path: Path, content: dict[str, Any]) -> None:
    """Write through a temporary file and a rename, so a run killed mid-write leaves the last whole file."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(content, indent=1))
    temporary.replace(path)


def _spearman(cheap: list[float | None], full: list[float | None], maximize: bool) -> tuple[float | None, int]:
    """Spearman's rho over the networks both results exist for (a failed run ranks nowhere)."""
    from scipy.stats import spearmanr

    pairs = [(c, f) for c, f in zip(cheap, full) if c is not None and f is not None]
    if len(pairs) < 3:
        return None, len(pairs)
    rho = spearmanr([c for c, _ in pairs], [f for _, f in pairs]).statistic
    return (None if np.isnan(rho) else float(rho)), len(pairs)


def measure(problem: Problem, seed: int, networks: int, rungs: list[int], fractions: list[float],
            schedule: str | None, results: Path | None = RESULTS_DIR) -> list[dict[str, Any]]:
    """Rows of (fidelity, cost in full-size epochs per network, rho, networks compared) for one seed."""
    if problem.role != "development":
        raise SystemExit(f"{problem.name} is held out: defaults are chosen on development problems only")
    full_spec = _spec(problem, networks, problem.epochs, schedule)
    splits = load_splits(full_spec.data.dataset, seed=seed, **full_spec.data.split_settings())
    settings = [problem.name, networks, problem.epochs] + ([] if schedule is None else [schedule])
    key = hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:10]
    name = f"fidelity-{problem.name}-seed{seed}-{key}"
    configurations = _draws(full_spec, networks, seed)
    full = _saved(results, f"{name}-full", configurations,
                  lambda done, saved: _train(full_spec, splits, configurations, seed, done, saved))
    full_values = [network["value"] for network in full]
    maximize = full_spec.search.direction == "maximize"
    rows = []
    for rung in rungs:
        truncated = [network["curve"][rung - 1] if len(network["curve"]) >= rung else None for network in full]
        rows.append(("first", rung, rung, truncated))
        short = _saved(results, f"{name}-complete{rung}", configurations,
                       lambda done, saved: _train(_spec(problem, networks, rung, schedule), splits, configurations,
                                                  seed, done, saved))
        rows.append(("complete", rung, rung, [network["value"] for network in short]))
    for fraction in fractions:
        fewer = _saved(results, f"{name}-images{fraction:g}", configurations,
                       lambda done, saved: _train(full_spec, _fewer_images(splits, fraction, seed), configurations,
                                                  seed, done, saved))
        rows.append(("images", fraction, problem.epochs * fraction, [network["value"] for network in fewer]))
    measured = []
    for kind, size, cost, values in rows:
        rho, compared = _spearman(values, full_values, maximize)
        measured.append({"fidelity": f"{kind}-{size:g}", "cost": cost, "rho": rho, "compared": compared})
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problem", required=True, choices=sorted(n for n, p in BY_NAME.items() if p.role == "development"))
    parser.add_argument("--networks", type=int, default=16, help="networks drawn per seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--rungs", type=int, nargs="+", default=[1, 2, 3], help="epochs of the cheap fidelities")
    parser.add_argument("--fractions", type=float, nargs="*", default=[0.25, 0.5],
                        help="fractions of the training images at full length")
    parser.add_argument("--schedule", choices=LR_SCHEDULES, default=None,
                        help="every network's learning-rate schedule (default: the study's)")
    parser.add_argument("--fresh", action="store_true", help="train everything again, and save nothing")
    args = parser.parse_args()
    results = None if args.fresh else RESULTS_DIR
    problem = BY_NAME[args.problem]
    started = time.perf_counter()
    per_seed = [measure(problem, seed, args.networks, args.rungs, args.fractions, args.schedule,
                        results) for seed in args.seeds]
    schedule = f", {args.schedule} schedule" if args.schedule else ""
    print(f"Rank agreement with the full {problem.epochs}-epoch result on {problem.name} (development){schedule}, "
          f"{args.networks} random networks, seeds {' '.join(map(str, args.seeds))}; {time.perf_counter() - started:.0f} s")
    print("| fidelity | cost (full-size epochs a network) | Spearman rho per seed | mean |")
    print("| --- | --- | --- | --- |")
    for index, row in enumerate(per_seed[0]):
        rhos = [seed_rows[index]["rho"] for seed_rows in per_seed]
        shown = " ".join("-" if rho is None else f"{rho:+.2f}" for rho in rhos)
        known = [rho for rho in rhos if rho is not None]
        mean = f"{sum(known) / len(known):+.2f}" if known else "-"
        print(f"| {row['fidelity']} | {row['cost']:g} | {shown} | {mean} |")


if __name__ == "__main__":
    main()
