"""Where a search starts: the study's baselines as their authors built them, then each baseline
with a proven training recipe, before the sampler draws trials of its own.

Why the second kind: on small-data CNNs the training recipe decides more than the network. The
cifar-dropout author's network tests at 55.0% as built and 67.4% with such a recipe
(BENCHMARKS.md §3a), and a search of two dozen trials in a dozen recipe dimensions seldom lands
on one by chance. Starting from it, the search refines a network that has already left its
plateau. Only a study that searches the learning-rate schedule gets it (the study asks about the
recipe), only in the dimensions the study searches, and only with values the search could draw
itself. `[search] proven_recipe = false` turns it off.
"""

from __future__ import annotations

from typing import Any

from hpsearch.space.spec import Baseline, StudySpec

# airbench's kind of recipe for a small CNN on CIFAR-sized images: batch norm, flips and
# pad-and-crop, label smoothing, SGD with Nesterov momentum, a short warmup then a linear decay to
# zero, decoupled weight decay, and light dropout. The optimizer comes first: its learning rate
# and weight decay are only set when the optimizer is the recipe's own (an SGD rate would wreck
# Adam). Dropout is lightened because the other regularizers add up: with the recipe,
# cifar-dropout's author's rates (0.2 per block, 0.5 in the head) still underfit after 15 epochs
# (61.7% validation on seed 0's split), 0.1 and 0.3 reached 68.9% on the same split.
PROVEN_RECIPE: dict[str, Any] = {
    "optimizer": "sgd",
    "learning_rate": 0.05,
    "weight_decay": 0.05,
    "lr_schedule": "linear",
    "warmup_epochs": 2,
    "batch_norm": "before_activation",
    "conv_dropout": 0.1,
    "dense_dropout": 0.3,
    "augment_flip": True,
    "augment_crop": 4,
    "label_smoothing": 0.1,
}
OPTIMIZER_SETTINGS = ("learning_rate", "weight_decay")
RECIPE_SUFFIX = " + proven recipe"


def starting_points(spec: StudySpec) -> tuple[Baseline, ...]:
    """The trials a search runs first, in order: the baselines, then their proven-recipe versions."""
    return (*spec.baselines, *(start for b in spec.baselines if (start := with_proven_recipe(spec, b))))


def with_proven_recipe(spec: StudySpec, baseline: Baseline) -> Baseline | None:
    """`baseline` trained with the proven recipe, or None when the study does not search the
    recipe, has it turned off, or can draw none of its values."""
    schedule = spec.space.get("lr_schedule")
    if not spec.search.proven_recipe or schedule is None or not schedule.searched:
        return None
    values = dict(baseline.values)
    for name, value in PROVEN_RECIPE.items():
        dim = spec.space.get(name)
        if dim is None or not dim.searched:
            continue
        optimizer = spec.baseline_values(Baseline(name="", values=values))["optimizer"]
        if name in OPTIMIZER_SETTINGS and optimizer != PROVEN_RECIPE["optimizer"]:
            continue
        if dim.under(optimizer).problem(value) is None:
            values[name] = value
    if values == baseline.values:
        return None
    return Baseline(name=baseline.name + RECIPE_SUFFIX, values=values,
                    note=f"{baseline.name} with hpsearch's proven training recipe (hpsearch/space/starting_points.py)")
