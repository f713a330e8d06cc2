"""The plain-data description of one trial's network and training setup.

It sits between the search space (which draws hyperparameters) and the model builder (which
needs TensorFlow). Being plain data, it is stored on every trial as JSON and rebuilds the very
same Keras model later, without the study file or the sampler.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from hpsearch.space.catalogue import PARAMETERS
from hpsearch.space.execution import EXECUTION_DEFAULTS


def _default(name: str) -> Any:
    """A field's default: the catalogue's, so that each hyperparameter's default is written once."""
    return PARAMETERS[name].default


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
    downsample: str = _default("downsample")
    activation: str = _default("activation")
    initializer: str = _default("initializer")
    batch_norm: str = _default("batch_norm")
    head: str = _default("head")
    head_batch_norm: bool = _default("head_batch_norm")
    max_norm: float = _default("max_norm")
    augment_flip: bool = _default("augment_flip")
    augment_shift: float = _default("augment_shift")
    augment_crop: int = _default("augment_crop")
    augment_cutout: int = _default("augment_cutout")

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

    optimizer: str = _default("optimizer")
    learning_rate: float = _default("learning_rate")
    lr_schedule: str = _default("lr_schedule")
    warmup_epochs: int = _default("warmup_epochs")
    weight_decay: float = _default("weight_decay")
    label_smoothing: float = _default("label_smoothing")
    momentum: float = _default("momentum")
    nesterov: bool = _default("nesterov")
    clipnorm: float = _default("clipnorm")
    batch_size: int = _default("batch_size")
    epochs: int = 10
    precision: str = EXECUTION_DEFAULTS["precision"]
    jit_compile: bool = EXECUTION_DEFAULTS["jit_compile"]
    steps_per_execution: int = EXECUTION_DEFAULTS["steps_per_execution"]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrialSetup:
    architecture: Architecture
    training: Training = field(default_factory=Training)


def filters_per_block(base: int, growth: float, cap: int, blocks: int) -> list[int]:
    """Filter counts block by block: base, base*growth, ... rounded, at least 1, at most cap."""
    return [max(1, min(cap, round(base * growth**i))) for i in range(blocks)]


def _network_wide(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """The drawn values of the catalogue's network-wide hyperparameters that `cls` has fields for,
    each as its parameter's type (a study file may write 0 for a float)."""
    drawn = [f.name for f in fields(cls) if f.name in PARAMETERS and f.default is not MISSING]
    return {name: PARAMETERS[name].kind(values[name]) for name in drawn}


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
        **_network_wide(Architecture, values),
    )
    training = Training(**_network_wide(Training, values), **execution)
    return TrialSetup(architecture=architecture, training=training)
