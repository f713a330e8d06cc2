"""GPU throughput on one Keras backend: epoch time of the study's baseline at several batch sizes
and precisions; trials and epochs per hour with 1, 2, 4 and 8 `hpsearch` worker processes
sharing one GPU; and one short `hpsearch run` end to end with its summary. nvidia-smi's
utilization and memory are sampled during each row. Tables go to stdout and, as markdown, to
`--out`.

Each epoch-time row is a real trial's network (the baseline, `compile_model`) fed by hpsearch's
own input pipeline for that backend, in a process of its own per precision, so precision
policies never leak between rows; the workers rows are real `hpsearch run` commands. Never run
in CI (its smoke test runs it on the CPU with `--allow-cpu`). Without a GPU it says so and
stops, unless `--allow-cpu`.

    python -m benchmarks.gpu --backend jax --data ../shared/data/cifar10-subset.npz --out results/
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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hpsearch.launch.engines.local import detect_gpus
from hpsearch.space.execution import BACKENDS, PRECISIONS


def epoch_times(
    study: str, data: str, subset: int | None, epochs: int, precision: str, batch_sizes: list[int]
) -> None:
    """In this process (one precision): the baseline trained `epochs` epochs at each batch size;
    prints one JSON line per batch size with the median epoch time after the first (compiling)."""
    import optuna

    from hpsearch.data.sources import load_splits
    from hpsearch.space.architecture import setup_from_values
    from hpsearch.space.sampling import enqueue_starting_points, sample
    from hpsearch.space.study_files import load_spec
    from hpsearch.store.storage import quiet_optuna
    from hpsearch.train.keras_import import keras
    from hpsearch.train.model import compile_model, steps_per_epoch
    from hpsearch.train.pipeline import InputPipeline

    spec = load_spec(study).with_overrides(dataset=data, subset=subset, epochs=epochs, precision=precision)
    splits = load_splits(spec.data.dataset, seed=0, **spec.data.split_settings())
    pipeline = InputPipeline(splits)
    quiet_optuna()
    drawn = optuna.create_study()
    enqueue_starting_points(drawn, spec)  # the baseline's values, each position resolved as a trial's
    baseline = sample(drawn.ask(), spec.space)
    for batch_size in batch_sizes:
        values = {**baseline, "batch_size": batch_size}
        setup = setup_from_values(
            values, splits.input_shape, splits.num_classes, **spec.training.trial_settings()
        )
        keras.utils.set_random_seed(0)
        model = compile_model(
            setup.architecture, setup.training, steps_per_epoch(len(splits.x_train), batch_size)
        )
        seconds: list[float] = []
        started = [0.0]
        timer = keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda epoch, logs: started.__setitem__(0, time.perf_counter()),
            on_epoch_end=lambda epoch, logs: seconds.append(time.perf_counter() - started[0]),
        )
        model.fit(pipeline.training(batch_size, seed=0), epochs=epochs, verbose=0, callbacks=[timer])
        steady = statistics.median(seconds[1:] or seconds)
        print(
            json.dumps(
                {
                    "batch_size": batch_size,
                    "first_epoch": seconds[0],
                    "epoch": steady,
                    "images_per_second": len(splits.x_train) / steady,
                }
            ),
            flush=True,
        )
        keras.backend.clear_session()


class Utilization:
    """nvidia-smi's GPU utilization and memory, sampled every half second while measuring."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.busy: list[float] = []
        self.memory_mib: list[float] = []

    @contextmanager
    def sampling(self) -> Iterator[Utilization]:
        self.busy, self.memory_mib = [], []
        if not self.enabled:
            yield self
            return
        process = subprocess.Popen(
            [
                "nvidia-smi",
                "--id=0",
                "--query-gpu=utilization.gpu,memory.used",
                "--format=csv,noheader,nounits",
                "-lms",
                "500",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        reader = threading.Thread(target=self._read, args=(process,), daemon=True)
        reader.start()
        try:
            yield self
        finally:
            process.terminate()
            reader.join(timeout=5)

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            busy, memory = (float(part) for part in line.split(","))
            self.busy.append(busy)
            self.memory_mib.append(memory)

    def text(self) -> str:
        if not self.busy:
            return "-"
        return f"{statistics.mean(self.busy):.0f}% mean, {max(self.memory_mib) / 1024:.1f} GiB peak"


class Tables:
    """Markdown tables, printed as they grow and written to `--out` (when given) after every row,
    so a run stopped at its time limit keeps what it measured."""

    def __init__(self, out: Path | None) -> None:
        self.out = out
        self.lines: list[str] = []
        if out:
            out.mkdir(parents=True, exist_ok=True)

    def add(self, *lines: str) -> None:
        for line in lines:
            print(line, flush=True)
        self.lines += lines
        if self.out:
            (self.out / "gpu-tables.md").write_text("\n".join(self.lines) + "\n", encoding="utf-8")


def hpsearch(*args: str, log: Path) -> subprocess.CompletedProcess[str]:
    """`hpsearch ARGS` as a user runs it; the command and its output appended to `log`."""
    result = subprocess.run(
        [sys.executable, "-m", "hpsearch", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "160"},
    )
    with log.open("a", encoding="utf-8") as out:
        out.write(
            f"$ hpsearch {' '.join(args)}\n{result.stdout}{result.stderr}(exit {result.returncode})\n\n"
        )
    return result


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        study, data, subset, epochs, precision, *sizes = sys.argv[2:]
        epoch_times(study, data, int(subset) or None, int(epochs), precision, [int(size) for size in sizes])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=BACKENDS, default=os.environ.get("KERAS_BACKEND", "jax"))
    parser.add_argument("--study", default="cifar-dropout")
    parser.add_argument("--data", default="../shared/data/cifar10-subset.npz")
    parser.add_argument("--subset", type=int, default=None, help="train on only N images (the dry run)")
    parser.add_argument(
        "--epochs", type=int, default=3, help="epochs per epoch-time row (the first is not timed)"
    )
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=["float32", "mixed_bfloat16"])
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2, 4, 8], help="worker counts on GPU 0")
    parser.add_argument("--window", default="40s", help="--budget of each workers row's study")
    parser.add_argument("--trial-epochs", type=int, default=2, help="epochs per trial in the workers rows")
    parser.add_argument("--end-to-end", default="3m", help="--budget of the end-to-end run; `none` skips it")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="directory for gpu-tables.md, runs.log (every hpsearch command's output) and summary.txt",
    )
    parser.add_argument("--allow-cpu", action="store_true", help="without a GPU, measure the CPU instead")
    args = parser.parse_args()

    gpus = detect_gpus()
    if not gpus and not args.allow_cpu:
        print(
            "GPU benchmark skipped: no GPU on this machine (nvidia-smi lists none). Run it where the "
            "device tool lends one (benchmarks/gpu/device.sh); --allow-cpu measures the CPU instead."
        )
        return
    os.environ["KERAS_BACKEND"] = args.backend
    device = "GPU 0" if gpus else "CPU (no GPU)"
    monitor, tables = Utilization(bool(gpus)), Tables(args.out)
    studies = Path(tempfile.mkdtemp(prefix="hpsearch-gpu-"))  # databases and checkpoints
    log = (args.out or studies) / "runs.log"

    tables.add(
        f"Epoch time of the {args.study} baseline on {args.backend}, {device} "
        f"(median of epochs 2-{args.epochs}; the first compiles)",
        "",
        "| precision | batch | first epoch (s) | epoch (s) | images/s | utilization |",
        "| --- | --- | --- | --- | --- | --- |",
    )
    for precision in args.precisions:
        with monitor.sampling():
            child = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.gpu",
                    "--child",
                    args.study,
                    args.data,
                    str(args.subset or 0),
                    str(args.epochs),
                    precision,
                    *map(str, args.batch_sizes),
                ],
                capture_output=True,
                text=True,
            )
        if child.returncode:
            tables.add(f"| {precision} | - | failed: {child.stderr.strip().splitlines()[-1][:200]} | | | |")
            continue
        for line in child.stdout.strip().splitlines():
            row = json.loads(line)
            tables.add(
                f"| {precision} | {row['batch_size']} | {row['first_epoch']:.2f} | {row['epoch']:.2f} | "
                f"{row['images_per_second']:.0f} | {monitor.text()} |"
            )

    if args.workers:
        tables.add(
            "",
            f"Workers on {device}: `hpsearch run {args.study} --epochs {args.trial_epochs} "
            f"--budget {args.window}`, {args.backend}",
            "",
            "| workers | wall (s) | trials finished | trials / hour | epochs / hour | utilization |",
            "| --- | --- | --- | --- | --- | --- |",
        )
    for count in args.workers:
        url = f"sqlite:///{studies}/workers-{count}.db"
        placement = ["--workers-per-gpu", str(count)] if gpus else ["--workers", str(count)]
        _, wall = timed_run(args, url, ["--epochs", str(args.trial_epochs), "--budget", args.window, *placement],
                            monitor, log)
        summary = hpsearch("summary", args.study, "--storage", url, "--format", "json", log=log)
        try:
            found = json.loads(summary.stdout)
        except json.JSONDecodeError:
            tables.add(f"| {count} | {wall:.0f} | failed: see runs.log | | | |")
            continue
        finished = found["counts"]["complete"] + found["counts"]["pruned"]
        epochs = found["compute"]["epochs"]
        tables.add(f"| {count} | {wall:.0f} | {finished} | {finished * 3600 / wall:.0f} | "
                   f"{epochs * 3600 / wall:.0f} | {monitor.text()} |")

    if args.end_to_end != "none":
        url = f"sqlite:///{studies}/end-to-end.db"
        placement = ["--workers-per-gpu", "4"] if gpus else ["--workers", "2"]
        ran, wall = timed_run(args, url, ["--budget", args.end_to_end, *placement], monitor, log)
        summary = hpsearch("summary", args.study, "--storage", url, log=log)
        (args.out or studies).joinpath("summary.txt").write_text(summary.stdout, encoding="utf-8")
        tables.add("", f"End to end: `hpsearch run {args.study} --budget {args.end_to_end} {' '.join(placement)} "
                   f"--backend {args.backend}`: exit {ran.returncode} after {wall:.0f} s, {monitor.text()}; "
                   f"`summary` exit {summary.returncode} (summary.txt; both commands' output in runs.log)")


def timed_run(args: argparse.Namespace, url: str, flags: list[str], monitor: Utilization,
              log: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    """`hpsearch run` of the benchmark's study and data on its backend with `flags`, sampled by
    `monitor`; its result and wall seconds."""
    subset = ["--subset", str(args.subset)] if args.subset else []
    started = time.perf_counter()
    with monitor.sampling():
        ran = hpsearch("run", args.study, "--data", args.data, *subset, "--storage", url, *flags,
                       "--backend", args.backend, log=log)
    return ran, time.perf_counter() - started

if __name__ == "__main__":
    main()
