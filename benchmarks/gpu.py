"""GPU throughput: images per second of a trial of the study's baseline with mixed precision and
XLA on and off, and the aggregate of 1, 2 and 4 worker processes sharing one GPU, with
nvidia-smi's utilization sampled meanwhile.

Each measurement is a real hpsearch trial (the `Objective`, its tf.data pipeline and callbacks)
in its own process, so precision policies and compiled graphs never leak between rows; the
speed is the trial's own record (training images / median steady-state epoch time). Never run
in CI. Without a GPU it says so and stops, unless `--allow-cpu` (the smoke test) measures the
CPU the same way.

    python -m benchmarks.gpu --study cifar-dropout --data ../shared/data/cifar10-subset.npz
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hpsearch.launch.pool import detect_gpus

SETTINGS = [("float32", False), ("mixed_float16", False), ("float32", True), ("mixed_float16", True),
            ("mixed_bfloat16", True)]


def child(study: str, data: str, epochs: int, precision: str, xla: bool) -> None:
    """One trial of the study's baseline; prints its images per second as JSON."""
    import optuna

    from hpsearch.data.sources import load_splits
    from hpsearch.train.objective import Objective
    from hpsearch.store.records import IMAGES_PER_SECOND_ATTR
    from hpsearch.space.sampling import enqueue_starting_points
    from hpsearch.space.spec import load_spec
    from hpsearch.store.storage import quiet_optuna

    quiet_optuna()
    spec = load_spec(study).with_overrides(dataset=data, epochs=epochs, trials=1, precision=precision,
                                           jit_compile=xla)
    spec = spec.model_copy(update={"baselines": spec.baselines[:1]})
    splits = load_splits(spec.data.dataset, seed=spec.search.seed, **spec.data.split_settings())
    trial_study = optuna.create_study(direction=spec.search.direction, pruner=optuna.pruners.NopPruner())
    enqueue_starting_points(trial_study, spec)
    checkpoints = Path(tempfile.mkdtemp(prefix="hpsearch-checkpoints-"))
    trial_study.optimize(Objective(spec, splits, checkpoints), n_trials=1)
    print(json.dumps({"images_per_second": trial_study.trials[0].user_attrs[IMAGES_PER_SECOND_ATTR]}))


class Utilization:
    """nvidia-smi's GPU utilization and memory, sampled every half second while measuring."""

    def __init__(self) -> None:
        self.busy: list[float] = []
        self.memory_mib: list[float] = []
        self._process: subprocess.Popen[str] | None = None

    @contextmanager
    def sampling(self, enabled: bool) -> Iterator[Utilization]:
        self.busy, self.memory_mib = [], []
        if not enabled:
            yield self
            return
        self._process = subprocess.Popen(
            ["nvidia-smi", "--id=0", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits",
             "-lms", "500"], stdout=subprocess.PIPE, text=True,
        )
        reader = threading.Thread(target=self._read, daemon=True)
        reader.start()
        try:
            yield self
        finally:
            self._process.terminate()
            reader.join(timeout=5)

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            busy, memory = (float(part) for part in line.split(","))
            self.busy.append(busy)
            self.memory_mib.append(memory)

    def text(self) -> str:
        if not self.busy:
            return "-"
        return f"{statistics.mean(self.busy):.0f}% mean, {max(self.memory_mib) / 1024:.1f} GiB peak"


def _run_children(args: argparse.Namespace, precision: str, xla: bool, count: int) -> list[float]:
    """`count` trials at once, each in its own process on GPU 0; their images per second."""
    command = [sys.executable, "-m", "benchmarks.gpu", "--child", args.study, args.data, str(args.epochs),
               precision, "xla" if xla else "no-xla"]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0]}
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) for _ in range(count)]
    outputs = [process.communicate()[0] for process in processes]
    if any(process.returncode for process in processes):
        raise SystemExit(f"a benchmark trial failed ({precision}, xla={xla}); see its output above")
    return [json.loads(out.strip().splitlines()[-1])["images_per_second"] for out in outputs]


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        study, data, epochs, precision, xla = sys.argv[2:7]
        child(study, data, int(epochs), precision, xla == "xla")
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", default="cifar-dropout")
    parser.add_argument("--data", default="../shared/data/cifar10-subset.npz")
    parser.add_argument("--epochs", type=int, default=8, help="epochs per trial (the first is not timed)")
    parser.add_argument("--workers-per-gpu", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--settings", type=int, default=len(SETTINGS),
                        help="how many of the precision/XLA rows to run (the smoke test runs one)")
    parser.add_argument("--allow-cpu", action="store_true", help="without a GPU, measure the CPU instead")
    args = parser.parse_args()

    gpus = detect_gpus()
    if not gpus and not args.allow_cpu:
        print("GPU benchmark skipped: no GPU on this machine (nvidia-smi lists none). Run it where the "
              "device tool lends one; --allow-cpu measures the CPU instead.")
        return
    device = "GPU 0" if gpus else "CPU (no GPU)"
    monitor = Utilization()

    print(f"GPU throughput: {args.study} baseline, {args.epochs} epochs per trial, on {device}")
    print()
    print("| precision | XLA | images/s | utilization |")
    print("| --- | --- | --- | --- |")
    for precision, xla in SETTINGS[: args.settings]:
        with monitor.sampling(bool(gpus)):
            (speed,) = _run_children(args, precision, xla, 1)
        print(f"| {precision} | {'on' if xla else 'off'} | {speed:.0f} | {monitor.text()} |", flush=True)

    precision, xla = SETTINGS[: args.settings][-1]
    print()
    print(f"| workers on {device} ({precision}, XLA {'on' if xla else 'off'}) | aggregate images/s | "
          "per worker | utilization |")
    print("| --- | --- | --- | --- |")
    for count in args.workers_per_gpu:
        with monitor.sampling(bool(gpus)):
            speeds = _run_children(args, precision, xla, count)
        print(f"| {count} | {sum(speeds):.0f} | {statistics.mean(speeds):.0f} | {monitor.text()} |", flush=True)


if __name__ == "__main__":
    main()
