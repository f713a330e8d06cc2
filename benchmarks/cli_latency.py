"""CLI latency on a big study: `hpsearch --help`, `list` and `summary` against a 2,000-trial
study in PostgreSQL (a server this script starts and removes, as the tests do).

The trials are written directly with Optuna (no training), each with the user attributes a real
trial carries: per-epoch curves, architecture, timings, end reason, test accuracy.

    python -m benchmarks.cli_latency --trials 2000
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from hpsearch.store.storage import open_storage, quiet_optuna
from tests.postgres import PostgresServer

DISTRIBUTIONS = {
    "learning_rate": FloatDistribution(1e-4, 1e-2, log=True),
    "batch_size": CategoricalDistribution([32, 64, 128, 256]),
    "conv_dropout": FloatDistribution(0.0, 0.5, step=0.1),
    "blocks": IntDistribution(2, 4),
    "batch_norm": CategoricalDistribution(["none", "before_activation", "after_activation"]),
}


def _fake_trial(rng: random.Random, epochs: int) -> optuna.trial.FrozenTrial:
    params = {
        "learning_rate": 10 ** rng.uniform(-4, -2),
        "batch_size": rng.choice([32, 64, 128, 256]),
        "conv_dropout": rng.choice([0.0, 0.1, 0.2, 0.3, 0.4, 0.5]),
        "blocks": rng.randint(2, 4),
        "batch_norm": rng.choice(["none", "before_activation", "after_activation"]),
    }
    done = rng.choice([epochs, epochs, 1, 3])
    val = [min(0.95, 0.3 + 0.05 * e + rng.uniform(-0.05, 0.05)) for e in range(done)]
    history = {
        "loss": [2.0 / (e + 1) for e in range(done)],
        "accuracy": [v + 0.05 for v in val],
        "val_loss": [2.1 / (e + 1) for e in range(done)],
        "val_accuracy": val,
    }
    pruned = done < epochs
    return optuna.trial.create_trial(
        state=optuna.trial.TrialState.PRUNED if pruned else optuna.trial.TrialState.COMPLETE,
        value=None if pruned else val[-1],
        params=params,
        distributions=DISTRIBUTIONS,
        intermediate_values={e + 1: v for e, v in enumerate(val)},
        user_attrs={
            "history": history,
            "epoch_seconds": [12.0] * done,
            "end_reason": f"pruned at epoch {done}" if pruned else "complete",
            "test_accuracy": None if pruned else val[-1] - 0.01,
            "training": {"epochs": epochs, "batch_size": params["batch_size"]},
            "architecture": {"num_classes": 10, "input_shape": [32, 32, 3]},
            "params_count": 1_000_000,
        },
    )


def _time(command: list[str], env: dict[str, str], repeats: int) -> tuple[float, float]:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), max(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    quiet_optuna()
    with PostgresServer() as server:
        storage = open_storage(server.url)
        study = optuna.create_study(study_name="big", storage=storage, direction="maximize")
        study.set_user_attr("target_trials", args.trials)
        study.set_user_attr("metric", "val_accuracy")
        rng = random.Random(0)
        started = time.perf_counter()
        study.add_trials([_fake_trial(rng, epochs=10) for _ in range(args.trials)])
        filled = time.perf_counter() - started
        storage.engine.dispose()

        env = {**os.environ, "HPSEARCH_STORAGE": server.url}
        hpsearch = [sys.executable, "-m", "hpsearch"]
        rows = [
            ("hpsearch --help", hpsearch + ["--help"]),
            ("hpsearch list", hpsearch + ["list"]),
            ("hpsearch summary big", hpsearch + ["summary", "big"]),
            ("hpsearch summary big --format json", hpsearch + ["summary", "big", "--format", "json"]),
        ]
        print(f"CLI latency: one study of {args.trials} trials in PostgreSQL (written in {filled:.1f} s), "
              f"{args.repeats} runs each, wall time of the whole command")
        print()
        print("| command | median s | max s | target |")
        print("| --- | --- | --- | --- |")
        for label, command in rows:
            median, worst = _time(command, env, args.repeats)
            print(f"| `{label}` | {median:.2f} | {worst:.2f} | < 1 s |")


if __name__ == "__main__":
    main()
