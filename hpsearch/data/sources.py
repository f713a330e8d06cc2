"""Datasets: where images come from, and how they become train/validation/test arrays.

Sources are Keras's downloadable datasets, any `.npz` laid out like Keras's `mnist.npz`
(`x_train, y_train, x_test, y_test`), and scikit-learn's bundled digits, which needs no network.
The validation split is carved from the training images only (stratified, seeded): the search
never sees the test set.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.npyio import NpzFile

KERAS_DATASETS = ("cifar10", "mnist", "fashion_mnist")
BUNDLED_DATASETS = ("digits",)
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
SAVEZ_CALL = f"numpy.savez(path, {', '.join(f'{key}=...' for key in NPZ_KEYS)})"
DIGITS_MAX_PIXEL = 16.0  # scikit-learn's digits are 0..16 intensities
# Images of no declared scale whose values pass 1 are taken as 8-bit and divided by this; the data
# doctor reports values beyond it (16-bit images), which the division would leave far above 1.
EIGHT_BIT_MAX = 255.0
DIGITS_TEST_FRACTION = 0.2
MAX_CLASSES = 100_000  # more output units than any image classifier this tool trains


class DataError(ValueError):
    """Data that cannot be used; the message is one sentence that says what to do."""


@dataclass(frozen=True)
class RawData:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    max_pixel: float | None = None  # the scale of the pixel values, when the source knows it


@dataclass(frozen=True)
class Splits:
    """Scaled float32 images with a channel axis, and integer labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    def fingerprint(self) -> dict[str, Any]:
        """What identifies these images whatever path they were read from: a study records it, so
        a worker given the data at another path (another machine) is checked against it."""
        digest = hashlib.sha256()
        for array in (self.x_train, self.y_train, self.x_val, self.y_val, self.x_test, self.y_test):
            digest.update(np.ascontiguousarray(array).tobytes())
        return {
            "images": [len(self.x_train), len(self.x_val), len(self.x_test)],
            "shape": list(self.input_shape),
            "classes": np.bincount(self.y_train.astype(np.int64), minlength=self.num_classes).tolist(),
            "sha256": digest.hexdigest(),
        }

    def describe(self) -> str:
        return (f"{len(self.x_train)} training, {len(self.x_val)} validation, {len(self.x_test)} test images "
                f"of shape {self.input_shape}, {self.num_classes} classes")


def _download(name: str) -> RawData:
    import keras  # imported here: it loads TensorFlow, which only training needs

    loader = getattr(keras.datasets, name)
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as error:  # network and file errors surface as many types
        raise DataError(
            f"could not download {name} ({type(error).__name__}: {error}); offline, give a local "
            f"copy with --data PATH.npz (arrays {', '.join(NPZ_KEYS)})"
        ) from None
    return RawData(x_train, y_train, x_test, y_test, max_pixel=255.0)


def _digits(seed: int) -> RawData:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.images,
        digits.target,
        test_size=DIGITS_TEST_FRACTION,
        stratify=digits.target,
        random_state=seed,
    )
    return RawData(x_train, y_train, x_test, y_test, max_pixel=DIGITS_MAX_PIXEL)


def _check_npz_format(path: Path) -> None:
    """Name what the file is when it is not an .npz archive (numpy would guess, and talk of pickles)."""
    with path.open("rb") as file:
        start = file.read(len(np.lib.format.MAGIC_PREFIX))
    if start == np.lib.format.MAGIC_PREFIX:
        what = "it holds a single .npy array (from numpy.save), not an archive of arrays"
    elif not zipfile.is_zipfile(path):
        what = "it is not a zip archive of arrays"
    else:
        return
    raise DataError(f"{path}: not a readable .npz file: {what}; write one with {SAVEZ_CALL}")


def _holds_objects(archive: NpzFile, key: str) -> bool:
    """Whether an array of the archive is pickled Python objects, read from its header alone."""
    name = key if key in archive.zip.namelist() else f"{key}.npy"  # as numpy names members
    with archive.zip.open(name) as member:
        fmt = np.lib.format
        header = fmt.read_array_header_1_0 if fmt.read_magic(member) == (1, 0) else fmt.read_array_header_2_0
        return bool(header(member)[2].hasobject)


def _read_npz(path: Path) -> RawData:
    """The four arrays of an .npz, or one sentence on what is wrong with the file."""
    if not path.is_file():
        raise DataError(f"{path}: no such data file")
    try:
        _check_npz_format(path)
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in NPZ_KEYS if key not in archive.files]
            if missing:
                has = ", ".join(archive.files) or "none"
                raise DataError(
                    f"{path}: missing array{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                    f"(hpsearch needs {', '.join(NPZ_KEYS)}; the file has {has})"
                )
            for key in NPZ_KEYS:
                if _holds_objects(archive, key):
                    raise DataError(
                        f"{path}: array {key} holds pickled Python objects (often ragged lists), which "
                        "hpsearch does not load as unpickling can run code; save numeric arrays instead"
                    )
            arrays = {key: archive[key] for key in NPZ_KEYS}
    except DataError:
        raise
    except Exception as error:  # a damaged archive, or an array numpy cannot read
        raise DataError(f"{path}: not a readable .npz file ({error})") from None
    return RawData(**arrays)


def load_raw(source: str, seed: int = 0) -> RawData:
    """Read a dataset by name (`cifar10`, `digits`, ...) or by `.npz` path."""
    if source in KERAS_DATASETS:
        return _download(source)
    if source in BUNDLED_DATASETS:
        return _digits(seed)
    if source.endswith(".npz") or Path(source).exists():
        return _read_npz(Path(source))
    known = ", ".join(KERAS_DATASETS + BUNDLED_DATASETS)
    raise DataError(f"unknown dataset {source!r} (use {known}, or a path to an .npz file)")


def _images(x: np.ndarray, split: str) -> np.ndarray:
    if x.dtype == object or not np.issubdtype(x.dtype, np.number):
        raise DataError(f"x_{split} must hold numbers (got {x.dtype})")
    if x.ndim == 3:  # grayscale: add the channel axis Keras's Conv2D expects
        x = x[..., np.newaxis]
    if x.ndim != 4:
        raise DataError(f"x_{split} must be images shaped (N, H, W) or (N, H, W, C), got {x.shape}")
    return x


def _labels(y: np.ndarray, n_images: int, split: str) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] > 1:  # one-hot
        y = y.argmax(axis=1)
    y = y.reshape(-1) if y.ndim == 2 else y
    if y.ndim != 1 or len(y) != n_images:
        raise DataError(f"y_{split} must have one label per image ({n_images}), got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.number) or not np.all(np.mod(y, 1) == 0) or (y < 0).any():
        raise DataError(f"y_{split} must hold class numbers 0, 1, 2, ... (or one-hot rows)")
    if len(y) and y.max() >= MAX_CLASSES:  # a network's last layer has one unit per class number
        raise DataError(f"y_{split} holds the class number {int(y.max())}, but labels number classes 0, 1, 2, ... "
                        f"(at most {MAX_CLASSES}); renumber them")
    return y.astype(np.int64)


def _pad(x: np.ndarray, size: int) -> np.ndarray:
    height, width = x.shape[1:3]
    if height > size or width > size:
        raise DataError(f"pad_to {size} is smaller than the images ({height}x{width})")
    top, left = (size - height) // 2, (size - width) // 2
    pads = ((0, 0), (top, size - height - top), (left, size - width - left), (0, 0))
    return np.pad(x, pads)


def _stratified_split(
    x: np.ndarray, y: np.ndarray, keep: int | float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split off `keep` images (a count or a fraction), stratified when every class allows it."""
    from sklearn.model_selection import train_test_split

    stratify = y if np.bincount(y).min(initial=2) >= 2 and len(np.unique(y)) > 1 else None
    try:
        x_rest, x_kept, y_rest, y_kept = train_test_split(
            x, y, test_size=keep, stratify=stratify, random_state=seed
        )
    except ValueError:  # too few images per class to stratify this split
        x_rest, x_kept, y_rest, y_kept = train_test_split(x, y, test_size=keep, random_state=seed)
    return x_rest, x_kept, y_rest, y_kept


def _check_split_sizes(
    classes: int, y_train: np.ndarray, y_val: np.ndarray, validation_fraction: float
) -> None:
    """Each part of the split needs at least one image of every class.

    With fewer, a class is missing from validation (val_accuracy never scores it) or from training
    (the network never sees it), and scikit-learn cannot stratify, so it happens silently. One per
    class is the least that avoids this; demanding more would refuse the small smoke-test runs (the
    tests' digits `subset = 150`, 15 validation images for 10 classes) that are still useful.
    """
    total = len(y_train) + len(y_val)
    for part, labels in (("training", y_train), ("validation", y_val)):
        if len(labels) < classes:
            raise DataError(
                f"the {part} split would hold {len(labels)} images for {classes} classes, fewer than one "
                f"per class (validation_fraction {validation_fraction:g} of {total} images); use more "
                "images (a larger subset) or another validation_fraction"
            )


def prepare(
    raw: RawData,
    *,
    validation_fraction: float,
    seed: int,
    subset: int | None = None,
    pad_to: int | None = None,
) -> Splits:
    """Check, reshape, scale (identically for every split) and split a dataset.

    Run the data doctor first (`doctor.examine`, as `run` does): it reports what this scaling
    cannot fix, such as values beyond EIGHT_BIT_MAX in images of no declared scale.
    """
    x_train, x_test = _images(raw.x_train, "train"), _images(raw.x_test, "test")
    y_train = _labels(raw.y_train, len(x_train), "train")
    y_test = _labels(raw.y_test, len(x_test), "test")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(f"train images are {x_train.shape[1:]} but test images are {x_test.shape[1:]}")
    if not np.isfinite(x_train).all() or not np.isfinite(x_test).all():
        raise DataError("the images contain NaN or infinite values")
    max_pixel = raw.max_pixel or (EIGHT_BIT_MAX if float(x_train.max()) > 1.0 else 1.0)
    x_train = (x_train / np.float32(max_pixel)).astype(np.float32)
    x_test = (x_test / np.float32(max_pixel)).astype(np.float32)
    if pad_to:
        x_train, x_test = _pad(x_train, pad_to), _pad(x_test, pad_to)
    if subset is not None and subset < len(x_train):
        _, x_train, _, y_train = _stratified_split(x_train, y_train, subset, seed)
    classes = len(np.unique(y_train))
    x_train, x_val, y_train, y_val = _stratified_split(x_train, y_train, validation_fraction, seed)
    _check_split_sizes(classes, y_train, y_val, validation_fraction)
    num_classes = int(max(y_train.max(), y_val.max(), y_test.max())) + 1
    return Splits(x_train, y_train, x_val, y_val, x_test, y_test, num_classes)


def load_splits(source: str, *, validation_fraction: float, seed: int, subset: int | None = None,
                pad_to: int | None = None) -> Splits:
    """Read and prepare a dataset once; a worker reuses the result for every trial.

    The split depends only on the seed, so every worker (and `export`) sees the same images.
    """
    return prepare(
        load_raw(source, seed=seed),
        validation_fraction=validation_fraction,
        seed=seed,
        subset=subset,
        pad_to=pad_to,
    )
