"""What differs between Keras backends beyond what Keras hides: which one trains, and which of
its errors mean that a network did not fit in memory (each backend raises its own)."""

from __future__ import annotations

from hpsearch.train.keras_import import keras


def on_tensorflow() -> bool:
    return keras.backend.backend() == "tensorflow"


def out_of_memory(error: BaseException) -> bool:
    """Whether `error` says the network did not fit in host or accelerator memory: MemoryError
    anywhere, TensorFlow's ResourceExhaustedError, PyTorch's OutOfMemoryError, or an XLA runtime
    error reporting RESOURCE_EXHAUSTED (JAX, which has no type of its own for it)."""
    if isinstance(error, MemoryError):
        return True
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return isinstance(error, tf.errors.ResourceExhaustedError)
    if backend == "torch":
        import torch

        return isinstance(error, torch.OutOfMemoryError)
    return "RESOURCE_EXHAUSTED" in str(error)
