"""Keras backends side by side on this machine's CPU: epoch time of a study's baseline on
TensorFlow, JAX and PyTorch, measured in one run, the backends interleaved round by round (each
measurement a fresh process, `benchmarks.gpu`'s epoch-time child) so that a change in the
machine's load falls on all of them alike; the ratio to TensorFlow is what to read.

    python -m benchmarks.backends --study cifar-dropout --data ../shared/data/cifar10-subset.npz
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from hpsearch.space.execution import BACKENDS


def epoch_seconds(backend: str, args: argparse.Namespace) -> dict[str, float]:
    """One fresh process on `backend`: the baseline's first epoch and its median later epoch."""
    child = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu", "--child", args.study, args.data, str(args.subset or 0),
         str(args.epochs), "float32", str(args.batch_size)],
        capture_output=True, text=True, env={**os.environ, "KERAS_BACKEND": backend, "CUDA_VISIBLE_DEVICES": ""},
    )
    if child.returncode:
        raise SystemExit(f"{backend}: {child.stderr.strip().splitlines()[-1]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", default="cifar-dropout")
    parser.add_argument("--data", default="../shared/data/cifar10-subset.npz")
    parser.add_argument("--subset", type=int, default=None, help="train on only N images")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per measurement (the first compiles)")
    parser.add_argument("--rounds", type=int, default=2, help="measurements per backend, interleaved")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    args = parser.parse_args()

    runs: dict[str, list[dict[str, float]]] = {backend: [] for backend in args.backends}
    for _ in range(args.rounds):
        for backend in args.backends:
            runs[backend].append(epoch_seconds(backend, args))
    epoch = {backend: statistics.median(run["epoch"] for run in found) for backend, found in runs.items()}
    reference = epoch[args.backends[0]]
    print(f"Epoch time of the {args.study} baseline at batch {args.batch_size}, float32, on {os.cpu_count()} "
          f"CPU cores; median of {args.rounds} interleaved rounds, each epochs 2-{args.epochs} of a fresh process")
    print()
    print(f"| backend | first epoch (s) | epoch (s) | images/s | time / {args.backends[0]}'s |")
    print("| --- | --- | --- | --- | --- |")
    for backend, found in runs.items():
        first = statistics.median(run["first_epoch"] for run in found)
        speed = statistics.median(run["images_per_second"] for run in found)
        print(f"| {backend} | {first:.1f} | {epoch[backend]:.2f} | {speed:.0f} | {epoch[backend] / reference:.2f} |")


if __name__ == "__main__":
    main()
