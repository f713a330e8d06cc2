"""Storage scale: many worker processes on one PostgreSQL study, with an objective that trains
nothing, and the sampler's ask latency on big studies.

Throughput uses Optuna's RandomSampler, so what is measured is the storage (heartbeats on, as
hpsearch's workers run); ask latency uses hpsearch's own TPE configuration. The PostgreSQL server
is started by this script in a temporary directory and removed afterwards.

    python -m benchmarks.storage_scale --workers 1 4 16 32 --seconds 10
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import optuna
from optuna.trial import TrialState

from hpsearch.spec import load_spec
from hpsearch.storage import open_storage, quiet_optuna
from hpsearch.study import make_sampler
from tests.postgres import PostgresServer


def _objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -10, 10)
    y = trial.suggest_int("y", 0, 10)
    return (x - 2) ** 2 + y


def child(url: str, study_name: str, seconds: float, seed: int) -> None:
    """One worker process: run trials until the time is up, print how many it finished."""
    quiet_optuna()
    storage = open_storage(url)
    study = optuna.load_study(study_name=study_name, storage=storage,
                              sampler=optuna.samplers.RandomSampler(seed=seed))
    done = 0

    def count(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        nonlocal done
        done += 1

    study.optimize(_objective, timeout=seconds, callbacks=[count])
    print(done)


def _throughput(url: str, workers: int, seconds: float) -> dict[str, float]:
    name = f"scale-{workers}"
    optuna.create_study(study_name=name, storage=open_storage(url))
    started = time.perf_counter()
    processes = [
        subprocess.Popen([sys.executable, "-m", "benchmarks.storage_scale", "--child", url, name,
                          str(seconds), str(seed)], stdout=subprocess.PIPE, text=True)
        for seed in range(workers)
    ]
    outputs = [p.communicate()[0] for p in processes]
    wall = time.perf_counter() - started
    reported = sum(int(out.strip().splitlines()[-1]) for out in outputs)
    errors = sum(p.returncode != 0 for p in processes)
    trials = optuna.load_study(study_name=name, storage=open_storage(url)).get_trials(deepcopy=False)
    numbers = [t.number for t in trials]
    return {
        "workers": workers,
        "trials": len(trials),
        "per_second": reported / seconds,
        "lost_or_extra": len(trials) - reported,
        "duplicates": len(numbers) - len(set(numbers)),
        "left_running": sum(t.state == TrialState.RUNNING for t in trials),
        "errors": errors,
        "wall": wall,
    }


def _ask_latency(url: str, size: int, asks: int) -> float:
    """Median seconds of hpsearch's TPE `ask` on a study that already has `size` trials."""
    spec = load_spec("cifar-dropout")
    storage = open_storage(url)
    study = optuna.create_study(study_name=f"ask-{size}", storage=storage, direction="maximize",
                                sampler=make_sampler(spec, seed=0))
    distributions = {"x": optuna.distributions.FloatDistribution(-10, 10),
                     "y": optuna.distributions.IntDistribution(0, 10)}
    study.add_trials([
        optuna.trial.create_trial(params={"x": (i % 200) / 10 - 10, "y": i % 11}, distributions=distributions,
                                  value=float(i % 97))
        for i in range(size)
    ])
    seconds = []
    for _ in range(asks):
        started = time.perf_counter()
        trial = study.ask()
        value = _objective(trial)
        seconds.append(time.perf_counter() - started)
        study.tell(trial, value)
    return statistics.median(seconds)


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        url, name, seconds, seed = sys.argv[2:6]
        child(url, name, float(seconds), int(seed))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 16, 32])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--ask-sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--asks", type=int, default=10)
    args = parser.parse_args()

    quiet_optuna()
    with PostgresServer() as server:
        rows = [_throughput(server.url, n, args.seconds) for n in args.workers]
        single = rows[0]["per_second"] / rows[0]["workers"]
        print(f"Storage throughput: PostgreSQL, objective that trains nothing, {args.seconds:g} s per run")
        print()
        print("| workers | trials/s | speed-up | ideal | lost or extra | duplicate numbers | left RUNNING | "
              "failed workers |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for row in rows:
            print(f"| {row['workers']} | {row['per_second']:.1f} | {row['per_second'] / single:.1f}x | "
                  f"{row['workers']}x | {row['lost_or_extra']} | {row['duplicates']} | {row['left_running']} | "
                  f"{row['errors']} |")
        print()
        print("| trials in study | median TPE ask (hpsearch's sampler settings) |")
        print("| --- | --- |")
        for size in args.ask_sizes:
            print(f"| {size} | {1000 * _ask_latency(server.url, size, args.asks):.0f} ms |")


if __name__ == "__main__":
    main()
