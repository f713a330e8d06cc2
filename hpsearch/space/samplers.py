"""The samplers a study can name (`[search.sampler] type = ...`), each its settings and how Optuna's
sampler is built from them: a new sampler is one class here and its line in `Sampler`."""

from __future__ import annotations

import importlib.util
import math
from typing import TYPE_CHECKING, Annotated, Literal, Union

from pydantic import Field, field_validator

from hpsearch.space.strict import StrictModel

if TYPE_CHECKING:
    import optuna

STARTUP_TRIALS = Field(10, ge=0, description="random trials before TPE or the GP takes over")


class TpeSampling(StrictModel):
    """Optuna's TPE, multivariate and grouped (the space is conditional), with a constant liar."""

    type: Literal["tpe"] = "tpe"
    startup_trials: int = STARTUP_TRIALS

    def build(self, seed: int | None, brackets: int, constant_liar: bool) -> optuna.samplers.BaseSampler:
        """Optuna's Hyperband shows the sampler only the asking trial's bracket, so TPE's startup
        counts once per bracket (10 in each of 3 brackets left 27 of a 40-trial study's trials
        random): the study's startup trials are shared among the `brackets` instead."""
        import optuna

        return optuna.samplers.TPESampler(
            seed=seed,
            n_startup_trials=self.per_bracket(brackets),
            multivariate=True,  # model interactions such as learning rate x batch size
            group=True,  # the space is conditional (per-block values depend on the block count)
            constant_liar=constant_liar,  # running trials count as bad results: workers spread out
        )


    def per_bracket(self, brackets: int) -> int:
        """The startup trials each of `brackets` Hyperband brackets counts."""
        return math.ceil(self.startup_trials / brackets)


class GpSampling(StrictModel):
    """Optuna's Gaussian-process sampler (needs PyTorch)."""

    type: Literal["gp"] = "gp"
    startup_trials: int = STARTUP_TRIALS

    @field_validator("type")
    @classmethod
    def _needs_torch(cls, kind: str) -> str:
        if importlib.util.find_spec("torch") is None:
            raise ValueError("the gp sampler needs PyTorch, an optional extra: pip install 'hpsearch[gp]'")
        return kind

    def build(self, seed: int | None, brackets: int, constant_liar: bool) -> optuna.samplers.BaseSampler:
        """GPSampler reads every completed trial, not only the asking trial's Hyperband bracket (it
        asks the study for its trials in a way the bracket filter does not intercept), so its
        startup count is the study's, unshared. It has no constant liar and needs none: with
        trials running it maximizes q-batch log expected improvement (qLogEI), treating the
        running trials' points as pending, so parallel workers spread out. Per-block values,
        present only for some block counts, are outside its fixed search space and are drawn at
        random (independent sampling), silently. It needs torch (CPU is enough)."""
        import optuna

        return optuna.samplers.GPSampler(
            seed=seed,
            n_startup_trials=self.startup_trials,
            deterministic_objective=False,  # training is noisy: the GP fits a noise term
            warn_independent_sampling=False,
        )


class RandomSampling(StrictModel):
    """Every trial drawn at random: the baseline every other sampler must beat."""

    type: Literal["random"] = "random"

    def build(self, seed: int | None, brackets: int, constant_liar: bool) -> optuna.samplers.BaseSampler:
        import optuna

        return optuna.samplers.RandomSampler(seed=seed)


Sampler = Annotated[Union[TpeSampling, GpSampling, RandomSampling], Field(discriminator="type")]
DEFAULT_SAMPLER = "tpe"
