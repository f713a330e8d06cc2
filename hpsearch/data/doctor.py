"""Data doctor: catch the data mistakes that leave a CNN stuck, before any training.

A network that sits at chance level, or whose validation loss stays high while its accuracy
climbs, often has nothing wrong with it: its data is wrong. `examine` looks at the arrays as they
were loaded (before scaling and splitting) and returns findings, each saying what is wrong, with
numbers, and what to do about it.

Pure numpy, so importing it is fast (no TensorFlow). It never raises on bad data, because bad data
is what it is for: arrays of the wrong shape or type become findings too. Large datasets are read
in chunks, so 60,000 CIFAR-sized images take about a second (a few as float32) and little extra
memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from hpsearch.data.sources import EIGHT_BIT_MAX, RawData

SPLITS = ("train", "test")

# Scale: a split whose values stay at or below SCALE_UNIT_MAX was scaled to [0, 1]; next to one
# that reaches above SCALE_RAW_MAX, the two were not scaled alike (the [0, 1] vs [0, 255] mistake).
SCALE_UNIT_MAX = 1.0
SCALE_RAW_MAX = 1.5
# Typical pixel magnitudes (mean |value| over the non-blank images) of the two splits further apart
# than this factor: the splits are on different scales even where their ranges overlap.
SCALE_MEAN_RATIO = 10.0
# Pixel values beyond the source's known max_pixel by this factor: the source's scale is wrong.
SCALE_KNOWN_SLACK = 1.5

# Blank images (every pixel the same value): this fraction of a split is severe, this one a warning.
BLANK_SEVERE_FRACTION = 0.5
BLANK_WARNING_FRACTION = 0.01

# Labels: class numbers above this are not classes (a mask value, a sentinel, garbage); the
# network would get that many outputs.
MAX_CLASS_NUMBER = 100_000
# A class with fewer training images than this can hardly be learned (and barely split off).
RARE_CLASS_IMAGES = 10
# Largest over smallest training class count above this: accuracy, the metric, rewards majority guessing.
IMBALANCE_RATIO = 10.0

# Test images that are exact copies of training images: any is a warning, this fraction severe.
OVERLAP_SEVERE_FRACTION = 0.10

CHUNK_ELEMENTS = 1 << 22  # pixels read at a time, bounding the extra memory the checks need
EXAMPLES = 5  # examples (indices, classes) named in a message


@dataclass(frozen=True)
class Finding:
    severity: Literal["severe", "warning"]
    check: str  # short id, e.g. "scale-mismatch"
    message: str  # one sentence: what is wrong, with numbers
    advice: str  # one sentence: what to do


# ---------------------------------------------------------------------------------------------
# Reading the raw arrays defensively: each becomes a usable array or the reason it is not one.


def _is_real_number(dtype: np.dtype) -> bool:
    return bool(np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating))


def _image_form(x: object) -> np.ndarray | str:
    """x as numeric (N, H, W, C) images, or why it cannot be read as images."""
    try:
        array = np.asarray(x)
    except Exception as error:  # noqa: BLE001 - ragged lists and whatever else numpy cannot stack
        return f"is not an array ({type(error).__name__})"
    if array.dtype == np.bool_:
        array = array.view(np.uint8)
    if not _is_real_number(array.dtype):
        return f"holds {array.dtype} values, not numbers"
    if array.ndim == 3:  # grayscale (N, H, W): the channel axis prepare() adds
        array = array[..., np.newaxis]
    if array.ndim != 4:
        return f"has shape {array.shape}, not images (N, H, W) or (N, H, W, C)"
    if array.size == 0:
        return f"has shape {array.shape}, which holds no pixels"
    return array


def _label_form(y: object) -> np.ndarray | str:
    """y as numeric class numbers (N,) or one-hot rows (N, K), or why it is neither."""
    try:
        array = np.asarray(y)
    except Exception as error:  # noqa: BLE001 - as for images
        return f"is not an array ({type(error).__name__})"
    if array.dtype == np.bool_:
        array = array.view(np.uint8)
    if not _is_real_number(array.dtype):
        return f"holds {array.dtype} values, not numbers"
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim not in (1, 2) or (array.ndim == 2 and array.shape[1] == 0):
        return f"has shape {array.shape}, not class numbers (N,) or one-hot rows (N, K)"
    return array


def _label_value_problems(labels: np.ndarray) -> list[str]:
    """What keeps 1-D labels from being class numbers 0, 1, 2, ... (empty when nothing does)."""
    finite = np.isfinite(labels)
    with np.errstate(invalid="ignore"):
        fractional = finite & (np.mod(labels, 1) != 0)
        negative = finite & (labels < 0)
        huge = finite & (labels > MAX_CLASS_NUMBER)
    problems = []
    if not finite.all():
        problems.append(f"NaN or infinite: {_count(~finite)}")
    for mask, what in ((fractional, "not whole numbers"), (negative, "negative"),
                       (huge, f"above {MAX_CLASS_NUMBER:,}")):
        if mask.any():
            problems.append(f"{what}: {_count(mask)} (e.g. {_num(labels[mask][0])})")
    return problems


def _bad_one_hot_rows(rows: np.ndarray) -> np.ndarray:
    """A mask of the rows that are not one-hot: all values 0 or 1, exactly one of them 1."""
    ones = rows == 1
    return ~(((rows == 0) | ones).all(axis=1) & (ones.sum(axis=1) == 1))


@dataclass(frozen=True)
class _Stats:
    """Per-image pixel statistics of one split, over its finite pixels."""

    nan: int
    inf: int
    low: np.ndarray  # smallest finite pixel per image (+inf when there is none)
    high: np.ndarray  # largest finite pixel per image (-inf when there is none)
    magnitude: np.ndarray  # sum of |finite pixel| per image
    finite: np.ndarray  # finite pixels per image

    @property
    def blank(self) -> np.ndarray:
        return self.low == self.high

    def value_range(self) -> tuple[float, float] | None:
        has = self.finite > 0
        return (float(self.low[has].min()), float(self.high[has].max())) if has.any() else None

    def typical(self) -> float | None:
        """Mean |pixel| over the images that are not blank (blank ones are the blank check's)."""
        seen = ~self.blank & (self.finite > 0)
        return float(self.magnitude[seen].sum() / self.finite[seen].sum()) if seen.any() else None


def _chunks(images: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(start, chunk of images flattened to rows), a bounded number of pixels at a time."""
    rows = max(1, CHUNK_ELEMENTS // int(np.prod(images.shape[1:])))
    for start in range(0, len(images), rows):
        chunk = images[start : start + rows]
        yield start, chunk.reshape(len(chunk), -1)


def _image_stats(images: np.ndarray) -> _Stats:
    """One pass over a split for what the pixel checks need (NaN and infinite pixels are left out)."""
    nan = inf = 0
    lows, highs, magnitudes, finites = [], [], [], []
    for _, chunk in _chunks(images):
        count = np.full(len(chunk), chunk.shape[1])
        finite = np.isfinite(chunk) if np.issubdtype(chunk.dtype, np.floating) else None
        if finite is not None and not finite.all():
            nan += int(np.isnan(chunk).sum())
            inf += int(np.isinf(chunk).sum())
            low = np.where(finite, chunk, np.inf).min(axis=1)
            high = np.where(finite, chunk, -np.inf).max(axis=1)
            magnitude = np.abs(np.where(finite, chunk, 0)).sum(axis=1, dtype=np.float64)
            count = finite.sum(axis=1)
        else:
            low, high = chunk.min(axis=1), chunk.max(axis=1)
            if np.issubdtype(chunk.dtype, np.unsignedinteger):
                magnitude = chunk.sum(axis=1, dtype=np.float64)
            else:
                magnitude = np.abs(chunk.astype(np.float64)).sum(axis=1)
        lows.append(low.astype(np.float64))
        highs.append(high.astype(np.float64))
        magnitudes.append(magnitude)
        finites.append(count)
    join = np.concatenate
    return _Stats(nan, inf, join(lows), join(highs), join(magnitudes), join(finites))


class _Data:
    """The raw arrays, read once: usable forms, the reasons they are unusable, cached statistics."""

    def __init__(self, raw: RawData) -> None:
        self.max_pixel = getattr(raw, "max_pixel", None)
        self.image_forms = {s: _image_form(getattr(raw, f"x_{s}", None)) for s in SPLITS}
        self.label_forms = {s: _label_form(getattr(raw, f"y_{s}", None)) for s in SPLITS}
        self._stats: dict[str, _Stats] = {}

    def images(self, split: str) -> np.ndarray | None:
        form = self.image_forms[split]
        return form if isinstance(form, np.ndarray) else None

    def labels(self, split: str) -> np.ndarray | None:
        form = self.label_forms[split]
        return form if isinstance(form, np.ndarray) else None

    def stats(self, split: str) -> _Stats | None:
        images = self.images(split)
        if images is None:
            return None
        if split not in self._stats:
            self._stats[split] = _image_stats(images)
        return self._stats[split]

    def classes(self, split: str) -> np.ndarray | None:
        """Labels as int64 class numbers, or None while their format or values are wrong."""
        labels = self.labels(split)
        if labels is None or len(labels) == 0:
            return None
        if labels.ndim == 2:
            return None if _bad_one_hot_rows(labels).any() else labels.argmax(axis=1)
        return None if _label_value_problems(labels) else labels.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Formatting


def _num(value: float) -> str:
    return f"{float(value):.3g}"


def _count(mask: np.ndarray) -> str:
    return f"{int(np.count_nonzero(mask)):,}"


def _some(values: np.ndarray | list[int]) -> str:
    """The first few of many values, e.g. '3, 17, 42, ...'."""
    shown = ", ".join(str(int(v)) for v in values[:EXAMPLES])
    return shown + (", ..." if len(values) > EXAMPLES else "")


def _shape(shape: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in shape)


def _classes(classes: np.ndarray | list[int]) -> str:
    return ("class " if len(classes) == 1 else "classes ") + _some(classes)


def _class_counts(classes: np.ndarray) -> dict[int, int]:
    found, counts = np.unique(classes, return_counts=True)
    return {int(c): int(n) for c, n in zip(found, counts, strict=True)}


# ---------------------------------------------------------------------------------------------
# The checks: each takes the read data and returns its findings (none when all is well).


def _unusable_forms(check: str, array: str, forms: dict[str, Any], advice: str) -> list[Finding]:
    """A severe finding for each split whose array has a form (a string saying what is wrong)
    that training cannot take."""
    return [Finding("severe", check, f"{array}_{split} {form}.", advice)
            for split, form in forms.items() if isinstance(form, str)]


def _check_image_format(data: _Data) -> list[Finding]:
    """Images that are not numeric 3-D/4-D arrays cannot be fed to a Conv2D at all."""
    return _unusable_forms("image-format", "x", data.image_forms,
                           "Give images as a numeric array shaped (N, H, W) or (N, H, W, C).")


def _check_image_shapes(data: _Data) -> list[Finding]:
    """Train and test images must have the same height, width and channels."""
    train, test = data.images("train"), data.images("test")
    if train is None or test is None or train.shape[1:] == test.shape[1:]:
        return []
    return [Finding(
        "severe", "image-shape",
        f"training images are {_shape(train.shape[1:])} (H×W×C) "
        f"but test images are {_shape(test.shape[1:])}.",
        "Resize or pad the test images to the training images' shape, with the same channels "
        "(grayscale vs RGB).",
    )]


def _check_label_format(data: _Data) -> list[Finding]:
    """Labels must be numeric class numbers or one-hot rows."""
    return _unusable_forms("label-format", "y", data.label_forms,
                           "Give labels as integer class numbers 0, 1, 2, ... (N,) or one-hot rows (N, K).")


def _per_split(finding: Callable[[str], Finding | None]) -> list[Finding]:
    """What `finding` says of each split (None: that split is fine)."""
    return [found for split in SPLITS if (found := finding(split)) is not None]


def _check_label_count(data: _Data) -> list[Finding]:
    """One label per image: otherwise images and labels are paired wrongly or not at all."""

    def finding(split: str) -> Finding | None:
        images, labels = data.images(split), data.labels(split)
        if images is None or labels is None or len(images) == len(labels):
            return None
        return Finding(
            "severe", "label-count",
            f"x_{split} has {len(images):,} images but y_{split} has {len(labels):,} labels.",
            f"Give exactly one label per image, in the same order (check how x_{split} and "
            f"y_{split} were filtered or shuffled).",
        )

    return _per_split(finding)


def _check_one_hot(data: _Data) -> list[Finding]:
    """2-D labels are read as one-hot: a row with no 1, several 1s or soft values is misread."""

    def finding(split: str) -> Finding | None:
        labels = data.labels(split)
        bad = _bad_one_hot_rows(labels) if labels is not None and labels.ndim == 2 else None
        if bad is None or not bad.any():
            return None
        return Finding(
            "severe", "one-hot",
            f"{_count(bad)} of the {len(labels):,} rows of y_{split} are not one-hot "  # type: ignore[arg-type]
            f"(e.g. rows {_some(np.flatnonzero(bad))}: not exactly one 1 among 0s).",
            "Encode each label as exactly one 1 among 0s, or give integer class numbers instead.",
        )

    return _per_split(finding)


def _check_label_values(data: _Data) -> list[Finding]:
    """Class-number labels must be whole numbers from 0 up (sparse categorical cross-entropy)."""

    def finding(split: str) -> Finding | None:
        labels = data.labels(split)
        problems = _label_value_problems(labels) if labels is not None and labels.ndim == 1 else []
        if not problems:
            return None
        return Finding(
            "severe", "label-values",
            f"y_{split} has labels that are not class numbers 0, 1, 2, ...: {'; '.join(problems)}.",
            "Map the labels to whole class numbers 0, 1, 2, ... (the same mapping for both splits).",
        )

    return _per_split(finding)


def _check_non_finite(data: _Data) -> list[Finding]:
    """One NaN or infinite pixel turns the loss into NaN and ends the training."""

    def finding(split: str) -> Finding | None:
        stats = data.stats(split)
        if stats is None or not stats.nan + stats.inf:
            return None
        return Finding(
            "severe", "non-finite",
            f"x_{split} has {stats.nan:,} NaN and {stats.inf:,} infinite pixel values.",
            "Find where they come from (a division by zero in normalization, a failed load) and "
            "fix or drop those images.",
        )

    return _per_split(finding)


def _check_scale_mismatch(data: _Data) -> list[Finding]:
    """Both splits go through the same scaling, so they must start on the same scale.

    The classic case: training images scaled to [0, 1] and test images left in [0, 255]; the
    network then sees test inputs 255 times too bright, and validation loss stays high.
    """
    findings = []
    stats = {split: data.stats(split) for split in SPLITS}
    ranges = {split: s.value_range() for split, s in stats.items() if s is not None}
    try:
        known = float(data.max_pixel) if data.max_pixel is not None else None
    except (TypeError, ValueError):
        known = None
    if known is not None and np.isfinite(known) and known > 0:
        for split, (_, high) in ranges.items():
            if high > known * SCALE_KNOWN_SLACK:
                findings.append(Finding(
                    "severe", "scale-mismatch",
                    f"x_{split} reaches {_num(high)} but the data's pixel scale is {_num(known)}.",
                    "Give the images on the scale their source declares, or correct the declared scale.",
                ))
    if len(ranges) < 2 or any(s is None or s.typical() is None for s in stats.values()):
        return findings  # unreadable, non-finite or blank splits have findings of their own
    small, large = sorted(SPLITS, key=lambda split: ranges[split][1])
    (small_low, small_high), (large_low, large_high) = ranges[small], ranges[large]
    typical = {split: s.typical() for split, s in stats.items()}
    ratio = max(typical.values()) / min(typical.values())
    advice = ("Scale the training and test images the same way, or give both unscaled (e.g. 0..255) "
              "and let hpsearch scale them.")
    if small_high <= SCALE_UNIT_MAX and large_high > SCALE_RAW_MAX:
        findings.append(Finding(
            "severe", "scale-mismatch",
            f"x_{small} runs {_num(small_low)}..{_num(small_high)} but x_{large} runs "
            f"{_num(large_low)}..{_num(large_high)}: one split was scaled to [0, 1] and the other was not.",
            advice,
        ))
    elif ratio > SCALE_MEAN_RATIO:
        big, little = sorted(SPLITS, key=lambda split: -typical[split])
        findings.append(Finding(
            "severe", "scale-mismatch",
            f"the mean pixel magnitude of x_{big} ({_num(typical[big])}) is {ratio:.0f} times that of "
            f"x_{little} ({_num(typical[little])}): the splits are on different scales.",
            advice,
        ))
    return findings


def _check_beyond_8_bit(data: _Data) -> list[Finding]:
    """Images of no declared scale are taken as 8-bit and divided by 255 (`sources.prepare`), so
    16-bit images (0..65535) would reach the network at up to 257 instead of 1."""
    if data.max_pixel is not None:
        return []  # a declared scale is the scale-mismatch check's business

    def finding(split: str) -> Finding | None:
        stats = data.stats(split)
        found = stats.value_range() if stats is not None else None
        if found is None or found[1] <= EIGHT_BIT_MAX:
            return None
        return Finding(
            "severe", "pixel-range",
            f"x_{split} reaches {found[1]:,.0f}, beyond the 8-bit range 0..{EIGHT_BIT_MAX:.0f} that hpsearch "
            f"assumes (16-bit images?), so its scaling by 1/{EIGHT_BIT_MAX:.0f} would leave values up to "
            f"{_num(found[1] / EIGHT_BIT_MAX)} instead of 1.",
            "Scale the images to 0..255 (or to 0..1 as floats) before saving them, with the same factor "
            "for the training and test images.",
        )

    return _per_split(finding)


def _check_blank_images(data: _Data) -> list[Finding]:
    """Images with every pixel the same carry no information: usually a preprocessing bug."""
    findings = []
    for split in SPLITS:
        stats = data.stats(split)
        if stats is None:
            continue
        blank = stats.blank
        fraction = float(blank.mean())
        if fraction < BLANK_WARNING_FRACTION:
            continue
        severe = fraction >= BLANK_SEVERE_FRACTION
        findings.append(Finding(
            "severe" if severe else "warning", "blank-images",
            f"{fraction:.0%} of x_{split} ({_count(blank)} of {len(blank):,} images, e.g. indices "
            f"{_some(np.flatnonzero(blank))}) are blank: every pixel has the same value.",
            "Check the preprocessing that produced them (an overwritten array, a wrong index, an "
            "integer division that floored to 0); a network cannot learn from blank images."
            if severe else
            "Look at a few of them, and drop them if they are load or preprocessing failures.",
        ))
    return findings


def _check_unseen_classes(data: _Data) -> list[Finding]:
    """A test class the network never trained on can never be predicted right."""
    train, test = data.classes("train"), data.classes("test")
    if train is None or test is None:
        return []
    unseen = ~np.isin(test, np.unique(train))
    if not unseen.any():
        return []
    missing = np.unique(test[unseen])
    return [Finding(
        "severe", "unseen-class",
        f"y_test has {_count(unseen)} label{'s' if unseen.sum() > 1 else ''} of {_classes(missing)}, which "
        f"y_train never has (its classes run {int(train.min())}..{int(train.max())}).",
        "Number the classes the same way in both splits, or drop the test images of classes "
        "the training set lacks.",
    )]


def _check_class_count(data: _Data) -> list[Finding]:
    """With a single class there is nothing to learn: usually labels overwritten by one value."""
    train = data.classes("train")
    if train is None or len(np.unique(train)) > 1:
        return []
    return [Finding(
        "severe", "single-class",
        f"all {len(train):,} training labels are class {int(train[0])}.",
        "Check how the labels were built; a classifier needs at least two classes.",
    )]


def _check_label_gaps(data: _Data) -> list[Finding]:
    """Class numbers that no image has still get an output unit (e.g. labels numbered from 1)."""
    present = [c for c in (data.classes(split) for split in SPLITS) if c is not None and len(c)]
    if not present:
        return []
    used = np.unique(np.concatenate(present))
    top = int(used.max())
    missing = top + 1 - len(used)
    if missing == 0:
        return []
    absent = np.setdiff1d(np.arange(min(top + 1, MAX_CLASS_NUMBER + 1)), used)
    return [Finding(
        "warning", "label-gaps",
        f"labels run up to {top} but {missing:,} class number{'s' if missing > 1 else ''} below it "
        f"{'have' if missing > 1 else 'has'} no images (e.g. {_some(absent)}), so the network gets "
        f"{top + 1:,} outputs for {len(used):,} classes.",
        "Renumber the classes 0, 1, 2, ... without gaps (labels numbered from 1 are the usual cause).",
    )]


def _check_rare_classes(data: _Data) -> list[Finding]:
    """A class with a handful of training images can hardly be learned or validated."""
    train = data.classes("train")
    if train is None:
        return []
    rare = {c: n for c, n in _class_counts(train).items() if n < RARE_CLASS_IMAGES}
    if not rare:
        return []
    shown = ", ".join(f"class {c}: {n}" for c, n in list(rare.items())[:EXAMPLES])
    return [Finding(
        "warning", "rare-class",
        f"{len(rare)} class{'es have' if len(rare) > 1 else ' has'} fewer than {RARE_CLASS_IMAGES} "
        f"training images ({shown}{', ...' if len(rare) > EXAMPLES else ''}).",
        "Collect more images of those classes, or merge or drop them.",
    )]


def _check_class_imbalance(data: _Data) -> list[Finding]:
    """The metric is accuracy: on very unbalanced classes, guessing the big class scores well."""
    train = data.classes("train")
    if train is None:
        return []
    counts = _class_counts(train)
    if len(counts) < 2:
        return []
    largest, smallest = max(counts, key=counts.get), min(counts, key=counts.get)
    ratio = counts[largest] / counts[smallest]
    if ratio <= IMBALANCE_RATIO:
        return []
    return [Finding(
        "warning", "class-imbalance",
        f"class {largest} has {counts[largest]:,} training images but class {smallest} only "
        f"{counts[smallest]:,} ({ratio:.0f} to 1), and accuracy rewards predicting the big classes.",
        "Balance the classes (resample, or collect more of the small ones) before trusting accuracy.",
    )]


def _digests(images: np.ndarray, dtype: np.dtype, keep: np.ndarray) -> Iterator[bytes]:
    """A hash of each kept image's bytes, after converting to `dtype` (so uint8 30 == float 30.0)."""
    for start, chunk in _chunks(images):
        chunk = np.ascontiguousarray(chunk, dtype=dtype)
        if np.issubdtype(dtype, np.floating):
            chunk = chunk + dtype.type(0)  # -0.0 becomes 0.0, so equal images hash alike
        for row, wanted in zip(chunk, keep[start : start + len(chunk)], strict=True):
            if wanted:
                yield hashlib.blake2b(row.data, digest_size=16).digest()


def _check_train_test_overlap(data: _Data) -> list[Finding]:
    """Test images that are training images make test accuracy a measure of memory."""
    train, test = data.images("train"), data.images("test")
    train_stats, test_stats = data.stats("train"), data.stats("test")
    if train is None or test is None or train_stats is None or test_stats is None:
        return []
    if train.shape[1:] != test.shape[1:]:
        return []
    dtype = np.result_type(train.dtype, test.dtype)
    # Blank images are the blank check's business: every blank image would be "shared".
    seen = set(_digests(train, dtype, ~train_stats.blank))
    shared = sum(digest in seen for digest in _digests(test, dtype, ~test_stats.blank))
    if not shared:
        return []
    fraction = shared / len(test)
    return [Finding(
        "severe" if fraction > OVERLAP_SEVERE_FRACTION else "warning", "train-test-overlap",
        f"{shared:,} of the {len(test):,} test images ({fraction:.1%}) are exact copies of training images.",
        "Remove the copies from one of the splits: accuracy on images the network trained on "
        "overstates how well it generalizes.",
    )]


CHECKS: tuple[Callable[[_Data], list[Finding]], ...] = (
    _check_image_format,
    _check_image_shapes,
    _check_label_format,
    _check_label_count,
    _check_one_hot,
    _check_label_values,
    _check_non_finite,
    _check_scale_mismatch,
    _check_beyond_8_bit,
    _check_blank_images,
    _check_unseen_classes,
    _check_class_count,
    _check_label_gaps,
    _check_rare_classes,
    _check_class_imbalance,
    _check_train_test_overlap,
)


def _internal_error(what: str, error: Exception) -> Finding:
    return Finding(
        "warning", "doctor-error",
        f"the data check {what} could not run ({type(error).__name__}: {error}).",
        "Inspect the arrays' shapes and types by hand; this is a bug in hpsearch's data checks.",
    )


def examine(raw: RawData) -> list[Finding]:
    """Check the raw arrays as loaded (before scaling and splitting); severe findings first.

    An empty list means nothing looks wrong. Never raises: unusable arrays are findings, and a
    check that fails on data nobody foresaw reports itself as a "doctor-error" warning.
    """
    try:
        data = _Data(raw)
    except Exception as error:  # noqa: BLE001 - e.g. an object whose attributes raise when read
        return [_internal_error("setup", error)]
    findings: list[Finding] = []
    for check in CHECKS:
        try:
            with np.errstate(all="ignore"):
                findings.extend(check(data))
        except Exception as error:  # noqa: BLE001 - the doctor must never be what crashes
            findings.append(_internal_error(check.__name__.removeprefix("_check_"), error))
    return sorted(findings, key=lambda finding: finding.severity != "severe")
