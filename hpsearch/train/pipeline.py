"""Input pipelines over a worker's images: made once per worker, then batched for each trial
without copying the data again, on whichever Keras backend trains.

`model.fit` on NumPy arrays converts them on every call, so a worker would copy its whole dataset
once per trial. Here each training epoch is a fresh permutation of indices, batched, then one
vectorised gather per batch (no per-image work, so nothing worth caching). The validation and test
batches are the same for every trial.

- TensorFlow: a tf.data pipeline over tensors made once per worker in host memory, prefetched so
  the next batch is ready while the model trains; evaluation batches are cached in memory when
  they fit within `CACHE_LIMIT_BYTES`.
- JAX and PyTorch: a `keras.utils.PyDataset` over the NumPy arrays, batches by index (as airbench
  serves them), so TensorFlow is never imported where it is not installed.
"""

from __future__ import annotations

import math
from typing import Any

from hpsearch.train.keras_import import keras
import numpy as np

from hpsearch.data.sources import Splits
from hpsearch.train.backend import on_tensorflow

EVALUATION_BATCH = 256  # inference only: the batch size does not change the result, only the speed
CACHE_LIMIT_BYTES = 2 * 1024**3


class ArrayBatches(keras.utils.PyDataset):
    """Batches of `x, y` by index: a new seeded permutation every epoch (`seed`), or in order."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, seed: int | None = None) -> None:
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size
        self.rng = None if seed is None else np.random.default_rng(seed)
        self.order = np.arange(len(x))
        self.on_epoch_end()

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        chosen = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        return self.x[chosen], self.y[chosen]

    def on_epoch_end(self) -> None:
        if self.rng is not None:
            self.order = self.rng.permutation(len(self.x))


def _tensors(array: np.ndarray) -> Any:
    import tensorflow as tf

    with tf.device("/CPU:0"):  # input data lives in host memory; batches are copied to the GPU
        return tf.constant(array)


def _shuffled_tf(x: Any, y: Any, batch_size: int, seed: int) -> Any:
    """Training batches: a new shuffle of all images every epoch, the last batch possibly smaller."""
    import tensorflow as tf

    count = int(x.shape[0])
    indices = tf.data.Dataset.range(count).shuffle(count, seed=seed, reshuffle_each_iteration=True)
    batches = indices.batch(batch_size).map(
        lambda index: (tf.gather(x, index), tf.gather(y, index)), num_parallel_calls=tf.data.AUTOTUNE
    )
    return batches.prefetch(tf.data.AUTOTUNE)


def _ordered_tf(x: Any, y: Any) -> Any:
    """Evaluation batches in a fixed order, cached after their first pass when small enough."""
    import tensorflow as tf

    batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(EVALUATION_BATCH)
    if x.shape.num_elements() * x.dtype.size <= CACHE_LIMIT_BYTES:
        batches = batches.cache()
    return batches.prefetch(tf.data.AUTOTUNE)


class ImageBatches:
    """One set of images and labels, held once in the backend's input form, batched on demand."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = (_tensors(x), _tensors(y)) if on_tensorflow() else (x, y)
        self._ordered: Any = None

    def shuffled(self, batch_size: int, seed: int) -> Any:
        if on_tensorflow():
            return _shuffled_tf(self.x, self.y, batch_size, seed)
        return ArrayBatches(self.x, self.y, batch_size, seed)

    def ordered(self) -> Any:
        """The evaluation batches, made once and reused by every trial."""
        if self._ordered is None:
            self._ordered = _ordered_tf(self.x, self.y) if on_tensorflow() else ArrayBatches(self.x, self.y,
                                                                                            EVALUATION_BATCH)
        return self._ordered


class InputPipeline:
    """A worker's splits in the backend's input form, made once; batches over them for every trial."""

    def __init__(self, splits: Splits) -> None:
        self.train = ImageBatches(splits.x_train, splits.y_train)
        self.validation = ImageBatches(splits.x_val, splits.y_val).ordered()
        self.test = ImageBatches(splits.x_test, splits.y_test).ordered()

    def training(self, batch_size: int, seed: int) -> Any:
        return self.train.shuffled(batch_size, seed)
