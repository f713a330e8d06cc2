"""The training recipe: learning-rate schedules over a trial's full length, decoupled weight decay,
label smoothing, pad-and-crop and cutout, each a catalogue entry that reaches the trained model."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pytest

from hpsearch.space.architecture import Architecture, ConvBlock, DenseLayer, Training
from hpsearch.train.checkpoints import CheckpointOwner, TrialCheckpoint
from hpsearch.train.model import build_model, compile_model, learning_rate, make_optimizer, steps_per_epoch
from hpsearch.train.recipe import PadAndCrop, SmoothedSparseCrossentropy, TrialSchedule, cutout
from tests.helpers import run_cli, stored_trials, write_study

DIGITS = Architecture(
    input_shape=(8, 8, 1), num_classes=10, blocks=(ConvBlock(8, 3, 1, 0.0),), dense=(DenseLayer(16, 0.0),)
)


def test_warmup_then_cosine_over_the_whole_trial() -> None:
    schedule = TrialSchedule(0.1, "cosine", total_steps=100, warmup_steps=10)
    rates = [float(schedule(step)) for step in range(100)]
    assert rates[0] == pytest.approx(0.01) and rates[9] == pytest.approx(0.1)  # linear warmup
    assert rates[10] == pytest.approx(0.1) and rates[55] == pytest.approx(0.05)  # half-way down
    assert rates[99] < 1e-4 and float(schedule(500)) == pytest.approx(0.0, abs=1e-9)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:]))


def test_step_linear_and_constant_shapes() -> None:
    step = TrialSchedule(1.0, "step", total_steps=100)
    assert [float(step(s)) for s in (0, 49, 50, 74, 75)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])
    linear = TrialSchedule(1.0, "linear", total_steps=100)
    assert [float(linear(s)) for s in (0, 50, 100)] == pytest.approx([1, 0.5, 0])
    assert float(TrialSchedule(0.3, "constant", total_steps=100, warmup_steps=3)(1)) == pytest.approx(0.2)


def test_a_trial_pruned_early_saw_the_rates_of_its_full_length() -> None:
    """The schedule spans `epochs` x batches, so the rate at step k is the same whether the trial
    is later pruned or not, and differs from a schedule squeezed into the epochs actually run."""
    training = Training(learning_rate=0.01, lr_schedule="cosine", warmup_epochs=1, epochs=15)
    full = learning_rate(training, steps_per_epoch=20)
    assert isinstance(full, TrialSchedule) and full.total_steps == 300 and full.warmup_steps == 20
    two_epochs = learning_rate(replace(training, epochs=2), steps_per_epoch=20)
    assert float(full(39)) > float(two_epochs(39))  # unpruned, epoch 2 ends near the peak
    assert learning_rate(Training(learning_rate=0.01), 20) == 0.01  # constant: a plain number


def test_weight_decay_is_decoupled_for_every_optimizer() -> None:
    for name in ("sgd", "adam", "adamw", "rmsprop"):
        optimizer = make_optimizer(Training(optimizer=name, weight_decay=5e-4), 10)
        assert optimizer.weight_decay == pytest.approx(5e-4), name
    assert make_optimizer(Training(optimizer="adam"), 10).weight_decay is None
    assert make_optimizer(Training(optimizer="adamw"), 10).weight_decay == 0.0


def test_weight_decay_shrinks_weights_the_data_does_not_move() -> None:
    """With zero-loss data (all-zero images; only the output bias learns), the conv kernels change
    only through decay: by the factor (1 - rate x decay) each step."""
    keras.utils.set_random_seed(0)
    training = Training(optimizer="sgd", learning_rate=0.1, weight_decay=0.5, momentum=0.0, epochs=1)
    model = compile_model(DIGITS, training, steps_per_epoch=4)
    kernel = model.layers[1].kernel
    before = keras.ops.convert_to_numpy(kernel)
    model.fit(np.zeros((64, 8, 8, 1), "float32"), np.zeros(64, "int32"), batch_size=16, verbose=0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(kernel), before * (1 - 0.1 * 0.5) ** 4, rtol=1e-5)


def test_label_smoothing_on_integer_labels_matches_keras_on_one_hot() -> None:
    predictions = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]], "float32")
    ours = SmoothedSparseCrossentropy(0.2)(np.array([0, 1]), predictions)
    keras_one_hot = keras.losses.CategoricalCrossentropy(label_smoothing=0.2)(np.eye(3)[[0, 1]], predictions)
    assert float(ours) == pytest.approx(float(keras_one_hot))
    model = compile_model(DIGITS, Training(label_smoothing=0.1), steps_per_epoch=1)
    assert isinstance(model.loss, SmoothedSparseCrossentropy)


def test_pad_and_crop_shifts_each_image_on_its_own_and_is_identity_at_inference() -> None:
    images = np.random.default_rng(0).random((64, 6, 6, 1)).astype("float32")
    out = np.array(PadAndCrop(2, seed=3)(images, training=True))
    offsets = set()
    for original, cropped in zip(images, out):
        padded = np.pad(original, ((2, 2), (2, 2), (0, 0)))
        found = [(dy, dx) for dy in range(5) for dx in range(5)
                 if np.array_equal(padded[dy:dy + 6, dx:dx + 6], cropped)]
        assert found, "every output is a window of the padded image"
        offsets.add(found[0])
    assert len(offsets) > 5  # per image, not one offset for the batch as keras.layers.RandomCrop
    assert np.array_equal(np.array(PadAndCrop(2)(images, training=False)), images)


def test_cutout_blanks_one_square_per_image() -> None:
    out = np.array(cutout(3, image_side=8)(np.ones((16, 8, 8, 1), "float32"), training=True))
    assert all(int((image == 0.5).sum()) == 9 for image in out)
    assert np.array_equal(np.array(cutout(3, 8)(np.ones((2, 8, 8, 1), "float32"), training=False)),
                          np.ones((2, 8, 8, 1)))


def test_augmentation_layers_are_in_the_model_in_order() -> None:
    model = build_model(replace(DIGITS, augment_flip=True, augment_crop=2, augment_cutout=3))
    names = [type(layer).__name__ for layer in model.layers][1:4]
    assert names == ["RandomFlip", "PadAndCrop", "RandomErasing"]


def test_a_checkpoint_resumes_the_schedule_and_recipe_where_it_stopped(tmp_path: Path) -> None:
    """A retried trial continues at the step its schedule had reached, with the same loss and
    augmentation layers (they are registered with Keras, so `model.keras` loads them back)."""
    keras.utils.set_random_seed(0)
    training = Training(optimizer="sgd", learning_rate=0.1, lr_schedule="cosine", warmup_epochs=1,
                        weight_decay=1e-3, label_smoothing=0.1, epochs=4, batch_size=16)
    arch = replace(DIGITS, augment_crop=1, augment_cutout=2)
    model = compile_model(arch, training, steps_per_epoch=4)
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 8, 8, 1)).astype("float32"), rng.integers(0, 10, 64)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    rate = float(model.optimizer.learning_rate)
    checkpoint = TrialCheckpoint(tmp_path, CheckpointOwner("recipe", "uid", 0, {"a": 1}, "data", training.epochs))
    checkpoint.save(model, 2, {"loss": [1.0, 0.9]}, [1.0, 1.0], 2, 0.5, model.get_weights())
    resumed = checkpoint.load()
    assert resumed is not None and resumed.epoch == 2
    again = resumed.model
    assert int(again.optimizer.iterations) == 8
    assert float(again.optimizer.learning_rate) == pytest.approx(rate)
    assert isinstance(again.loss, SmoothedSparseCrossentropy) and again.loss.smoothing == pytest.approx(0.1)
    assert [type(layer).__name__ for layer in again.layers][1:3] == ["PadAndCrop", "RandomErasing"]
    again.fit(x, y, batch_size=16, epochs=4, initial_epoch=2, verbose=0)
    assert float(again.optimizer.learning_rate) < rate


RECIPE_STUDY = """
[data]
dataset = "digits"
validation_fraction = 0.2
[training]
epochs = 4
[search]
trials = 3
seed = 0
[search.pruner]
type = "none"
[space]
blocks = 1
dense_units = 16
base_filters = 16
learning_rate = 0.005
lr_schedule = { choices = ["cosine", "linear", "step"] }
warmup_epochs = { choices = [0, 1] }
weight_decay = { low = 1e-4, high = 1e-2, log = true }
label_smoothing = { choices = [0.0, 0.1] }
augment_crop = { choices = [0, 1] }
augment_cutout = { choices = [0, 2] }
[[baselines]]
name = "plain"
lr_schedule = "cosine"
warmup_epochs = 1
weight_decay = 5e-4
label_smoothing = 0.1
augment_crop = 1
augment_cutout = 2
"""


def test_a_study_searches_the_recipe_and_records_it_on_each_trial(tmp_path: Path) -> None:
    study_file = write_study(tmp_path, "digits-recipe", RECIPE_STUDY)
    url = f"sqlite:///{tmp_path / 'recipe.db'}"
    result = run_cli("run", str(study_file), "--storage", url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    trials = stored_trials(url, "digits-recipe")
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    baseline = trials[0]
    assert json.loads(json.dumps(baseline.user_attrs["training"]))["lr_schedule"] == "cosine"
    assert baseline.user_attrs["training"]["weight_decay"] == pytest.approx(5e-4)
    assert baseline.user_attrs["architecture"]["augment_crop"] == 1
    assert all(t.value is not None and t.value > 0.5 for t in trials), [t.value for t in trials]  # chance: 0.1
    drawn = {t.params["lr_schedule"] for t in trials[1:]} | {t.params["augment_cutout"] for t in trials[1:]}
    assert drawn  # the sampler drew the recipe like any other dimension
    exported = run_cli("export", "digits-recipe", "--storage", url, "--trial", "0", "--out", str(tmp_path / "m"),
                       cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    loaded = keras.models.load_model(tmp_path / "m" / "model.keras")  # this process imported hpsearch.train.recipe
    assert isinstance(loaded.loss, SmoothedSparseCrossentropy)


def test_steps_per_epoch_counts_the_last_partial_batch() -> None:
    assert steps_per_epoch(64, 16) == 4 and steps_per_epoch(65, 16) == 5
