"""Architecture description -> compiled `keras.Model`. The only module that builds networks.

Building a network first lets go of what TensorFlow still holds of the networks trained before
it (`forget_traced_gradients`), so a worker that trains trial after trial stays the same size.
"""

from __future__ import annotations

import math
from typing import Any

from hpsearch.train.keras_import import keras
from keras import layers

from hpsearch.space.architecture import Architecture, Training
from hpsearch.train.recipe import PadAndCrop, SmoothedSparseCrossentropy, TrialSchedule, cutout
from hpsearch.train.backend import on_tensorflow

# Batch norm's moving averages, which validation and test use, follow each batch's statistics
# at this rate. Keras's default of 0.99 needs hundreds of steps to forget its starting values:
# a batch-norm network trained 4 epochs on 4,576 CIFAR images scored 14% on validation against
# 38% with 0.9 (same training curve), so short trials and the pruner judged batch norm by stale
# statistics, not by what it learned. 0.9 is PyTorch's default (its momentum=0.1).
BATCH_NORM_MOMENTUM = 0.9


def _batch_norm() -> layers.BatchNormalization:
    return layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM)


def _conv_block(x: keras.KerasTensor, arch: Architecture, index: int) -> keras.KerasTensor:
    block = arch.blocks[index]
    strided = arch.downsample == "strided"
    for conv in range(block.convs):
        last = conv == block.convs - 1
        x = layers.Conv2D(
            block.filters,
            block.kernel_size,
            strides=2 if strided and last else 1,
            padding="same",
            kernel_initializer=arch.initializer,
            use_bias=arch.batch_norm != "before_activation",  # BN's shift replaces the bias
        )(x)
        if arch.batch_norm == "before_activation":
            x = _batch_norm()(x)
        x = layers.Activation(arch.activation)(x)
        if arch.batch_norm == "after_activation":
            x = _batch_norm()(x)
    if not strided:
        x = layers.MaxPooling2D(2, padding="same")(x)
    if arch.batch_norm == "after_pooling":
        x = _batch_norm()(x)
    if block.dropout > 0:
        x = layers.Dropout(block.dropout)(x)
    return x


def build_model(arch: Architecture) -> keras.Model:
    """Build (uncompiled) the network an `Architecture` describes."""
    inputs = keras.Input(shape=arch.input_shape)
    x = inputs
    if arch.augment_flip:
        x = layers.RandomFlip("horizontal")(x)
    if arch.augment_shift > 0:
        x = layers.RandomTranslation(arch.augment_shift, arch.augment_shift, fill_mode="constant")(x)
    if arch.augment_crop > 0:
        x = PadAndCrop(arch.augment_crop)(x)
    if arch.augment_cutout > 0:
        x = cutout(arch.augment_cutout, min(arch.input_shape[:2]))(x)
    for index in range(len(arch.blocks)):
        x = _conv_block(x, arch, index)
    x = layers.Flatten()(x) if arch.head == "flatten" else layers.GlobalAveragePooling2D()(x)
    if arch.head_batch_norm:
        x = _batch_norm()(x)
    constraint = keras.constraints.MaxNorm(arch.max_norm) if arch.max_norm > 0 else None
    for dense in arch.dense:
        x = layers.Dense(
            dense.units,
            activation=arch.activation,
            kernel_initializer=arch.initializer,
            kernel_constraint=constraint,
        )(x)
        if dense.dropout > 0:
            x = layers.Dropout(dense.dropout)(x)
    outputs = layers.Dense(
        arch.num_classes, activation="softmax", kernel_initializer=arch.initializer, dtype="float32"
    )(x)
    return keras.Model(inputs, outputs)


def learning_rate(training: Training, steps_per_epoch: int) -> float | TrialSchedule:
    """The trial's learning rate: a plain number when constant, else a schedule over all its epochs."""
    if training.lr_schedule == "constant" and training.warmup_epochs == 0:
        return training.learning_rate
    return TrialSchedule(
        training.learning_rate,
        training.lr_schedule,
        total_steps=training.epochs * steps_per_epoch,
        warmup_steps=training.warmup_epochs * steps_per_epoch,
    )


def make_optimizer(training: Training, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The optimizer with its schedule; weight decay is Keras's decoupled kind for every optimizer
    (each step, weights shrink by rate x decay), applied to all weights as Keras does by default."""
    options: dict[str, Any] = {"weight_decay": training.weight_decay or None}
    if training.clipnorm > 0:
        options["clipnorm"] = training.clipnorm
    rate = learning_rate(training, steps_per_epoch)
    if training.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=training.momentum, nesterov=training.nesterov, **options)
    if training.optimizer == "adamw":  # AdamW refuses None: its decay is this setting, 0 included
        options["weight_decay"] = training.weight_decay
    optimizers = {
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "rmsprop": keras.optimizers.RMSprop,
    }
    return optimizers[training.optimizer](rate, **options)


def loss_function(training: Training) -> str | keras.losses.Loss:
    if training.label_smoothing > 0:
        return SmoothedSparseCrossentropy(training.label_smoothing)
    return "sparse_categorical_crossentropy"


# `tf.custom_gradient` in graph mode (a traced function) registers its gradient function in
# TensorFlow's process-wide gradient registry under a new name, "CustomGradient-<n>", and never
# removes it (tensorflow/tensorflow#97697). The gradient function's closure holds the traced
# graph's tensors, so the whole traced training step (~1,000 ops and ~20,000 Python objects for a
# small CNN) stays alive after `keras.utils.clear_session()` and the model are gone. Keras's
# TensorFlow optimizers hit this on every model: each traced train step all-reduces the gradients
# through the replica context (a no-op on one device, done with a custom gradient). A worker grew
# by about 12 MB per digits-quick trial this way (1.44x from trial 8 to 40; benchmarks/memory.py).
CUSTOM_GRADIENT_PREFIX = "CustomGradient-"


def steps_per_epoch(images: int, batch_size: int) -> int:
    """Batches in an epoch over `images` (the last one possibly smaller)."""
    return math.ceil(images / batch_size)


def forget_traced_gradients() -> int:
    """Drop the custom-gradient functions that earlier traced functions left in TensorFlow's
    gradient registry, so their graphs can be freed; returns how many were dropped.

    A registered gradient is looked up when its function's gradient is computed. Keras computes a
    train step's gradients inside the step's own trace, and a retrace registers new ones, so once
    a network has been traced its entries are dead weight. What would lose its gradient is a
    function traced earlier and differentiated later from outside (an eager `GradientTape` around
    it); nothing in hpsearch does that. Call it between networks, not while one is being traced.
    """
    if not on_tensorflow():
        return 0
    from tensorflow.python.framework import ops as tf_ops

    registry = getattr(getattr(tf_ops, "_gradient_registry", None), "_registry", None)
    if not isinstance(registry, dict):  # a TensorFlow that changed its registry: nothing to do here
        return 0
    stale = [name for name in registry if isinstance(name, str) and name.startswith(CUSTOM_GRADIENT_PREFIX)]
    for name in stale:
        del registry[name]
    return len(stale)


def compile_model(arch: Architecture, training: Training, steps_per_epoch: int) -> keras.Model:
    """Build and compile: integer labels, accuracy as the metric the search watches;
    `steps_per_epoch` spreads the learning-rate schedule over the trial's epochs.

    The precision policy is process-wide in Keras, so it is set here, before every build. Under
    mixed_float16 Keras wraps the optimizer in loss scaling itself; the softmax stays float32.
    """
    forget_traced_gradients()  # earlier networks' traced train steps, pinned by TensorFlow otherwise
    keras.mixed_precision.set_global_policy(training.precision)
    model = build_model(arch)
    model.compile(
        optimizer=make_optimizer(training, steps_per_epoch),
        loss=loss_function(training),
        metrics=["accuracy"],
        jit_compile="auto" if training.jit_compile is None else training.jit_compile,
        steps_per_execution=training.steps_per_execution,
    )
    if on_tensorflow():
        _build_before_tracing(model, arch)
    return model


def _build_before_tracing(model: keras.Model, arch: Architecture) -> None:
    """Create the optimizer's, the metrics' and the loss's variables now, from the input's shape.

    On TensorFlow without a distribution strategy, Keras leaves them to the first traced train
    step, and a `tf.function` that creates variables is traced a second time: about 40% of a small
    trial's CPU time. Keras builds them this way itself in `fit` on JAX and PyTorch
    (`Trainer._symbolic_build`); tests/test_model.py checks the step is traced once.
    """
    images = keras.KerasTensor((None, *arch.input_shape), dtype="float32")
    labels = keras.KerasTensor((None,), dtype="int32")
    model._symbolic_build(data_batch=(images, labels))
