"""The pruners a study can name (`[search.pruner] type = ...`), each its settings and how Optuna's
pruner is built from them: a new pruner is one class here and its line in `Pruner`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Literal, Union

from pydantic import Field

from hpsearch.space.strict import StrictModel

if TYPE_CHECKING:
    import optuna


class PrunerSettings(StrictModel):
    """What every pruner's settings give the study: Optuna's pruner (`build`, in each), and the
    brackets it splits trials into, which the sampler's startup trials are shared among."""

    def brackets(self, epochs: int) -> int:
        return 1  # only Hyperband makes more than one


class _Rungs(PrunerSettings):
    """Successive halving's settings: where the first rung is, and how many trials each keeps."""

    min_resource: int = Field(1, ge=1, description="epochs a trial trains before it can be pruned")
    reduction_factor: int = Field(3, ge=2, description="each rung keeps about 1 in this many trials")


class HyperbandPruning(_Rungs):
    """Optuna's Hyperband: several successive-halving brackets, from aggressive to none."""

    type: Literal["hyperband"] = "hyperband"

    def build(self, epochs: int) -> optuna.pruners.BasePruner:
        import optuna

        return optuna.pruners.HyperbandPruner(min_resource=self.min_resource, max_resource=epochs,
                                              reduction_factor=self.reduction_factor)

    def brackets(self, epochs: int) -> int:
        """The brackets Optuna's HyperbandPruner makes, by its own formula:
        floor(log_reduction_factor(max_resource / min_resource)) + 1."""
        return max(1, math.floor(math.log(epochs / self.min_resource, self.reduction_factor)) + 1)


class SuccessiveHalvingPruning(_Rungs):
    """One successive-halving bracket: Hyperband's most aggressive one alone."""

    type: Literal["successive_halving"] = "successive_halving"

    def build(self, epochs: int) -> optuna.pruners.BasePruner:
        import optuna

        return optuna.pruners.SuccessiveHalvingPruner(min_resource=self.min_resource,
                                                      reduction_factor=self.reduction_factor)


class MedianPruning(PrunerSettings):
    """Stop a trial whose metric is below the median of earlier trials at the same epoch."""

    type: Literal["median"] = "median"
    startup_trials: int = Field(5, ge=0, description="trials before pruning starts")
    warmup_epochs: int = Field(1, ge=0, description="epochs a trial trains before it can be pruned")

    def build(self, epochs: int) -> optuna.pruners.BasePruner:
        import optuna

        return optuna.pruners.MedianPruner(n_startup_trials=self.startup_trials, n_warmup_steps=self.warmup_epochs)


class NoPruning(PrunerSettings):
    """Every trial trains all its epochs."""

    type: Literal["none"] = "none"

    def build(self, epochs: int) -> optuna.pruners.BasePruner:
        import optuna

        return optuna.pruners.NopPruner()


Pruner = Annotated[
    Union[HyperbandPruning, SuccessiveHalvingPruning, MedianPruning, NoPruning], Field(discriminator="type")
]
DEFAULT_PRUNER = "hyperband"
