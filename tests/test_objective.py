"""The trial's value and test accuracy come from its best epoch, with that epoch's weights."""

from __future__ import annotations

import keras
import numpy as np

from hpsearch.train.objective import BestEpoch


def _model() -> keras.Model:
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])


def _set_all(model: keras.Model, value: float) -> None:
    model.set_weights([np.full_like(w, value) for w in model.get_weights()])


def test_best_epoch_keeps_the_best_weights_and_ignores_nan() -> None:
    model = _model()
    best = BestEpoch("val_accuracy", maximize=True)
    best.set_model(model)
    for epoch, (weight, accuracy) in enumerate([(1.0, 0.5), (2.0, 0.7), (3.0, float("nan")), (4.0, 0.6)]):
        _set_all(model, weight)
        best.on_epoch_end(epoch, {"val_accuracy": accuracy})
    assert (best.value, best.epoch) == (0.7, 2)
    best.restore()
    assert all(np.all(w == 2.0) for w in model.get_weights())


def test_best_epoch_minimizes_a_loss() -> None:
    model = _model()
    best = BestEpoch("val_loss", maximize=False)
    best.set_model(model)
    for epoch, loss in enumerate([0.9, 0.4, 0.8]):
        best.on_epoch_end(epoch, {"val_loss": loss})
    assert (best.value, best.epoch) == (0.4, 2)


def test_without_a_comparable_epoch_nothing_is_restored() -> None:
    model = _model()
    _set_all(model, 5.0)
    best = BestEpoch("val_accuracy", maximize=True)
    best.set_model(model)
    best.on_epoch_end(0, {"val_accuracy": float("nan")})
    best.restore()
    assert (best.value, best.epoch) == (None, 0)
    assert all(np.all(w == 5.0) for w in model.get_weights())
