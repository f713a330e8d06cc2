"""The sampler and pruner a study is searched with."""

from __future__ import annotations

import math

import optuna
import pytest

from hpsearch.space.pruners import HyperbandPruning
from hpsearch.space.study_files import load_spec
from hpsearch.store.storage import quiet_optuna
from hpsearch.search.study import hyperband_brackets, make_pruner, make_sampler


@pytest.mark.parametrize(("epochs", "min_resource", "factor"),
                         [(15, 1, 3), (4, 1, 3), (9, 1, 3), (27, 1, 3), (10, 2, 2), (5, 1, 3), (3, 3, 3)])
def test_hyperband_brackets_are_the_ones_optunas_pruner_makes(epochs: int, min_resource: int, factor: int) -> None:
    spec = load_spec("cifar-dropout").with_overrides(epochs=epochs)
    pruner_spec = HyperbandPruning(min_resource=min_resource, reduction_factor=factor)
    spec = spec.model_copy(update={"search": spec.search.model_copy(update={"pruner": pruner_spec})})
    pruner = make_pruner(spec)
    study = optuna.create_study(pruner=pruner, direction="maximize")
    trial = study.ask()
    trial.report(0.5, step=1)
    trial.should_prune()  # the pruner sets up its brackets on its first decision
    assert pruner._n_brackets == hyperband_brackets(spec)  # type: ignore[attr-defined]


def test_startup_trials_are_shared_among_hyperband_brackets() -> None:
    quiet_optuna()  # grouped TPE is marked experimental
    # Hyperband from epoch 3 over 27 epochs: 3 brackets (27 / 3 = 3 ** 2), 10 startup trials
    spec = load_spec("cifar-dropout").with_overrides(epochs=27)
    sampler = make_sampler(spec, seed=0)
    assert hyperband_brackets(spec) == 3
    assert isinstance(sampler, optuna.samplers.TPESampler)
    assert sampler._n_startup_trials == math.ceil(spec.search.sampler.startup_trials / 3)  # type: ignore[attr-defined]
    digits = load_spec("digits-quick")  # a median pruner sees every trial: no sharing
    assert make_sampler(digits, seed=0)._n_startup_trials == digits.search.sampler.startup_trials  # type: ignore[attr-defined]
