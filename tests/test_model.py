"""Each dimension of the search space changes the built Keras model as it should."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pytest

from hpsearch.space.architecture import Architecture, ConvBlock, DenseLayer, Training, filters_per_block
from hpsearch.train.model import build_model, compile_model, make_optimizer

BASE = Architecture(
    input_shape=(16, 16, 3),
    num_classes=10,
    blocks=(ConvBlock(8, 3, 2, 0.0), ConvBlock(16, 3, 2, 0.0)),
    dense=(DenseLayer(32, 0.0),),
)


def kinds(model: keras.Model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers if type(layer).__name__ != "InputLayer"]


def convs(model: keras.Model) -> list[keras.layers.Conv2D]:
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def test_filter_progression_grows_keeps_or_shrinks() -> None:
    assert filters_per_block(32, 2.0, 512, 3) == [32, 64, 128]
    assert filters_per_block(64, 1.0, 512, 3) == [64, 64, 64]
    assert filters_per_block(32, 1.5, 512, 3) == [32, 48, 72]
    assert filters_per_block(256, 0.5, 512, 2) == [256, 128]
    assert filters_per_block(64, 2.0, 512, 5) == [64, 128, 256, 512, 512]  # VGG's cap


def test_filters_kernels_and_convs_per_block() -> None:
    arch = replace(BASE, blocks=(ConvBlock(256, 3, 1, 0.0), ConvBlock(128, 2, 3, 0.0)))
    layers = convs(build_model(arch))
    assert [c.filters for c in layers] == [256, 128, 128, 128]
    assert [c.kernel_size for c in layers] == [(3, 3), (2, 2), (2, 2), (2, 2)]


@pytest.mark.parametrize("initializer", ["he_normal", "he_uniform", "glorot_uniform", "lecun_normal"])
def test_initializer(initializer: str) -> None:
    model = build_model(replace(BASE, initializer=initializer))
    expected = "".join(part.capitalize() for part in initializer.split("_"))
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            assert type(layer.kernel_initializer).__name__ == expected


BLOCK = {
    "none": ["Conv2D", "Activation", "Conv2D", "Activation", "MaxPooling2D"],
    "before_activation": [
        "Conv2D", "BatchNormalization", "Activation", "Conv2D", "BatchNormalization", "Activation",
        "MaxPooling2D",
    ],
    "after_activation": [
        "Conv2D", "Activation", "BatchNormalization", "Conv2D", "Activation", "BatchNormalization",
        "MaxPooling2D",
    ],
    "after_pooling": ["Conv2D", "Activation", "Conv2D", "Activation", "MaxPooling2D", "BatchNormalization"],
}


@pytest.mark.parametrize("placement", sorted(BLOCK))
def test_batch_norm_placement(placement: str) -> None:
    model = build_model(replace(BASE, batch_norm=placement))
    head = ["Flatten", "Dense", "Dense"]
    assert kinds(model) == BLOCK[placement] * 2 + head
    if placement == "before_activation":  # the BN shift makes the conv bias redundant
        assert not any(c.use_bias for c in convs(model))


def test_dropout_placement_and_rates() -> None:
    arch = replace(
        BASE,
        blocks=(ConvBlock(8, 3, 1, 0.0), ConvBlock(8, 3, 1, 0.3)),
        dense=(DenseLayer(32, 0.5), DenseLayer(16, 0.0)),
    )
    model = build_model(arch)
    assert kinds(model) == [
        "Conv2D", "Activation", "MaxPooling2D",
        "Conv2D", "Activation", "MaxPooling2D", "Dropout",
        "Flatten", "Dense", "Dropout", "Dense", "Dense",
    ]
    assert [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == [0.3, 0.5]


def test_strided_downsampling_replaces_pooling() -> None:
    model = build_model(replace(BASE, downsample="strided"))
    assert "MaxPooling2D" not in kinds(model)
    assert [c.strides for c in convs(model)] == [(1, 1), (2, 2), (1, 1), (2, 2)]
    assert tuple(convs(model)[-1].output.shape[1:3]) == (4, 4)  # 16 -> 8 -> 4


def test_dense_head_max_norm_and_global_pooling() -> None:
    arch = replace(
        BASE, dense=(DenseLayer(64, 0.0), DenseLayer(24, 0.0)), max_norm=3.0,
        head="global_average", head_batch_norm=True,
    )
    model = build_model(arch)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [d.units for d in dense] == [64, 24, 10]
    assert [type(d.kernel_constraint).__name__ for d in dense[:2]] == ["MaxNorm", "MaxNorm"]
    assert dense[0].kernel_constraint.max_value == 3.0 and dense[-1].kernel_constraint is None
    assert kinds(model)[-5:-3] == ["GlobalAveragePooling2D", "BatchNormalization"]


def test_augmentation_layers() -> None:
    model = build_model(replace(BASE, augment_flip=True, augment_shift=0.1))
    assert kinds(model)[:2] == ["RandomFlip", "RandomTranslation"]
    assert "RandomFlip" not in kinds(build_model(BASE))


def test_optimizers() -> None:
    sgd = make_optimizer(Training(optimizer="sgd", learning_rate=0.01, momentum=0.8, clipnorm=1.0), 10)
    assert isinstance(sgd, keras.optimizers.SGD) and sgd.nesterov and sgd.momentum == 0.8
    assert sgd.clipnorm == 1.0
    adam = make_optimizer(Training(optimizer="adam", learning_rate=0.002), 10)
    assert isinstance(adam, keras.optimizers.Adam) and adam.clipnorm is None
    assert float(adam.learning_rate) == pytest.approx(0.002)


def test_architecture_round_trips_through_json_to_the_same_model() -> None:
    arch = replace(BASE, batch_norm="after_activation", max_norm=2.0, augment_flip=True)
    again = Architecture.from_dict(json.loads(json.dumps(arch.to_dict())))
    assert again == arch
    first, second = build_model(arch), build_model(again)
    assert kinds(first) == kinds(second) and first.count_params() == second.count_params()


def test_batch_norm_validation_tracks_training_in_a_short_run(shared_data: Path) -> None:
    """Batch norm's moving averages keep up within a short trial: after 2 epochs on 2,000 real
    MNIST images, validation accuracy is near training accuracy (Keras's default momentum of
    0.99 left it far below: the network was judged by its starting statistics)."""
    with np.load(shared_data / "mnist-subset.npz") as data:
        x = data["x_train"][:2500, :, :, None].astype("float32") / 255
        y = data["y_train"][:2500]
    keras.utils.set_random_seed(0)
    arch = replace(BASE, input_shape=(28, 28, 1), batch_norm="before_activation")
    model = compile_model(arch, Training(batch_size=64, epochs=2), steps_per_epoch=32)
    history = model.fit(x[:2000], y[:2000], batch_size=64, epochs=2, validation_data=(x[2000:], y[2000:]),
                        verbose=0).history
    assert history["accuracy"][-1] > 0.8
    assert history["val_accuracy"][-1] > history["accuracy"][-1] - 0.1, history


def test_a_compiled_model_traces_its_train_step_once() -> None:
    """compile_model creates the optimizer's and metrics' variables before training: on TensorFlow,
    Keras otherwise creates them in the first traced train step and TensorFlow traces the step a
    second time, the larger part of a small trial's CPU time. The trial's own input pipeline feeds it."""
    from hpsearch.train.pipeline import ImageBatches

    rng = np.random.default_rng(0)
    x, y = rng.random((100, 16, 16, 3), dtype="float32"), rng.integers(0, 10, 100)
    model = compile_model(replace(BASE, batch_norm="before_activation"), Training(batch_size=32, epochs=2),
                          steps_per_epoch=4)
    traces = []
    step = model.train_step
    model.train_step = lambda data: traces.append(1) or step(data)
    model.fit(ImageBatches(x, y).shuffled(32, seed=0), epochs=2, shuffle=False, verbose=0)
    assert len(traces) == 1, f"the train step was traced {len(traces)} times"
