"""Overhead of a trial run by hpsearch against the same model trained by a bare `model.fit`.

Both train the study's baseline network on the same prepared data with the same batch size.
The hpsearch side is a real trial: sampled through Optuna into an SQLite storage with
heartbeats, fed by its tf.data pipeline, with its monitoring and pruning callbacks and
per-epoch reports. A third runner, a bare fit on that same pipeline, separates the pipeline's
effect from hpsearch's bookkeeping. A fourth is the same trial with the recipe's augmentation
(flips, pad-and-crop 4, cutout 8: layers of the model, drawn per image on the device): what
augmentation costs. Steady-state epochs only (the first epoch of every run,
which traces the graph, is left out). The order alternates between repeats, and each runner's
ratio to the bare fit is taken within one repeat, because this kind of machine drifts by tens
of percent over minutes; the table gives the median of those paired ratios.

    python -m benchmarks.overhead --study cifar-dropout --data ../shared/data/cifar10-subset.npz
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.storages import RDBStorage

from hpsearch.space.architecture import setup_from_values
from hpsearch.train.keras_import import keras
from hpsearch.data.sources import Splits, load_splits
from hpsearch.train.model import compile_model, steps_per_epoch
from hpsearch.train.objective import Objective
from hpsearch.train.pipeline import InputPipeline
from hpsearch.records import EPOCH_SECONDS_ATTR, OVERRIDES_ATTR
from hpsearch.space.sampling import baseline_trial, sample
from hpsearch.space.spec import StudySpec
from hpsearch.space.study_files import load_spec
from hpsearch.store.storage import open_storage, quiet_optuna


class EpochTimer(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)


def _bare_fit(spec: StudySpec, splits: Splits, storage: RDBStorage, name: str, params: dict[str, Any],
              overrides: dict[str, Any], pipeline: bool = False) -> list[float]:
    """Bare Keras: the same architecture, built from the same values, one plain fit on NumPy
    arrays (or on hpsearch's tf.data pipeline)."""
    study = optuna.create_study(storage=storage, study_name=name)
    study.enqueue_trial(params, user_attrs={OVERRIDES_ATTR: overrides})
    setup = setup_from_values(
        sample(study.ask(), spec.space), splits.input_shape, splits.num_classes, **spec.training.trial_settings()
    )
    keras.utils.clear_session(free_memory=True)
    keras.utils.set_random_seed(0)
    model = compile_model(setup.architecture, setup.training,
                          steps_per_epoch(len(splits.x_train), setup.training.batch_size))
    timer = EpochTimer()
    if pipeline:
        batches = InputPipeline(splits)
        model.fit(batches.training(setup.training.batch_size, seed=0), epochs=spec.training.epochs,
                  validation_data=batches.validation, callbacks=[timer], shuffle=False, verbose=0)
    else:
        model.fit(splits.x_train, splits.y_train, batch_size=setup.training.batch_size,
                  epochs=spec.training.epochs, validation_data=(splits.x_val, splits.y_val),
                  callbacks=[timer], shuffle=True, verbose=0)
    return timer.seconds


AUGMENTED = {"augment_flip": True, "augment_crop": 4, "augment_cutout": 8}


def _hpsearch_trial(spec: StudySpec, splits: Splits, storage: RDBStorage, name: str, params: dict[str, Any],
                    overrides: dict[str, Any], augment: bool = False) -> list[float]:
    """hpsearch: a real trial of the study, through Optuna, the storage and its tf.data pipeline."""
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize",
                                pruner=optuna.pruners.NopPruner())
    study.enqueue_trial(params, user_attrs={OVERRIDES_ATTR: {**overrides, **(AUGMENTED if augment else {})}})
    study.optimize(Objective(spec, splits, Path(tempfile.mkdtemp(prefix="hpsearch-checkpoints-"))), n_trials=1)
    return study.trials[0].user_attrs[EPOCH_SECONDS_ATTR]


BARE, HPSEARCH = "bare model.fit (NumPy arrays)", "hpsearch trial"
RUNNERS: list[tuple[str, Callable[..., list[float]]]] = [
    (BARE, _bare_fit),
    ("bare model.fit (hpsearch's tf.data pipeline)", functools.partial(_bare_fit, pipeline=True)),
    (HPSEARCH, _hpsearch_trial),
    ("hpsearch trial, augmented (flip, pad-and-crop 4, cutout 8)", functools.partial(_hpsearch_trial, augment=True)),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", default="cifar-dropout")
    parser.add_argument("--data", default="../shared/data/cifar10-subset.npz")
    parser.add_argument("--subset", type=int, default=None, help="training images (default: all)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    quiet_optuna()
    spec = load_spec(args.study).with_overrides(
        dataset=args.data, subset=args.subset, epochs=args.epochs, trials=1
    )
    baseline = spec.baselines[0]
    splits = load_splits(spec.data.dataset, seed=spec.search.seed, **spec.data.split_settings())

    epochs: dict[str, list[float]] = {label: [] for label, _ in RUNNERS}
    ratios: dict[str, list[float]] = {label: [] for label, _ in RUNNERS}
    with tempfile.TemporaryDirectory() as directory:
        storage = open_storage(f"sqlite:///{Path(directory) / 'overhead.db'}")
        params, overrides = baseline_trial(spec, baseline)
        for repeat in range(args.repeats):
            order = RUNNERS if repeat % 2 == 0 else RUNNERS[::-1]  # alternate who goes first
            timed = {label: runner(spec, splits, storage, f"{label}-{repeat}", params, overrides)[1:]
                     for label, runner in order}
            for label, seconds in timed.items():
                epochs[label] += seconds
                # paired within one repeat: the machine's speed drifts by tens of percent over minutes
                ratios[label].append(statistics.median(seconds) / statistics.median(timed[BARE]))

    print(f"Overhead: {spec.name} baseline, {len(splits.x_train)} training images, "
          f"{args.epochs} epochs x {args.repeats} repeats, steady-state epochs")
    print()
    print("| runner | median s/epoch | epochs timed | ratio to bare model.fit, median of repeats (min-max) |")
    print("| --- | --- | --- | --- |")
    for label, _ in RUNNERS:
        print(f"| {label} | {statistics.median(epochs[label]):.3f} | {len(epochs[label])} | "
              f"{statistics.median(ratios[label]):.3f} ({min(ratios[label]):.3f}-{max(ratios[label]):.3f}) |")
    print()
    print(f"ratio hpsearch / bare: {statistics.median(ratios[HPSEARCH]):.3f} (target <= 1.05)")


if __name__ == "__main__":
    main()
