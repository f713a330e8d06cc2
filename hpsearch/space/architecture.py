"""The plain-data description of one trial's network and training setup.

It sits between the search space (which draws hyperparameters) and the model builder (which
needs TensorFlow). Being plain data, it is stored on every trial as JSON and rebuilds the very
same Keras model later, without the study file or the sampler.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, make_dataclass
from typing import Any

from hpsearch.space.catalogue import ARCHITECTURE_FIELDS, PARAMETERS, TRAINING_FIELDS
from hpsearch.space.execution import EXECUTION_SETTINGS


def _catalogue_fields(names: tuple[str, ...]) -> list[tuple[str, type, Any]]:
    """Dataclass fields for these catalogue hyperparameters: their types and defaults, as written
    once in the catalogue."""
    return [(name, PARAMETERS[name].kind, field(default=PARAMETERS[name].default)) for name in names]


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


def _as_dict(self: Any) -> dict[str, Any]:
    return asdict(self)


def _architecture_from_dict(cls: type, data: dict[str, Any]) -> Any:
    data = dict(data)
    data["input_shape"] = tuple(data["input_shape"])
    data["blocks"] = tuple(ConvBlock(**b) for b in data["blocks"])
    data["dense"] = tuple(DenseLayer(**d) for d in data["dense"])
    return cls(**data)


# Everything `model.build_model` needs to build the network: its input and output, its blocks and
# dense layers, and one field per network-wide hyperparameter of the catalogue (ARCHITECTURE_FIELDS).
Architecture = make_dataclass(
    "Architecture",
    [("input_shape", tuple[int, ...]), ("num_classes", int), ("blocks", tuple[ConvBlock, ...]),
     ("dense", tuple[DenseLayer, ...]), *_catalogue_fields(ARCHITECTURE_FIELDS)],
    frozen=True,
    namespace={"to_dict": _as_dict, "from_dict": classmethod(_architecture_from_dict)},
)

# How a network is trained: one field per training hyperparameter of the catalogue (the optimizer
# and those after it), the epochs, and the execution settings.
Training = make_dataclass(
    "Training",
    [*_catalogue_fields(TRAINING_FIELDS), ("epochs", int, field(default=10)),
     *[(name, kind, field(default=default)) for name, (kind, default) in EXECUTION_SETTINGS.items()]],
    frozen=True,
    namespace={"to_dict": _as_dict},
)
Architecture.__module__ = Training.__module__ = __name__  # make_dataclass would say `types` (Python 3.11)


@dataclass(frozen=True)
class TrialSetup:
    architecture: Architecture
    training: Training = field(default_factory=Training)


def filters_per_block(base: int, growth: float, cap: int, blocks: int) -> list[int]:
    """Filter counts block by block: base, base*growth, ... rounded, at least 1, at most cap."""
    return [max(1, min(cap, round(base * growth**i))) for i in range(blocks)]


def _network_wide(names: tuple[str, ...], values: dict[str, Any]) -> dict[str, Any]:
    """The drawn values of these network-wide hyperparameters, each as its parameter's type (a
    study file may write 0 for a float)."""
    return {name: PARAMETERS[name].kind(values[name]) for name in names}


def setup_from_values(
    values: dict[str, Any], input_shape: tuple[int, ...], num_classes: int, **execution: Any
) -> TrialSetup:
    """Turn resolved hyperparameter values (per-position ones as lists) into a `TrialSetup`;
    `execution` holds the study's `epochs`, `precision`, `jit_compile`, `steps_per_execution`
    (`TrainingSpec.trial_settings`)."""
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
        **_network_wide(ARCHITECTURE_FIELDS, values),
    )
    training = Training(**_network_wide(TRAINING_FIELDS, values), **execution)
    return TrialSetup(architecture=architecture, training=training)
