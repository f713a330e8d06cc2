"""Memory of a long-running worker: its resident set size (RSS) after every trial of one study.

A worker process trains trial after trial, so whatever a trial leaves behind adds up over a
study. Each arm runs a fresh worker process: hpsearch's own worker loop (`run_worker`) on a
temporary SQLite storage, on the CPU, which reads its own VmRSS from /proc/self/status in an
Optuna callback after every finished trial. RSS after the last trial / RSS after trial 8 says
how much the worker still grows once TensorFlow, the data and the first graphs are loaded
(target: at most 1.10 over 40 trials).

Arms (one worker process each, run one after the other):
  as-is       hpsearch as it is.
  without-fix hpsearch with `model.forget_traced_gradients` turned off, so TensorFlow's gradient
              registry keeps every earlier trial's traced train step alive (issue 12).
(glibc's `malloc_trim(0)` after every trial and MALLOC_ARENA_MAX=2 were measured too and changed
the ratio by under 0.005.) `--backends tensorflow jax torch` runs each arm on each Keras backend
(KERAS_BACKEND in the worker's environment); the fix is TensorFlow's, so `without-fix` runs there only.

    python -m benchmarks.memory --study digits-quick --data digits --trials 40 --epochs 2
    python -m benchmarks.memory --trials 40 --epochs 2 --arms as-is --backends tensorflow jax torch
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hpsearch.space.execution import BACKENDS

BASE_TRIAL = 8  # by then TensorFlow, the data and the first graphs of every kind are loaded
TARGET = 1.10
ARMS = ("as-is", "without-fix")


def rss_mb(pid: int | str = "self") -> float:
    """Resident set size of a process in MB (10^6 bytes), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no VmRSS for process {pid}")


def _turn_off_fix() -> None:
    """The worker as it was before issue 12's fix: TensorFlow's gradient registry keeps growing."""
    import hpsearch.train.model
    import hpsearch.train.objective

    for module in (hpsearch.train.model, hpsearch.train.objective):
        if hasattr(module, "forget_traced_gradients"):
            module.forget_traced_gradients = lambda: 0  # type: ignore[attr-defined]


def child(args: argparse.Namespace) -> None:
    """One worker process: run the study's trials, print one JSON line per finished trial."""
    from hpsearch.data.sources import load_splits
    from hpsearch.space.study_files import load_spec
    from hpsearch.store.storage import open_storage, quiet_optuna

    quiet_optuna()
    spec = load_spec(args.study).with_overrides(dataset=args.data, trials=args.trials, epochs=args.epochs)
    splits = load_splits(spec.data.dataset, seed=spec.search.seed, **spec.data.split_settings())
    from hpsearch.launch.worker import run_worker  # loads TensorFlow
    from hpsearch.search.study import open_study

    if args.child == "without-fix":
        _turn_off_fix()
    checkpoints = Path(args.storage.removeprefix("sqlite:///")).parent / "checkpoints"
    done, started = 0, time.perf_counter()

    def record(study: Any, trial: Any) -> None:
        nonlocal done
        done += 1
        print(json.dumps({"trial": done, "rss_mb": rss_mb(), "state": trial.state.name,
                          "seconds": time.perf_counter() - started}), flush=True)

    storage = open_storage(args.storage)
    run_worker(spec, storage, open_study(spec, storage), splits, checkpoints, on_trial=record)


def measure(args: argparse.Namespace, arm: str, backend: str) -> list[dict[str, Any]]:
    """Run one worker process for an arm on a Keras backend; its per-trial records."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "KERAS_BACKEND": backend}
    with tempfile.TemporaryDirectory() as directory:
        command = [sys.executable, "-m", "benchmarks.memory", "--child", arm,
                   "--study", args.study, "--data", args.data, "--trials", str(args.trials),
                   "--epochs", str(args.epochs), "--storage", f"sqlite:///{Path(directory) / 'memory.db'}"]
        result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{arm} on {backend}: worker failed\n{result.stderr[-3000:]}")
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    if len(records) < args.trials:
        raise SystemExit(f"{arm} on {backend}: the worker finished {len(records)} of {args.trials} trials")
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", default="digits-quick")
    parser.add_argument("--data", default="digits")
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--arms", nargs="+", default=["as-is", "without-fix"], choices=ARMS)
    parser.add_argument("--backends", nargs="+", default=["tensorflow"], choices=BACKENDS)
    parser.add_argument("--every", type=int, default=4,
                        help="show every Nth trial (and trial 1, 8 and the last)")
    parser.add_argument("--child", choices=ARMS, help=argparse.SUPPRESS)
    parser.add_argument("--storage", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.trials < BASE_TRIAL:
        parser.error(f"--trials must be at least {BASE_TRIAL}")

    runs = [(arm, backend) for backend in args.backends for arm in args.arms
            if arm == "as-is" or backend == "tensorflow"]
    results = {(arm if len(args.backends) == 1 else f"{arm} on {backend}"): measure(args, arm, backend)
               for arm, backend in runs}
    shown = sorted({1, BASE_TRIAL, args.trials, *range(args.every, args.trials + 1, args.every)})
    base = {arm: records[BASE_TRIAL - 1]["rss_mb"] for arm, records in results.items()}
    ratios = {arm: records[-1]["rss_mb"] / base[arm] for arm, records in results.items()}
    growth = {arm: (records[-1]["rss_mb"] - base[arm]) / max(args.trials - BASE_TRIAL, 1)
              for arm, records in results.items()}

    print(f"Worker RSS (MB) after each trial: {args.study} on {args.data}, {args.trials} trials x "
          f"{args.epochs} epochs, CPU, one worker process per arm"
          + ("" if len(args.backends) > 1 else f", Keras on {args.backends[0]}"))
    print()
    print("| trial | " + " | ".join(results) + " |")
    print("| --- |" + " --- |" * len(results))
    for number in shown:
        cells = [f"{records[number - 1]['rss_mb']:.0f}" for records in results.values()]
        print(f"| {number} | " + " | ".join(cells) + " |")
    rows = {
        f"RSS@{args.trials} / RSS@{BASE_TRIAL}": [f"{ratios[arm]:.3f}" for arm in results],
        f"MB per trial after trial {BASE_TRIAL}": [f"{growth[arm]:.1f}" for arm in results],
        "worker seconds": [f"{records[-1]['seconds']:.0f}" for records in results.values()],
    }
    for label, cells in rows.items():
        print(f"| {label} | " + " | ".join(cells) + " |")
    print()
    for arm, ratio in ratios.items():
        print(f"{arm}: RSS@{args.trials} / RSS@{BASE_TRIAL} = {ratio:.3f} (target <= {TARGET:.2f}): "
              + ("met" if ratio <= TARGET else "NOT met"))


if __name__ == "__main__":
    main()
