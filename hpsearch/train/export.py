"""Turn a stored trial into a model you can use: rebuild it from its recorded architecture,
retrain it on all the training images (training + validation split) for as many epochs as the
trial needed to reach its best validation metric, measure it on the test set, and save the
model, its settings and its learning curves.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpsearch.train.keras_import import keras
import numpy as np
import optuna

from hpsearch.space.architecture import Architecture, Training
from hpsearch.data.sources import Splits
from hpsearch.train.model import compile_model, steps_per_epoch
from hpsearch.train.pipeline import ImageBatches
from hpsearch.records import TrialRecord, why_no_network

MODEL_FILE = "model.keras"
SETTINGS_FILE = "trial.json"
CURVES_FILE = "curves.json"


@dataclass(frozen=True)
class Exported:
    directory: Path
    test_accuracy: float
    test_loss: float
    epochs: int
    seconds: float


def export_trial(
    study: optuna.Study, trial: optuna.trial.FrozenTrial, splits: Splits, out: Path, seed: int
) -> Exported:
    """Retrain `trial`'s network on train + validation images and save it under `out`
    (a trial that recorded its network: see `records.why_no_network`)."""
    record = TrialRecord(trial)
    assert record.architecture is not None, why_no_network(trial)  # the callers ask first
    architecture = Architecture.from_dict(record.architecture)
    training = Training(**record.training)
    # Trials recorded before hpsearch kept the best epoch trained all their epochs.
    epochs = record.best_epoch or training.epochs
    x = np.concatenate([splits.x_train, splits.x_val])
    y = np.concatenate([splits.y_train, splits.y_val])

    keras.utils.clear_session(free_memory=True)
    keras.utils.set_random_seed(seed)
    model = compile_model(architecture, training, steps_per_epoch(len(x), training.batch_size))
    started = time.perf_counter()
    batches = ImageBatches(x, y).shuffled(training.batch_size, seed)
    history = model.fit(batches, epochs=epochs, shuffle=False, verbose=0)  # batches are shuffled
    seconds = time.perf_counter() - started
    test_loss, test_accuracy = model.evaluate(ImageBatches(splits.x_test, splits.y_test).ordered(), verbose=0)

    out.mkdir(parents=True, exist_ok=True)
    model.save(out / MODEL_FILE)
    settings: dict[str, Any] = {
        "study": study.study_name,
        "trial": trial.number,
        "search_value": trial.value,
        "params": trial.params,
        "architecture": architecture.to_dict(),
        "training": training.to_dict(),
        "retrained_on_images": int(len(x)),
        "epochs": epochs,
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "seed": seed,
    }
    (out / SETTINGS_FILE).write_text(json.dumps(settings, indent=2) + "\n")
    curves = {key: [float(v) for v in values] for key, values in history.history.items()}
    (out / CURVES_FILE).write_text(json.dumps(curves, indent=2) + "\n")
    return Exported(out, float(test_accuracy), float(test_loss), epochs, seconds)
