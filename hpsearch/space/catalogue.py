"""The catalogue of hyperparameters hpsearch knows.

This is the one place that knows each hyperparameter's default, its legal values and where it
applies (the whole network, each conv block, or each dense layer). The study file format
(`spec.py`), the sampler glue (`sampling.py`) and the trial's description (`architecture.py`,
whose fields are made from it) all read it, so adding a hyperparameter means adding one entry
here and the model or training code that uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Scope = Literal["network", "block", "dense"]

INITIALIZERS = (
    "he_normal",
    "he_uniform",
    "glorot_normal",
    "glorot_uniform",
    "lecun_normal",
    "lecun_uniform",
)
BATCH_NORM_PLACEMENTS = ("none", "before_activation", "after_activation", "after_pooling")
# Learning-rate schedules over a trial's full length (see `recipe.TrialSchedule`).
LR_SCHEDULES = ("constant", "cosine", "linear", "step")


@dataclass(frozen=True)
class Parameter:
    """One hyperparameter: its type, default, legal values and scope."""

    name: str
    kind: type  # int, float, str or bool
    default: Any
    scope: Scope
    help: str
    minimum: float | None = None  # inclusive
    maximum: float | None = None  # exclusive when `open_maximum`, else inclusive
    open_maximum: bool = False
    choices: tuple[Any, ...] | None = None

    def problem(self, value: Any) -> str | None:
        """Say why `value` is not a legal value of this parameter, or None when it is."""
        if self.kind is bool:
            if not isinstance(value, bool):
                return f"must be true or false (got {value!r})"
            return None
        if self.kind is str:
            if value not in (self.choices or ()):
                return f"must be one of {', '.join(map(str, self.choices or ()))} (got {value!r})"
            return None
        numeric_types: tuple[type, ...] = (int,) if self.kind is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, numeric_types):
            kind = "a whole number" if self.kind is int else "a number"
            return f"must be {kind} (got {value!r})"
        if self.minimum is not None and value < self.minimum:
            return f"must be at least {self.minimum:g} (got {value!r})"
        if self.maximum is not None:
            too_big = value >= self.maximum if self.open_maximum else value > self.maximum
            if too_big:
                bound = "below" if self.open_maximum else "at most"
                return f"must be {bound} {self.maximum:g} (got {value!r})"
        return None


def _p(name: str, kind: type, default: Any, scope: Scope, help: str, **limits: Any) -> Parameter:
    return Parameter(name=name, kind=kind, default=default, scope=scope, help=help, **limits)


_CATALOGUE = (
    # The shape of the convolutional trunk.
    _p("blocks", int, 3, "network", "number of conv blocks", minimum=1, maximum=8),
    _p("convs_per_block", int, 2, "block", "conv layers in a block", minimum=1, maximum=6),
    _p("base_filters", int, 32, "network", "filters in the first block", minimum=1, maximum=4096),
    _p(
        "filter_growth",
        float,
        2.0,
        "network",
        "filters multiply by this from block to block (1 constant, 2 doubling, 0.5 shrinking)",
        minimum=0.1,
        maximum=4.0,
    ),
    _p("max_filters", int, 512, "network", "cap on filters in any block", minimum=1, maximum=4096),
    _p("kernel_size", int, 3, "block", "conv kernel size", minimum=1, maximum=11),
    _p(
        "downsample",
        str,
        "max_pool",
        "network",
        "how a block halves the image: 2x2 max-pooling, or a stride-2 last convolution",
        choices=("max_pool", "strided"),
    ),
    _p("activation", str, "relu", "network", "activation", choices=("relu", "elu", "gelu", "swish")),
    _p("initializer", str, "glorot_uniform", "network", "weight initializer", choices=INITIALIZERS),
    _p(
        "batch_norm",
        str,
        "none",
        "network",
        "where conv blocks get batch normalization",
        choices=BATCH_NORM_PLACEMENTS,
    ),
    _p(
        "conv_dropout",
        float,
        0.0,
        "block",
        "dropout after the block (0 places none there)",
        minimum=0.0,
        maximum=1.0,
        open_maximum=True,
    ),
    # The classifier head.
    _p(
        "head",
        str,
        "flatten",
        "network",
        "how the trunk meets the dense head",
        choices=("flatten", "global_average"),
    ),
    _p("head_batch_norm", bool, False, "network", "batch normalization before the dense head"),
    _p("dense_layers", int, 1, "network", "hidden dense layers", minimum=0, maximum=4),
    _p("dense_units", int, 128, "dense", "units in a hidden dense layer", minimum=1, maximum=8192),
    _p(
        "dense_dropout",
        float,
        0.0,
        "dense",
        "dropout after a hidden dense layer",
        minimum=0.0,
        maximum=1.0,
        open_maximum=True,
    ),
    _p(
        "max_norm",
        float,
        0.0,
        "network",
        "max-norm constraint on hidden dense weights (0 for none)",
        minimum=0.0,
    ),
    # Data augmentation, done by layers inside the model so it runs on the accelerator.
    _p("augment_flip", bool, False, "network", "random horizontal flips"),
    _p(
        "augment_shift",
        float,
        0.0,
        "network",
        "random shifts, as a fraction of the image size",
        minimum=0.0,
        maximum=0.5,
    ),
    _p(
        "augment_crop",
        int,
        0,
        "network",
        "pad each image by this many pixels and crop a random window back (CIFAR: 4); 0 for none",
        minimum=0,
        maximum=64,
    ),
    _p(
        "augment_cutout",
        int,
        0,
        "network",
        "blank a random square of this many pixels a side in each image (CIFAR: 8-16); 0 for none",
        minimum=0,
        maximum=256,
    ),
    # Training.
    _p(
        "optimizer",
        str,
        "adam",
        "network",
        "optimizer (sgd uses Nesterov momentum)",
        choices=("adam", "adamw", "rmsprop", "sgd"),
    ),
    _p("learning_rate", float, 1e-3, "network", "(peak) learning rate", minimum=1e-8, maximum=10.0),
    _p(
        "lr_schedule",
        str,
        "constant",
        "network",
        "learning rate over the trial's epochs: constant, cosine or linear decay to 0, "
        "step (x0.1 at 50% and 75%)",
        choices=LR_SCHEDULES,
    ),
    _p(
        "warmup_epochs",
        int,
        0,
        "network",
        "epochs of linear warmup to the learning rate before the schedule",
        minimum=0,
        maximum=1000,
    ),
    _p(
        "weight_decay",
        float,
        0.0,
        "network",
        "decoupled weight decay (any optimizer; each step shrinks weights by rate x decay)",
        minimum=0.0,
        maximum=10.0,
    ),
    _p(
        "label_smoothing",
        float,
        0.0,
        "network",
        "label smoothing of the training loss",
        minimum=0.0,
        maximum=1.0,
        open_maximum=True,
    ),
    _p(
        "momentum",
        float,
        0.9,
        "network",
        "SGD momentum (sgd only)",
        minimum=0.0,
        maximum=1.0,
        open_maximum=True,
    ),
    _p("nesterov", bool, True, "network", "Nesterov momentum (sgd only)"),
    _p("clipnorm", float, 0.0, "network", "gradient norm clipping (0 for none)", minimum=0.0),
    _p("batch_size", int, 64, "network", "batch size", minimum=1, maximum=65536),
)

PARAMETERS: dict[str, Parameter] = {p.name: p for p in _CATALOGUE}

# Parameters whose value only matters for some optimizers; drawn only when they apply.
SGD_ONLY = ("momentum", "nesterov")

# The settings drawn after the optimizer (catalogue order): a study may give each of them a value
# or range per optimizer, as learning rates that suit Adam and SGD lie ten times apart.
AFTER_OPTIMIZER = tuple(list(PARAMETERS)[list(PARAMETERS).index("optimizer") + 1:])

# Where each network-wide hyperparameter lands in a trial's description (`architecture.py`): those
# that give the network its shape become its blocks and layers; the optimizer and the settings
# after it are fields of `Training`; the rest are fields of `Architecture`. So a new
# hyperparameter is its entry above plus the code that uses it.
SHAPE = ("blocks", "base_filters", "filter_growth", "max_filters", "dense_layers")
TRAINING_FIELDS = ("optimizer", *AFTER_OPTIMIZER)
ARCHITECTURE_FIELDS = tuple(name for name, parameter in PARAMETERS.items()
                            if parameter.scope == "network" and name not in SHAPE + TRAINING_FIELDS)


COUNT_OF_SCOPE = {"block": "blocks", "dense": "dense_layers"}  # the count a scope's positions follow


def positions_of(scope: Scope, values: dict[str, Any]) -> int | None:
    """How many per-position values a block- or dense-scoped parameter needs, given the counts."""
    count = COUNT_OF_SCOPE.get(scope)
    return None if count is None else int(values[count])
