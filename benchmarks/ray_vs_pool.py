"""Workers as Ray actors against hpsearch's own process pool, on the same machine and study.

One PostgreSQL server (started in a temporary directory, as the tests do) and one local Ray head
(`ray start --head --num-cpus W`) serve every run; each run gets a fresh database. The arms
alternate (pool, Ray, pool, Ray, ...) so that a machine shared with other work slows both alike.
Each run is `hpsearch run STUDY --trials T --workers W` with `--ray ADDRESS` or without; measured
from the trials' own records: seconds from the command's start to the first finished trial, and
finished trials per minute from the first trial's start to the last trial's end; plus the
command's wall time. The study is tiny (digits, one-block network, no pruning), so start-up and
coordination, which is what differs between the arms, weigh as much as they ever will.

    python -m benchmarks.ray_vs_pool --workers 2 --trials 12 --repeats 3 --epochs 2
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import tempfile
import time
from pathlib import Path

from optuna.trial import TrialState

from tests.helpers import run_cli, stored_trials
from tests.interruptions import digits_study
from tests.postgres import PostgresServer
from tests.ray_head import RayHead

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def one_run(path: Path, url: str, arm_flags: list[str], workers: int, trials: int) -> dict[str, float]:
    started = datetime.datetime.now()
    clock = time.monotonic()
    result = run_cli("run", str(path), "--storage", url, "--trials", str(trials), "--workers", str(workers),
                     *arm_flags, timeout=1800)
    wall = time.monotonic() - clock
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(arm_flags) or 'pool'} run failed:\n{result.stdout}{result.stderr}")
    done = [t for t in stored_trials(url, path.stem) if t.state in FINISHED]
    first_start = min(t.datetime_start for t in done)
    ends = sorted(t.datetime_complete for t in done)
    span = (ends[-1] - first_start).total_seconds()
    return {"first": (ends[0] - started).total_seconds(), "per_minute": 60 * len(done) / span, "wall": wall,
            "finished": len(done)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2, help="Epochs per trial: longer trials, less start-up.")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="ray-vs-pool-"))
    path = digits_study(directory, "throughput", epochs=args.epochs, trials=1,
                        space="base_filters = { choices = [4, 8] }\nbatch_size = { choices = [32, 64] }\n")
    postgres, head = PostgresServer(), RayHead(cpus=args.workers)
    runs: dict[str, list[dict[str, float]]] = {"pool": [], "ray": []}
    try:
        for repeat in range(args.repeats):
            for arm, flags in (("pool", []), ("ray", ["--ray", head.address])):
                url = postgres.create_database(f"{arm}_{repeat}")
                runs[arm].append(one_run(path, url, flags, args.workers, args.trials))
                print(arm, repeat, runs[arm][-1], flush=True)
    finally:
        head.close()
        postgres.close()
    print(f"\n{args.workers} workers (CPU), {args.trials} trials of {args.epochs} epochs on digits, PostgreSQL, "
          f"{args.repeats} runs per arm, alternating; medians\n")
    print("| arm | seconds to the first finished trial | finished trials per minute | wall time (s) |")
    print("| --- | --- | --- | --- |")
    medians = {arm: {key: statistics.median(run[key] for run in done) for key in ("first", "per_minute", "wall")}
               for arm, done in runs.items()}
    for arm in ("pool", "ray"):
        m = medians[arm]
        print(f"| {arm} | {m['first']:.1f} | {m['per_minute']:.1f} | {m['wall']:.1f} |")
    ratio = medians["ray"]["per_minute"] / medians["pool"]["per_minute"]
    print(f"\nRay's throughput is {ratio:.2f}x the pool's (target: at least {1 / 1.10:.2f}x, within 1.10x); "
          f"all runs: {runs}")


if __name__ == "__main__":
    main()
