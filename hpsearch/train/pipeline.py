"""tf.data input pipelines over a worker's images: converted to tensors once per worker, then
batched for each trial without copying the data again.

`model.fit` on NumPy arrays converts them to tensors on every call, so a worker would copy its
whole dataset once per trial. Here the copy happens once. Each training epoch is a fresh
permutation of indices, batched, then one vectorised gather per batch (no per-image work, so
nothing worth caching) with prefetching so the next batch is ready while the model trains. The
validation and test batches are the same for every trial: they are batched once, cached in
memory when they fit within `CACHE_LIMIT_BYTES`, and reused by all trials.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from hpsearch.data.sources import Splits

EVALUATION_BATCH = 256  # inference only: the batch size does not change the result, only the speed
CACHE_LIMIT_BYTES = 2 * 1024**3


def on_host(array: np.ndarray) -> tf.Tensor:
    with tf.device("/CPU:0"):  # input data lives in host memory; batches are copied to the GPU
        return tf.constant(array)


def shuffled_batches(x: tf.Tensor, y: tf.Tensor, batch_size: int, seed: int) -> tf.data.Dataset:
    """Training batches: a new shuffle of all images every epoch, the last batch possibly smaller."""
    count = int(x.shape[0])
    indices = tf.data.Dataset.range(count).shuffle(count, seed=seed, reshuffle_each_iteration=True)
    batches = indices.batch(batch_size).map(
        lambda index: (tf.gather(x, index), tf.gather(y, index)), num_parallel_calls=tf.data.AUTOTUNE
    )
    return batches.prefetch(tf.data.AUTOTUNE)


def ordered_batches(x: tf.Tensor, y: tf.Tensor) -> tf.data.Dataset:
    """Evaluation batches in a fixed order, cached after their first pass when small enough."""
    batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(EVALUATION_BATCH)
    if x.shape.num_elements() * x.dtype.size <= CACHE_LIMIT_BYTES:
        batches = batches.cache()
    return batches.prefetch(tf.data.AUTOTUNE)


class InputPipeline:
    """A worker's splits as tensors, made once; datasets over them for every trial."""

    def __init__(self, splits: Splits) -> None:
        self.x_train, self.y_train = on_host(splits.x_train), on_host(splits.y_train)
        self.validation = ordered_batches(on_host(splits.x_val), on_host(splits.y_val))
        self.test = ordered_batches(on_host(splits.x_test), on_host(splits.y_test))

    def training(self, batch_size: int, seed: int) -> tf.data.Dataset:
        return shuffled_batches(self.x_train, self.y_train, batch_size, seed)
