"""The training recipe's Keras pieces that Keras does not ship in the form a CIFAR recipe needs:
a learning-rate schedule over the trial's full length, label smoothing on integer labels, and
pad-and-crop and cutout augmentation drawn per image on the accelerator.

Each is registered with Keras (package "hpsearch"), so checkpoints and exported `model.keras`
files load again; outside hpsearch, `import hpsearch.train.recipe` before loading one. That import
also lets a file saved on one backend train on another (see `PORTABLE_OPTIMIZERS`).
"""

from __future__ import annotations

import math
from typing import Any

from hpsearch.train.keras_import import keras
from keras import layers, ops

from hpsearch.space.catalogue import LR_SCHEDULES

# Keras on PyTorch saves an optimizer as PyTorch's own class (module
# `keras.src.backend.torch.optimizers.torch_adam`): another backend loads that class and fails at
# the first training step, and a machine without PyTorch cannot load the file at all. Known by
# their plain names, the optimizers hpsearch trains with resolve to this backend's own.
PORTABLE_OPTIMIZERS = ("SGD", "Adam", "AdamW", "RMSprop")
for _name in PORTABLE_OPTIMIZERS:
    keras.saving.get_custom_objects().setdefault(_name, getattr(keras.optimizers, _name))

# The step schedule's drops: to a tenth of the rate at half the epochs, a hundredth at three quarters.
STEP_POINTS = (0.5, 0.75)
STEP_FACTOR = 0.1


@keras.saving.register_keras_serializable(package="hpsearch")
class TrialSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A linear warmup to `peak` over `warmup_steps`, then `shape` decay over the remaining steps.

    Defined over the whole trial (`total_steps` = epochs x batches per epoch), so a trial pruned
    at epoch 2 trained those epochs at the rates it would have had unpruned. Shapes: constant;
    cosine (to zero: with warmup, the "warmup then cosine" recipe); linear (to zero: with warmup,
    the triangular one-cycle schedule airbench uses); step (x0.1 at 50% and 75%). Keras's own
    `CosineDecay` covers only one of these, and a checkpointed optimizer must resume the same one.
    """

    def __init__(self, peak: float, shape: str, total_steps: int, warmup_steps: int = 0) -> None:
        if shape not in LR_SCHEDULES:
            raise ValueError(f"unknown schedule {shape!r} (known: {', '.join(LR_SCHEDULES)})")
        self.peak = float(peak)
        self.shape = shape
        self.total_steps = max(1, int(total_steps))
        self.warmup_steps = min(max(0, int(warmup_steps)), self.total_steps)

    def __call__(self, step: Any) -> Any:
        step = ops.cast(step, "float32")
        warmup = float(self.warmup_steps)
        decay_steps = float(max(1, self.total_steps - self.warmup_steps))
        progress = ops.clip((step - warmup) / decay_steps, 0.0, 1.0)  # 0 to 1 after the warmup
        if self.shape == "cosine":
            factor = 0.5 * (1.0 + ops.cos(math.pi * progress))
        elif self.shape == "linear":
            factor = 1.0 - progress
        elif self.shape == "step":
            drops = sum(ops.cast(progress >= point, "float32") for point in STEP_POINTS)
            factor = ops.power(STEP_FACTOR, drops)
        else:
            factor = ops.ones_like(progress)
        if self.warmup_steps:
            factor = factor * ops.minimum(1.0, (step + 1.0) / warmup)
        return self.peak * factor

    def get_config(self) -> dict[str, Any]:
        return {"peak": self.peak, "shape": self.shape, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps}


@keras.saving.register_keras_serializable(package="hpsearch")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy on integer labels with label smoothing, which Keras's sparse loss lacks:
    the labels become one-hot inside the loss, so the data pipeline and metrics stay as they are."""

    def __init__(self, smoothing: float, name: str = "smoothed_sparse_crossentropy", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.smoothing = float(smoothing)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        one_hot = ops.one_hot(labels, ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(one_hot, y_pred, label_smoothing=self.smoothing)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "smoothing": self.smoothing}


@keras.saving.register_keras_serializable(package="hpsearch")
class PadAndCrop(layers.Layer):
    """The CIFAR augmentation: pad each image by `padding` pixels (zeros) and crop a random window
    of the original size, a new offset per image. Keras's `RandomCrop` draws one offset per batch,
    which shifts every image of a batch alike. Identity at inference."""

    def __init__(self, padding: int, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.padding = int(padding)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, images: Any, training: bool | None = None) -> Any:
        if not training or self.padding == 0:
            return images
        k = self.padding
        height, width = images.shape[1], images.shape[2]
        padded = ops.pad(images, ((0, 0), (k, k), (k, k), (0, 0)))
        count = ops.shape(images)[0]
        offsets = keras.random.randint((count, 2), 0, 2 * k + 1, seed=self.generator)
        rows = offsets[:, :1] + ops.arange(height)[None, :]  # (batch, height)
        cols = offsets[:, 1:] + ops.arange(width)[None, :]  # (batch, width)
        picked = ops.take_along_axis(padded, rows[:, :, None, None], axis=1)
        return ops.take_along_axis(picked, cols[:, None, :, None], axis=2)

    def compute_output_shape(self, input_shape: tuple[Any, ...]) -> tuple[Any, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "padding": self.padding, "seed": self.seed}


def cutout(size: int, image_side: int) -> layers.Layer:
    """Cutout (DeVries & Taylor 2017): a `size` x `size` square per image set to mid-grey, with
    Keras's `RandomErasing` at a fixed area and probability 1 (images here are scaled to 0..1)."""
    area = min(1.0, (size / image_side) ** 2)
    return layers.RandomErasing(factor=(1.0, 1.0), scale=(area, area), fill_value=0.5, value_range=(0.0, 1.0))
