"""Storage scale: many worker processes on one PostgreSQL study, with an objective that trains
nothing, and the sampler's ask latency on big studies.

Throughput uses Optuna's RandomSampler, so what is measured is the storage. Two ways to reach
it: direct (each worker its own RDB storage with heartbeats, as hpsearch's workers run), and
through Optuna's gRPC storage proxy (one proxy process holds the database connection and a
cache; workers talk gRPC to it; no heartbeats, which the proxy does not offer). Ask latency uses
hpsearch's own TPE configuration. The PostgreSQL server is started by this script in a temporary
directory and removed afterwards.

    python -m benchmarks.storage_scale --workers 1 4 16 32 --seconds 10
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

import optuna
from optuna.trial import TrialState

from hpsearch.space.study_files import load_spec
from hpsearch.store.storage import open_storage, quiet_optuna
from hpsearch.search.study import make_sampler
from tests.postgres import PostgresServer, free_port


def _objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -10, 10)
    y = trial.suggest_int("y", 0, 10)
    return (x - 2) ** 2 + y


def _worker_storage(url: str, proxy_port: int | None) -> optuna.storages.BaseStorage:
    if proxy_port is None:
        return open_storage(url)
    return optuna.storages.GrpcStorageProxy(host="127.0.0.1", port=proxy_port)


def child(url: str, study_name: str, seconds: float, seed: int, proxy_port: int | None) -> None:
    """One worker process: run trials until the time is up, print how many it finished."""
    quiet_optuna()
    storage = _worker_storage(url, proxy_port)
    study = optuna.load_study(study_name=study_name, storage=storage,
                              sampler=optuna.samplers.RandomSampler(seed=seed))
    done = 0

    def count(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        nonlocal done
        done += 1

    study.optimize(_objective, timeout=seconds, callbacks=[count])
    print(done)


def proxy_server(url: str, port: int) -> None:
    """The gRPC proxy process: serves the PostgreSQL storage to the workers until killed."""
    quiet_optuna()
    optuna.storages.run_grpc_proxy_server(open_storage(url), host="127.0.0.1", port=port)


@contextlib.contextmanager
def _proxy(url: str) -> Iterator[int]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "benchmarks.storage_scale", "--proxy-server", url,
                               str(port)])
    try:
        deadline = time.monotonic() + 30
        while True:  # ready when a client can list the studies
            try:
                optuna.get_all_study_names(optuna.storages.GrpcStorageProxy(host="127.0.0.1", port=port))
                break
            except Exception:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def _throughput(url: str, workers: int, seconds: float, proxy_port: int | None) -> dict[str, float]:
    name = f"scale-{workers}-{'proxy' if proxy_port else 'direct'}"
    optuna.create_study(study_name=name, storage=open_storage(url))
    started = time.perf_counter()
    processes = [
        subprocess.Popen([sys.executable, "-m", "benchmarks.storage_scale", "--child", url, name,
                          str(seconds), str(seed), str(proxy_port or "")], stdout=subprocess.PIPE, text=True)
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
        url, name, seconds, seed, port = sys.argv[2:7]
        child(url, name, float(seconds), int(seed), int(port) if port else None)
        return
    if sys.argv[1:2] == ["--proxy-server"]:
        proxy_server(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 16, 32])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--ask-sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--asks", type=int, default=10)
    args = parser.parse_args()

    quiet_optuna()
    with PostgresServer() as server:
        rows = [_throughput(server.url, n, args.seconds, None) for n in args.workers]
        with _proxy(server.url) as port:
            rows += [_throughput(server.url, n, args.seconds, port) for n in args.workers]
        single = {False: rows[0]["per_second"], True: rows[len(args.workers)]["per_second"]}
        print(f"Storage throughput: PostgreSQL, objective that trains nothing, {args.seconds:g} s per run")
        print()
        print("| access | workers | trials/s | speed-up | ideal | lost or extra | duplicate numbers | "
              "left RUNNING | failed workers |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for index, row in enumerate(rows):
            proxied = index >= len(args.workers)
            print(f"| {'gRPC proxy' if proxied else 'direct'} | {row['workers']} | {row['per_second']:.1f} | "
                  f"{row['per_second'] / single[proxied]:.1f}x | {row['workers']}x | {row['lost_or_extra']} | "
                  f"{row['duplicates']} | {row['left_running']} | {row['errors']} |")
        print()
        print("| trials in study | median TPE ask (hpsearch's sampler settings) |")
        print("| --- | --- |")
        for size in args.ask_sizes:
            print(f"| {size} | {1000 * _ask_latency(server.url, size, args.asks):.0f} ms |")


if __name__ == "__main__":
    main()
