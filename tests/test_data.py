"""Data: real files load, scale identically, split honestly, and bad files say what is wrong."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from hpsearch.data.sources import DataError, load_raw, prepare
from tests.helpers import CIFAR, MNIST, run_cli


def _hashes(images: np.ndarray) -> set[bytes]:
    return {image.tobytes() for image in images}


def test_cifar_validation_is_carved_from_training_images_only(shared_data: Path) -> None:
    raw = load_raw(str(CIFAR))
    splits = prepare(raw, validation_fraction=0.2, seed=0)
    assert len(splits.x_train) + len(splits.x_val) == len(raw.x_train)
    scaled_train = _hashes((raw.x_train / np.float32(255)).astype(np.float32))
    assert _hashes(splits.x_val) <= scaled_train  # every validation image is a training image
    assert not _hashes(splits.x_val) & _hashes(splits.x_test)  # and never a test image
    assert not _hashes(splits.x_train) & _hashes(splits.x_val)
    # Stratified: each class keeps its share in the validation split.
    shares = np.bincount(splits.y_val, minlength=10) / len(splits.y_val)
    assert np.allclose(shares, 0.1, atol=0.02)


def test_grayscale_gets_a_channel_and_every_split_is_scaled_alike(shared_data: Path) -> None:
    splits = prepare(load_raw(str(MNIST)), validation_fraction=0.1, seed=0, subset=1000, pad_to=32)
    assert splits.input_shape == (32, 32, 1)
    assert len(splits.x_train) + len(splits.x_val) == 1000
    for x in (splits.x_train, splits.x_val, splits.x_test):
        assert x.dtype == np.float32 and x.min() == 0.0 and x.max() == 1.0
    assert splits.num_classes == 10


def test_one_hot_labels_and_float_images(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    labels = np.arange(60) % 3
    path = tmp_path / "onehot.npz"
    np.savez(
        path,
        x_train=rng.random((60, 8, 8, 3), dtype=np.float32),
        y_train=np.eye(3)[labels],
        x_test=rng.random((9, 8, 8, 3), dtype=np.float32),
        y_test=np.eye(3)[np.arange(9) % 3],
    )
    splits = prepare(load_raw(str(path)), validation_fraction=0.2, seed=0)
    assert splits.num_classes == 3 and splits.y_train.ndim == 1
    assert splits.x_train.max() <= 1.0  # already in [0, 1]: left as it is


def test_digits_are_bundled_and_need_no_network() -> None:
    splits = prepare(load_raw("digits"), validation_fraction=0.2, seed=0)
    assert splits.input_shape == (8, 8, 1) and splits.num_classes == 10
    assert splits.x_train.max() == 1.0


BAD = {
    "missing key": (
        dict(x_train=np.zeros((4, 8, 8))),
        "missing arrays y_train, x_test, y_test (hpsearch needs x_train, y_train, x_test, y_test; "
        "the file has x_train)",
    ),
    "labels of the wrong length": (
        dict(x_train=np.zeros((4, 8, 8)), y_train=np.zeros(3), x_test=np.zeros((2, 8, 8)), y_test=np.zeros(2)),
        "y_train must have one label per image",
    ),
    "shapes differ": (
        dict(x_train=np.zeros((4, 8, 8)), y_train=np.zeros(4), x_test=np.zeros((2, 9, 9)), y_test=np.zeros(2)),
        "train images are",
    ),
    "not images": (
        dict(x_train=np.zeros((4, 8)), y_train=np.zeros(4), x_test=np.zeros((2, 8)), y_test=np.zeros(2)),
        "must be images",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_data_files(tmp_path: Path, case: str) -> None:
    arrays, expected = BAD[case]
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=re.escape(expected)):
        prepare(load_raw(str(path)), validation_fraction=0.2, seed=0)


def test_cli_reports_bad_data_files_clearly(tmp_path: Path) -> None:
    not_npz = tmp_path / "broken.npz"
    not_npz.write_text("not a zip file")
    for data, expected in ((not_npz, "not a readable .npz"), (tmp_path / "absent.npz", "no such data file")):
        result = run_cli("run", "digits-quick", "--data", str(data), "--storage", f"sqlite:///{tmp_path}/s.db")
        assert result.returncode == 2, result.stderr
        assert expected in result.stderr and "Traceback" not in result.stderr


def test_offline_download_names_the_way_out(tmp_path: Path) -> None:
    """The real keras.datasets download, made offline by a proxy that refuses, names --data."""
    offline = {f"{scheme}_proxy": "http://127.0.0.1:9" for scheme in ("http", "https", "HTTP", "HTTPS")}
    result = run_cli(
        "run", "cifar-dropout", "--storage", f"sqlite:///{tmp_path}/s.db",
        env={"KERAS_HOME": str(tmp_path / "keras-cache"), **offline},
    )
    assert result.returncode == 2, result.stderr
    assert "could not download cifar10" in result.stderr and "--data" in result.stderr
    assert "Traceback" not in result.stderr


def _write_text(path: Path) -> None:
    path.write_text("x_train,y_train\n1,2\n")


def _write_npy(path: Path) -> None:
    with path.open("wb") as file:  # np.save would add .npy to the name
        np.save(file, np.zeros((4, 8, 8)))


def _write_missing_keys(path: Path) -> None:
    np.savez(path, x_train=np.zeros((4, 8, 8)), y_train=np.zeros(4))


def _write_objects(path: Path) -> None:
    ragged = np.empty(2, dtype=object)
    ragged[:] = [np.zeros((8, 8)), np.zeros((9, 9))]
    np.savez(path, x_train=ragged, y_train=np.zeros(2), x_test=np.zeros((2, 8, 8)), y_test=np.zeros(2))


MISLEADING = {
    "text file": (_write_text, "not a readable .npz file: it is not a zip archive of arrays; write one with "
                  "numpy.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)"),
    "npy file": (_write_npy, "not a readable .npz file: it holds a single .npy array (from numpy.save), "
                 "not an archive of arrays; write one with numpy.savez(path, "),
    "missing keys": (_write_missing_keys, "missing arrays x_test, y_test (hpsearch needs x_train, y_train, "
                     "x_test, y_test; the file has x_train, y_train)"),
    "pickled objects": (_write_objects, "array x_train holds pickled Python objects (often ragged lists), "
                        "which hpsearch does not load as unpickling can run code"),
}


@pytest.mark.parametrize("case", sorted(MISLEADING))
def test_a_file_that_is_not_a_usable_npz_says_what_it_is(tmp_path: Path, case: str) -> None:
    """One sentence about the file, not numpy's advice on pickles or its context-manager TypeError."""
    write, expected = MISLEADING[case]
    path = tmp_path / "data.npz"
    write(path)
    with pytest.raises(DataError) as caught:
        load_raw(str(path))
    assert str(caught.value).startswith(f"{path}: {expected}"), caught.value
    result = run_cli("doctor", "--data", str(path))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert f"error: {path}: {expected}" in " ".join(result.stderr.split())
    for numpy_words in ("allow_pickle", "context manager", "pickle.load"):
        assert numpy_words not in result.stderr


def test_a_validation_split_without_every_class_is_refused() -> None:
    """20 digits at 0.2 would leave 4 validation images for 10 classes; val_accuracy would skip six."""
    with pytest.raises(DataError) as caught:
        prepare(load_raw("digits"), validation_fraction=0.2, seed=0, subset=20)
    assert str(caught.value) == (
        "the validation split would hold 4 images for 10 classes, fewer than one per class "
        "(validation_fraction 0.2 of 20 images); use more images (a larger subset) or another "
        "validation_fraction"
    )
    with pytest.raises(DataError, match="the training split would hold 3 images for 10 classes"):
        prepare(load_raw("digits"), validation_fraction=0.85, seed=0, subset=20)


def test_the_smallest_subset_the_tests_use_still_validates_every_class() -> None:
    """The session studies' `subset = 150` of digits: 15 validation images, one of each class at least."""
    splits = prepare(load_raw("digits"), validation_fraction=0.1, seed=0, subset=150)
    assert len(splits.y_val) == 15 and set(splits.y_val.tolist()) == set(range(10))


def test_cli_refuses_a_subset_too_small_to_validate_before_training(tmp_path: Path) -> None:
    result = run_cli(
        "run", "digits-quick", "--subset", "20", "--trials", "1", "--epochs", "1",
        "--storage", f"sqlite:///{tmp_path}/s.db",
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "error: the validation split would hold 4 images for 10 classes" in result.stderr
