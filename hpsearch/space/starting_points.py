"""Where a search starts: the study's baselines as their authors built them, then each baseline
with a proven training recipe, before the sampler draws trials of its own.

Why the second kind: on small-data CNNs the training recipe decides more than the network. The
cifar-dropout author's network tests at 55.0% as built and 67.4% with such a recipe
(BENCHMARKS.md §3a), and a search of two dozen trials in a dozen recipe dimensions seldom lands
on one by chance. Starting from it, the search refines a network that has already left its
plateau. Only a study whose search can draw the recipe's schedule gets it (the study asks about
the recipe), only in the dimensions the study searches, and only with values the search could draw
itself. They are queued only into a study that has not sampled yet, so a study created before
this existed is not changed halfway. `[search] proven_recipe = false` turns them off.
"""

from __future__ import annotations

from typing import Any

from hpsearch.errors import SpecError
from hpsearch.space.baselines import Baseline, check_baseline
from hpsearch.space.spec import StudySpec

# airbench's kind of recipe for a small CNN on CIFAR-sized images: batch norm, flips and
# pad-and-crop, label smoothing, SGD with Nesterov momentum, a short warmup then a linear decay to
# zero, decoupled weight decay, and light dropout. Dropout is lightened because the other
# regularizers add up: with the recipe, cifar-dropout's author's rates (0.2 per block, 0.5 in the
# head) still underfit after 15 epochs (61.7% validation on seed 0's split), 0.1 and 0.3 reached
# 66.9% and 68.9% on the same split (BENCHMARKS.md §3a).
PROVEN_RECIPE: dict[str, Any] = {
    "optimizer": "sgd",
    "learning_rate": 0.05,
    "weight_decay": 0.05,
    "momentum": 0.9,
    "nesterov": True,
    "lr_schedule": "linear",
    "warmup_epochs": 2,
    "batch_norm": "before_activation",
    "conv_dropout": 0.1,
    "dense_dropout": 0.3,
    "augment_flip": True,
    "augment_crop": 4,
    "label_smoothing": 0.1,
}
# The optimizer and the settings that mean something only with it are set together or not at all:
# an SGD rate would wreck Adam, and SGD at Adam's rate barely trains.
OPTIMIZER_GROUP = ("optimizer", "learning_rate", "weight_decay", "momentum", "nesterov")
RECIPE_SUFFIX = " + proven recipe"


def starting_points(spec: StudySpec) -> tuple[Baseline, ...]:
    """The trials a search runs first, in order: the baselines, then their proven-recipe versions."""
    return (*spec.baselines, *(start for b in spec.baselines if (start := with_proven_recipe(spec, b))))


def with_proven_recipe(spec: StudySpec, baseline: Baseline) -> Baseline | None:
    """`baseline` trained with the proven recipe; None when the study has it off, cannot draw the
    recipe's schedule, or the recipe would change nothing."""
    if not spec.search.proven_recipe:
        return None
    values = dict(baseline.values)
    recipe_optimizer = PROVEN_RECIPE["optimizer"]
    group = {name: PROVEN_RECIPE[name] for name in OPTIMIZER_GROUP if _searched(spec, name, recipe_optimizer)}
    if {"optimizer", "learning_rate"} <= set(group) and all(
        _can_draw(spec, name, value, recipe_optimizer) for name, value in group.items()
    ):
        values.update(group)
    optimizer = spec.baseline_values(Baseline(name=baseline.name, values=values))["optimizer"]
    if not _can_draw(spec, "lr_schedule", PROVEN_RECIPE["lr_schedule"], optimizer):
        return None
    for name, value in PROVEN_RECIPE.items():
        if name not in OPTIMIZER_GROUP and _can_draw(spec, name, value, optimizer):
            values[name] = value
    start = Baseline(name=baseline.name + RECIPE_SUFFIX, values=values,
                     note=f"{baseline.name} with hpsearch's proven training recipe (hpsearch/space/starting_points.py)")
    if spec.baseline_values(start) == spec.baseline_values(baseline):
        return None
    try:
        check_baseline(spec.space, start, start.name)
    except SpecError:  # a value the baseline keeps does not fit what the recipe changed
        return None
    return start


def _searched(spec: StudySpec, name: str, optimizer: str) -> bool:
    dim = spec.space.get(name)
    return dim is not None and dim.under(optimizer).searched


def _can_draw(spec: StudySpec, name: str, value: Any, optimizer: str) -> bool:
    """Whether the study's sampler could draw `value` for `name` in a trial using `optimizer`."""
    dim = spec.space.get(name)
    if dim is None:
        return False
    dim = dim.under(optimizer)
    return dim.searched and dim.problem(value) is None
