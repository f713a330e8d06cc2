"""The plain-data description of one trial's network and training setup.

It sits between the search space (which draws hyperparameters) and the model builder (which
needs TensorFlow). Being plain data, it is stored on every trial as JSON and rebuilds the very
same Keras model later, without the study file or the sampler.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ConvBlock:
    filters: int
    kernel_size: int
    convs: int
    dropout: float


@dataclass(frozen=True)
class DenseLayer:
    units: int
    dropout: float


@dataclass(frozen=True)
class Architecture:
    """Everything `model.build_model` needs to build the network."""

    input_shape: tuple[int, ...]
    num_classes: int
    blocks: tuple[ConvBlock, ...]
    dense: tuple[DenseLayer, ...]
    downsample: str = "max_pool"
    activation: str = "relu"
    initializer: str = "glorot_uniform"
    batch_norm: str = "none"
    head: str = "flatten"
    head_batch_norm: bool = False
    max_norm: float = 0.0
    augment_flip: bool = False
    augment_shift: float = 0.0
    augment_crop: int = 0
    augment_cutout: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Architecture:
        data = dict(data)
        data["input_shape"] = tuple(data["input_shape"])
        data["blocks"] = tuple(ConvBlock(**b) for b in data["blocks"])
        data["dense"] = tuple(DenseLayer(**d) for d in data["dense"])
        return cls(**data)


@dataclass(frozen=True)
class Training:
    """How a network is trained: optimizer settings, batch size, epochs and execution settings."""

    optimizer: str = "adam"
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"
    warmup_epochs: int = 0
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    momentum: float = 0.9
    nesterov: bool = True
    clipnorm: float = 0.0
    batch_size: int = 64
    epochs: int = 10
    precision: str = "float32"
    jit_compile: bool = False
    steps_per_execution: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrialSetup:
    architecture: Architecture
    training: Training = field(default_factory=Training)


def filters_per_block(base: int, growth: float, cap: int, blocks: int) -> list[int]:
    """Filter counts block by block: base, base*growth, ... rounded, at least 1, at most cap."""
    return [max(1, min(cap, round(base * growth**i))) for i in range(blocks)]


def setup_from_values(
    values: dict[str, Any], input_shape: tuple[int, ...], num_classes: int, **execution: Any
) -> TrialSetup:
    """Turn resolved hyperparameter values (per-position ones as lists) into a `TrialSetup`;
    `execution` holds the study's `epochs`, `precision`, `jit_compile`, `steps_per_execution`."""
    n_blocks = values["blocks"]
    filters = filters_per_block(
        values["base_filters"], values["filter_growth"], values["max_filters"], n_blocks
    )
    blocks = tuple(
        ConvBlock(
            filters=filters[i],
            kernel_size=values["kernel_size"][i],
            convs=values["convs_per_block"][i],
            dropout=float(values["conv_dropout"][i]),
        )
        for i in range(n_blocks)
    )
    dense = tuple(
        DenseLayer(units=values["dense_units"][i], dropout=float(values["dense_dropout"][i]))
        for i in range(values["dense_layers"])
    )
    architecture = Architecture(
        input_shape=tuple(input_shape),
        num_classes=num_classes,
        blocks=blocks,
        dense=dense,
        downsample=values["downsample"],
        activation=values["activation"],
        initializer=values["initializer"],
        batch_norm=values["batch_norm"],
        head=values["head"],
        head_batch_norm=values["head_batch_norm"],
        max_norm=float(values["max_norm"]),
        augment_flip=values["augment_flip"],
        augment_shift=float(values["augment_shift"]),
        augment_crop=values["augment_crop"],
        augment_cutout=values["augment_cutout"],
    )
    training = Training(
        optimizer=values["optimizer"],
        learning_rate=float(values["learning_rate"]),
        lr_schedule=values["lr_schedule"],
        warmup_epochs=values["warmup_epochs"],
        weight_decay=float(values["weight_decay"]),
        label_smoothing=float(values["label_smoothing"]),
        momentum=float(values["momentum"]),
        nesterov=values["nesterov"],
        clipnorm=float(values["clipnorm"]),
        batch_size=values["batch_size"],
        **execution,
    )
    return TrialSetup(architecture=architecture, training=training)
