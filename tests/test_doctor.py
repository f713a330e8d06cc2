"""The data doctor: each data mistake planted in small arrays is found, real clean data is not
flagged, the two stories users hit are caught, and garbage never makes it raise."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hpsearch.data import doctor
from hpsearch.data.sources import RawData, load_raw
from hpsearch.data.doctor import Finding, examine
from tests.helpers import CIFAR, MNIST, REPO, run_cli

N_TRAIN, N_TEST, CLASSES = 200, 100, 10


def clean(seed: int = 0) -> RawData:
    """200 training and 100 test random 8×8 grayscale uint8 images, 10 balanced classes."""
    rng = np.random.default_rng(seed)
    return RawData(
        x_train=rng.integers(0, 256, (N_TRAIN, 8, 8), dtype=np.uint8),
        y_train=np.arange(N_TRAIN) % CLASSES,
        x_test=rng.integers(0, 256, (N_TEST, 8, 8), dtype=np.uint8),
        y_test=np.arange(N_TEST) % CLASSES,
    )


def found(raw: RawData) -> set[tuple[str, str]]:
    return {(finding.check, finding.severity) for finding in examine(raw)}


def one(raw: RawData, check: str) -> Finding:
    matches = [finding for finding in examine(raw) if finding.check == check]
    assert len(matches) == 1, examine(raw)
    return matches[0]


# ---------------------------------------------------------------------------------------------
# Clean data stays silent


def test_clean_synthetic_data_has_no_findings() -> None:
    assert examine(clean()) == []


def test_grayscale_with_and_without_channel_axis_is_the_same_shape() -> None:
    raw = clean()
    assert examine(replace(raw, x_test=raw.x_test[..., np.newaxis])) == []


def test_float_images_in_unit_range_and_one_hot_labels_are_clean() -> None:
    raw = clean()
    assert examine(replace(
        raw,
        x_train=(raw.x_train / 255).astype(np.float32),
        x_test=(raw.x_test / 255).astype(np.float32),
        y_train=np.eye(CLASSES)[raw.y_train],
        y_test=np.eye(CLASSES, dtype=np.float32)[raw.y_test],
    )) == []


@pytest.mark.parametrize("path", [MNIST, CIFAR], ids=["mnist", "cifar10"])
def test_real_npz_datasets_have_no_findings(shared_data: Path, path: Path) -> None:
    assert examine(load_raw(str(path))) == []


def test_scikit_learn_digits_have_no_findings() -> None:
    assert examine(load_raw("digits")) == []


# ---------------------------------------------------------------------------------------------
# The two stories


def test_story_test_set_never_scaled_like_the_training_set(shared_data: Path) -> None:
    """Train divided by 255, test left in 0..255: val_loss sits at 7 while accuracy climbs."""
    raw = load_raw(str(MNIST))
    raw = replace(raw, x_train=(raw.x_train / 255.0).astype(np.float32))
    findings = examine(raw)
    assert [(f.check, f.severity) for f in findings] == [("scale-mismatch", "severe")]
    assert "x_train runs 0..1 but x_test runs 0..255" in findings[0].message


def test_story_preprocessing_left_almost_every_image_blank(shared_data: Path) -> None:
    """95% of MNIST's training images zeroed: VGG11 sits at chance level."""
    raw = load_raw(str(MNIST))
    x_train = raw.x_train.copy()
    x_train[: int(0.95 * len(x_train))] = 0
    findings = examine(replace(raw, x_train=x_train))
    assert [(f.check, f.severity) for f in findings] == [("blank-images", "severe")]
    assert findings[0].message.startswith(f"95% of x_train ({int(0.95 * len(x_train)):,} of {len(x_train):,}")


# ---------------------------------------------------------------------------------------------
# Each check, its mistake planted in clean synthetic data


def _with_nan(raw: RawData) -> RawData:
    x = raw.x_train.astype(np.float32)
    x[0, 0, :3] = np.nan
    x[5, 1, :2] = np.inf
    return replace(raw, x_train=x)


def _blank(raw: RawData, split: str, count: int, value: int = 0) -> RawData:
    x = getattr(raw, f"x_{split}").copy()
    x[:count] = value
    return replace(raw, **{f"x_{split}": x})


def _one_hot_broken(raw: RawData) -> RawData:
    y = np.eye(CLASSES)[raw.y_train]
    y[3] = 0  # no class
    y[7, :2] = 1  # two classes
    return replace(raw, y_train=y)


def _labels(raw: RawData, **changes: object) -> RawData:
    y = raw.y_train.astype(np.float64)
    for index, value in changes.items():
        y[int(index.removeprefix("at"))] = value
    return replace(raw, y_train=y)


def _copy_to_test(raw: RawData, count: int, dtype: type = np.uint8) -> RawData:
    x_test = raw.x_test.copy()
    x_test[:count] = raw.x_train[10 : 10 + count]
    return replace(raw, x_test=x_test.astype(dtype))


PLANTED: dict[str, tuple[Callable[[RawData], RawData], set[tuple[str, str]]]] = {
    "images not 3-D or 4-D": (
        lambda r: replace(r, x_train=r.x_train.reshape(N_TRAIN, 64)), {("image-format", "severe")}),
    "images of objects": (
        lambda r: replace(r, x_test=r.x_test.astype(object)), {("image-format", "severe")}),
    "test images 9x9, train 8x8": (
        lambda r: replace(r, x_test=np.random.default_rng(1).integers(0, 256, (N_TEST, 9, 9), np.uint8)),
        {("image-shape", "severe")}),
    "test images RGB, train grayscale": (
        lambda r: replace(r, x_test=np.repeat(r.x_test[..., None], 3, axis=-1)), {("image-shape", "severe")}),
    "fewer labels than images": (
        lambda r: replace(r, y_train=r.y_train[:150]), {("label-count", "severe")}),
    "labels shaped (N, 2, 2)": (
        lambda r: replace(r, y_test=np.zeros((N_TEST, 2, 2))), {("label-format", "severe")}),
    "labels as strings": (
        lambda r: replace(r, y_train=r.y_train.astype(str)), {("label-format", "severe")}),
    "NaN and infinite pixels": (_with_nan, {("non-finite", "severe")}),
    "train in [0, 1], test in [0, 255]": (
        lambda r: replace(r, x_train=r.x_train / 255.0), {("scale-mismatch", "severe")}),
    "test in [0, 1], train in [0, 255]": (
        lambda r: replace(r, x_test=(r.x_test / 255.0).astype(np.float32)), {("scale-mismatch", "severe")}),
    "test in 0..15, train in 0..255 (means 17x apart)": (
        lambda r: replace(r, x_test=r.x_test // 16), {("scale-mismatch", "severe")}),
    "pixels beyond the source's max_pixel": (
        lambda r: replace(r, max_pixel=16.0), {("scale-mismatch", "severe")}),
    "60% of training images blank": (
        lambda r: _blank(r, "train", 120), {("blank-images", "severe")}),
    "2% of test images constant": (
        lambda r: _blank(r, "test", 2, value=7), {("blank-images", "warning")}),
    "a label of 0.5": (lambda r: _labels(r, at4=0.5), {("label-values", "severe")}),
    "a label of -1": (lambda r: _labels(r, at4=-1), {("label-values", "severe")}),
    "a NaN label": (lambda r: _labels(r, at4=np.nan), {("label-values", "severe")}),
    "a label of 1e30": (lambda r: _labels(r, at4=1e30), {("label-values", "severe")}),
    "one-hot rows with no 1 and two 1s": (_one_hot_broken, {("one-hot", "severe")}),
    "test class 10 absent from training": (
        lambda r: replace(r, y_test=np.where(r.y_test == 9, 10, r.y_test)), {("unseen-class", "severe")}),
    "test labels 0..9, training labels 1..10": (
        lambda r: replace(r, y_train=r.y_train + 1), {("unseen-class", "severe")}),
    "every training label the same": (
        lambda r: replace(r, y_train=np.full(N_TRAIN, 3)),
        {("single-class", "severe"), ("unseen-class", "severe")}),
    "labels numbered 1..10 in both splits": (
        lambda r: replace(r, y_train=r.y_train + 1, y_test=r.y_test + 1), {("label-gaps", "warning")}),
    "a class with 5 training images": (
        lambda r: replace(r, y_train=np.concatenate([np.arange(195) % 9, np.full(5, 9)])),
        {("rare-class", "warning")}),
    "class 0 eleven times as common as the others": (
        lambda r: replace(r, y_train=np.concatenate([np.zeros(110, int), np.repeat(np.arange(1, 10), 10)])),
        {("class-imbalance", "warning")}),
    "5% of test images copied from training": (
        lambda r: _copy_to_test(r, 5), {("train-test-overlap", "warning")}),
    "20% of test images copied from training": (
        lambda r: _copy_to_test(r, 20), {("train-test-overlap", "severe")}),
    "copies converted to float64": (
        lambda r: _copy_to_test(r, 20, np.float64), {("train-test-overlap", "severe")}),
}


@pytest.mark.parametrize("case", list(PLANTED))
def test_planted_mistake_is_found(case: str) -> None:
    plant, expected = PLANTED[case]
    findings = examine(plant(clean()))
    assert {(f.check, f.severity) for f in findings} == expected, findings
    for finding in findings:
        assert finding.message.endswith(".") and finding.advice.endswith(".")
        for sentence in (finding.message, finding.advice):
            assert not re.search(r"\w\. +[A-Z]", sentence), sentence  # one sentence each


def test_findings_carry_the_numbers() -> None:
    assert one(_with_nan(clean()), "non-finite").message == "x_train has 3 NaN and 2 infinite pixel values."
    assert one(replace(clean(), x_train=clean().x_train / 255.0), "scale-mismatch").message == (
        "x_train runs 0..1 but x_test runs 0..255: one split was scaled to [0, 1] and the other was not.")
    assert "of x_train (128) is 17 times that of x_test (7.49)" in one(
        replace(clean(), x_test=clean().x_test // 16), "scale-mismatch").message
    blank = one(_blank(clean(), "test", 2), "blank-images")
    assert "2% of x_test (2 of 100 images, e.g. indices 0, 1)" in blank.message
    assert "5 of the 100 test images (5.0%)" in one(_copy_to_test(clean(), 5), "train-test-overlap").message
    assert "x_train has 200 images but y_train has 150 labels" in one(
        replace(clean(), y_train=clean().y_train[:150]), "label-count").message
    assert "2 of the 200 rows of y_train are not one-hot (e.g. rows 3, 7" in one(
        _one_hot_broken(clean()), "one-hot").message
    unseen = one(replace(clean(), y_test=np.where(clean().y_test == 9, 10, clean().y_test)), "unseen-class")
    assert unseen.message == (
        "y_test has 10 labels of class 10, which y_train never has (its classes run 0..9).")
    assert "not whole numbers: 1 (e.g. 0.5)" in one(_labels(clean(), at4=0.5), "label-values").message
    assert "class 9: 5" in one(
        replace(clean(), y_train=np.concatenate([np.arange(195) % 9, np.full(5, 9)])), "rare-class").message


def test_severe_findings_come_first() -> None:
    raw = replace(_blank(clean(), "test", 2), x_train=clean().x_train / 255.0)
    assert [(f.check, f.severity) for f in examine(raw)] == [
        ("scale-mismatch", "severe"), ("blank-images", "warning")]


def test_blank_images_are_not_counted_as_shared_between_splits() -> None:
    raw = _blank(_blank(clean(), "train", 3), "test", 3)
    assert found(raw) == {("blank-images", "warning")}


# ---------------------------------------------------------------------------------------------
# Garbage in, findings out: never an exception


GARBAGE: dict[str, RawData] = {
    "object arrays": RawData(np.array([object()] * 4), np.array([object()] * 4),
                             np.empty((2, 8, 8), dtype=object), np.array(["a", "b"], dtype=object)),
    "1-D images": RawData(np.arange(10.0), np.arange(10), np.arange(5.0), np.arange(5)),
    "mismatched lengths everywhere": RawData(np.zeros((10, 4, 4)), np.zeros(3), np.ones((2, 5, 5, 2)),
                                             np.eye(4)[[0, 1, 2, 3, 1]]),
    "None everywhere": RawData(None, None, None, None),  # type: ignore[arg-type]
    "ragged nested lists": RawData([[1, 2], [3]], [[1], [2, 3]], [[[1]]], [0]),  # type: ignore[arg-type]
    "empty splits": RawData(np.zeros((0, 8, 8)), np.zeros(0), np.zeros((0, 8, 8)), np.zeros(0)),
    "scalars": RawData(np.float64(3), np.int64(1), 7, "x"),  # type: ignore[arg-type]
    "complex pixels": RawData(np.ones((4, 2, 2), complex), np.arange(4), np.ones((2, 2, 2)), np.arange(2)),
    "5-D images": RawData(np.zeros((4, 2, 2, 2, 2)), np.arange(4), np.zeros((4, 2, 2, 2, 2)), np.arange(4)),
    "all-NaN images": RawData(np.full((4, 3, 3), np.nan), np.arange(4),
                              np.full((2, 3, 3), np.inf), np.arange(2)),
    "infinite and huge labels": RawData(np.ones((3, 2, 2)), np.array([np.inf, 1e300, -1e300]),
                                        np.ones((2, 2, 2)), np.array([2**63 - 1, 0], dtype=np.uint64)),
    "one-hot rows of width 0": RawData(np.ones((3, 2, 2)), np.zeros((3, 0)),
                                       np.ones((3, 2, 2)), np.zeros((3, 0))),
    "int8 extremes": RawData(np.full((3, 2, 2), -128, np.int8), np.arange(3),
                             np.full((3, 2, 2), 127, np.int8), np.arange(3)),
    "float16 with NaN": RawData(np.array([[[np.nan, 1], [2, 3]]], np.float16), np.array([0]),
                                np.zeros((1, 2, 2), np.float16), np.array([5])),
}


@pytest.mark.parametrize("case", list(GARBAGE))
def test_garbage_becomes_findings_without_raising(case: str) -> None:
    findings = examine(GARBAGE[case])
    assert findings and all(isinstance(finding, Finding) for finding in findings)
    assert any(finding.severity == "severe" for finding in findings), findings
    assert not [finding for finding in findings if finding.check == "doctor-error"], findings


def test_not_even_raw_data_is_a_finding() -> None:
    assert {f.check for f in examine(object())} == {"image-format", "label-format"}  # type: ignore[arg-type]


def test_a_check_that_crashes_becomes_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    def _check_broken(data: object) -> list[Finding]:
        raise RuntimeError("unforeseen")

    monkeypatch.setattr(doctor, "CHECKS", (_check_broken, *doctor.CHECKS))
    findings = examine(replace(clean(), x_train=clean().x_train / 255.0))
    assert [(f.check, f.severity) for f in findings] == [
        ("scale-mismatch", "severe"), ("doctor-error", "warning")]
    assert "broken could not run (RuntimeError: unforeseen)" in findings[1].message


def test_import_is_fast_and_loads_no_tensorflow() -> None:
    code = ("import sys, hpsearch.data.doctor; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'sklearn', 'optuna') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _unscaled_test_set(path: Path) -> Path:
    """MNIST whose training images were scaled to [0, 1] but whose test images were not."""
    with np.load(MNIST) as mnist:
        np.savez(path, x_train=mnist["x_train"][:600] / 255.0, y_train=mnist["y_train"][:600],
                 x_test=mnist["x_test"][:200], y_test=mnist["y_test"][:200])
    return path


def test_doctor_command_reports_and_exits_non_zero_on_severe(shared_data: Path, tmp_path: Path) -> None:
    clean = run_cli("doctor", "--data", str(CIFAR))
    assert clean.returncode == 0 and "no problems found" in clean.stdout
    bad = run_cli("doctor", "--data", str(_unscaled_test_set(tmp_path / "bad.npz")))
    assert bad.returncode == 1 and "scale-mismatch" in bad.stdout


def test_run_stops_on_severe_data_problems_unless_forced(shared_data: Path, tmp_path: Path) -> None:
    data = _unscaled_test_set(tmp_path / "bad.npz")
    storage = f"sqlite:///{tmp_path}/s.db"
    stopped = run_cli("run", "digits-quick", "--data", str(data), "--storage", storage)
    assert stopped.returncode == 2, stopped.stderr
    assert "x_train runs 0..1 but x_test runs 0..255" in stopped.stderr and "--force" in stopped.stderr
    forced = run_cli("run", "digits-quick", "--data", str(data), "--storage", storage,
                     "--trials", "1", "--epochs", "1", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "scale-mismatch" in forced.stdout
