"""Parallel sampling: do workers that ask at the same time try different things?

Simulates N workers on one study, as `hpsearch run --workers N` runs them: each has its own
sampler (hpsearch's TPE settings, its own seed) on the shared storage; in every round all N ask
before any reports back, as trials of equal length would. Compared: hpsearch's TPE with
constant liar (running trials count as bad results, so the next worker looks elsewhere) and the
same TPE without it. Values come from a synthetic landscape over the study's real search space
(`benchmarks/landscape.py`), so the benchmark trains nothing and runs in seconds; what it
measures is the samplers' behaviour: duplicates among concurrent trials, how far apart
concurrent trials are (per parameter, in units of its range), distinct configurations, and the
best value found.

    python -m benchmarks.parallel_sampling --study cifar-dropout --workers 8 --rounds 10 --seeds 5
"""

from __future__ import annotations

import argparse
import statistics

import optuna

from benchmarks.landscape import position, score, table_row
from hpsearch.space.sampling import sample
from hpsearch.space.spec import StudySpec
from hpsearch.space.study_files import load_spec
from hpsearch.store.storage import quiet_optuna
from hpsearch.search.study import make_sampler


def _spread(trials: list[optuna.Trial]) -> float:
    """Mean distance between two concurrent trials, per parameter, in [0, 1] units of its range."""
    points = [{k: position(v, t.distributions[k]) for k, v in t.params.items()} for t in trials]
    gaps = [
        statistics.mean(abs(a[k] - b.get(k, a[k])) for k in a)
        for i, a in enumerate(points) for b in points[i + 1:]
    ]
    return statistics.mean(gaps) if gaps else 0.0


def _search(spec: StudySpec, workers: int, rounds: int, seed: int, liar: bool) -> dict[str, float]:
    storage = optuna.storages.InMemoryStorage()
    studies = [
        optuna.create_study(storage=storage, study_name="parallel", load_if_exists=True, direction="maximize",
                            sampler=make_sampler(spec, seed=seed * 1000 + worker, constant_liar=liar))
        for worker in range(workers)
    ]
    duplicates, spreads = 0, []
    for _ in range(rounds):
        asked = [study.ask() for study in studies]  # everyone starts before anyone finishes
        for trial in asked:
            sample(trial, spec.space)
        keys = [tuple(sorted(trial.params.items())) for trial in asked]
        duplicates += len(keys) - len(set(keys))
        spreads.append(_spread(asked))
        for study, trial in zip(studies, asked):
            study.tell(trial, score(trial, trial.params))
    trials = studies[0].get_trials(deepcopy=False)
    return {
        "duplicates": duplicates,
        "spread": statistics.mean(spreads),
        "distinct": len({tuple(sorted(t.params.items())) for t in trials}),
        "best": max(t.value for t in trials if t.value is not None),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", default="cifar-dropout")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()

    quiet_optuna()
    spec = load_spec(args.study)
    total = args.workers * args.rounds
    print(f"Parallel sampling: {spec.name}'s space, {args.workers} workers asking together, {args.rounds} "
          f"rounds ({total} trials), synthetic landscape, {args.seeds} seeds (mean ± sd)")
    print()
    print("| sampler | duplicates among concurrent trials | mean distance between concurrent trials "
          f"| distinct configurations of {total} | best value (max 1) |")
    print("| --- | --- | --- | --- | --- |")
    for label, liar in (("TPE with constant liar (hpsearch)", True), ("TPE without constant liar", False)):
        runs = [_search(spec, args.workers, args.rounds, seed, liar) for seed in range(args.seeds)]
        print(table_row(label, runs, (("duplicates", 1), ("spread", 3), ("distinct", 1), ("best", 4))))

if __name__ == "__main__":
    main()
