"""Overhead of a trial run by hpsearch against the same model trained by a bare `model.fit`.

Both train the study's baseline network on the same prepared data with the same batch size;
runs alternate (bare, hpsearch, bare, ...) so machine noise hits both alike. The hpsearch side
is a real trial: sampled through Optuna into an SQLite storage with heartbeats, with its
monitoring and pruning callbacks and per-epoch reports. Steady-state epochs only (the first
epoch of every run, which traces the graph, is left out).

    python -m benchmarks.overhead --study cifar-dropout --data ../shared/data/cifar10-subset.npz
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import keras
import optuna

from hpsearch.architecture import setup_from_values
from hpsearch.data import load_splits
from hpsearch.model import compile_model
from hpsearch.objective import Objective
from hpsearch.records import EPOCH_SECONDS_ATTR
from hpsearch.space import baseline_trial, sample
from hpsearch.spec import load_spec
from hpsearch.storage import open_storage, quiet_optuna


class EpochTimer(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)


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

    bare_epochs: list[float] = []
    hpsearch_epochs: list[float] = []
    with tempfile.TemporaryDirectory() as directory:
        storage = open_storage(f"sqlite:///{Path(directory) / 'overhead.db'}")
        for repeat in range(args.repeats):
            # Bare Keras: the same architecture, built from the same values, one plain fit.
            study = optuna.create_study(storage=storage, study_name=f"values-{repeat}")
            params, overrides = baseline_trial(spec, baseline)
            study.enqueue_trial(params, user_attrs={"baseline_overrides": overrides})
            trial = study.ask()
            setup = setup_from_values(
                sample(trial, spec.space), splits.input_shape, splits.num_classes, **spec.training.model_dump()
            )
            keras.utils.clear_session(free_memory=True)
            keras.utils.set_random_seed(0)
            model = compile_model(setup.architecture, setup.training)
            timer = EpochTimer()
            model.fit(splits.x_train, splits.y_train, batch_size=setup.training.batch_size,
                      epochs=args.epochs, validation_data=(splits.x_val, splits.y_val),
                      callbacks=[timer], shuffle=True, verbose=0)
            bare_epochs += timer.seconds[1:]

            # hpsearch: a real trial of the study, through Optuna and the storage.
            hp_study = optuna.create_study(
                storage=storage, study_name=f"hpsearch-{repeat}", direction="maximize",
                pruner=optuna.pruners.NopPruner(),
            )
            hp_study.enqueue_trial(params, user_attrs={"baseline_overrides": overrides})
            hp_study.optimize(Objective(spec, splits), n_trials=1)
            hpsearch_epochs += hp_study.trials[0].user_attrs[EPOCH_SECONDS_ATTR][1:]

    bare, ours = statistics.median(bare_epochs), statistics.median(hpsearch_epochs)
    print(f"Overhead: {spec.name} baseline, {len(splits.x_train)} training images, "
          f"{args.epochs} epochs x {args.repeats} repeats, median of steady-state epochs")
    print()
    print("| runner | median s/epoch | epochs timed |")
    print("| --- | --- | --- |")
    print(f"| bare model.fit | {bare:.3f} | {len(bare_epochs)} |")
    print(f"| hpsearch trial | {ours:.3f} | {len(hpsearch_epochs)} |")
    print()
    print(f"ratio hpsearch / bare: {ours / bare:.3f} (target <= 1.05)")


if __name__ == "__main__":
    main()
