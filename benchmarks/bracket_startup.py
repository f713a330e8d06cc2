"""TPE's startup under Hyperband: how many of a study's trials are random, and what it finds.

Optuna's HyperbandPruner shows the sampler only the finished trials of the asking trial's own
bracket, so TPE's `n_startup_trials` is spent once per bracket: with Optuna's default of 10,
cifar-dropout's 2 brackets leave half of its 40 trials random. hpsearch shares the study's
startup trials among the brackets instead (`hpsearch.search.study.make_sampler`). This runs both on a
study's real search space, trial target, epochs and Hyperband pruner, with synthetic learning
curves (a trial climbs to its landscape value from `benchmarks/landscape.py`, with noise in
every epoch's validation value), so it trains nothing and takes seconds.

    python -m benchmarks.bracket_startup --study cifar-dropout --seeds 20
"""

from __future__ import annotations

import argparse
import math
import random

import optuna
from optuna.trial import TrialState

from benchmarks.landscape import replay_curve, score, table_row
from hpsearch.space.sampling import sample
from hpsearch.space.spec import StudySpec
from hpsearch.space.study_files import load_spec
from hpsearch.store.storage import quiet_optuna
from hpsearch.search.study import hyperband_brackets, make_pruner, make_sampler
from hpsearch.space.samplers import TpeSampling

NOISE = 0.003  # sd of an epoch's validation value: the landscape's values differ by hundredths
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def _validation(value: float, epoch: int, epochs: int, rng: random.Random) -> float:
    """A learning curve that rises steeply, then flattens towards the trial's landscape value."""
    return value * (1 - 0.5 * math.exp(-3 * epoch / epochs)) + rng.gauss(0, NOISE)


def _per_bracket(spec: StudySpec) -> int:
    """The startup trials each Hyperband bracket counts, as hpsearch shares them (TPE only)."""
    assert isinstance(spec.search.sampler, TpeSampling), "the study's sampler must be tpe"
    return spec.search.sampler.per_bracket(hyperband_brackets(spec))


def _search(spec: StudySpec, seed: int) -> dict[str, float]:
    sampler = make_sampler(spec, seed)
    startup = _per_bracket(spec)
    pruner = make_pruner(spec)
    assert isinstance(pruner, optuna.pruners.HyperbandPruner), "the study's pruner must be hyperband"
    study = optuna.create_study(study_name=f"startup-{seed}", sampler=sampler, pruner=pruner,
                                direction="maximize")
    rng = random.Random(seed)
    epochs, random_trials, spent = spec.training.epochs, 0, 0
    true_value: dict[int, float] = {}
    for _ in range(spec.search.trials):
        trial = study.ask()
        # What the sampler sees: the finished trials of this trial's bracket (Optuna's own, private,
        # bracket assignment; every trial is in bracket 0 until the pruner first runs).
        bracket = pruner._get_bracket_id(study, trial)  # type: ignore[arg-type]
        seen = [t for t in study.get_trials(deepcopy=False, states=FINISHED)
                if pruner._get_bracket_id(study, t) == bracket]
        random_trials += len(seen) < startup
        sample(trial, spec.space)
        true_value[trial.number] = score(trial, trial.params)
        curve = [_validation(true_value[trial.number], epoch, epochs, rng) for epoch in range(1, epochs + 1)]
        spent += replay_curve(study, trial, curve)
    best = study.best_trial
    return {"random": random_trials, "best": true_value[best.number], "epochs": spent,
            "complete": len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", default="cifar-dropout")
    parser.add_argument("--trials", type=int, default=None, help="trials per search (default: the study's)")
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()

    quiet_optuna()
    spec = load_spec(args.study).with_overrides(trials=args.trials)
    brackets = hyperband_brackets(spec)
    startup = spec.search.sampler.startup_trials
    # Optuna's default: the full startup in every bracket (what a study's startup times brackets gives)
    every_bracket = spec.model_copy(update={"search": spec.search.model_copy(update={
        "sampler": spec.search.sampler.model_copy(update={"startup_trials": startup * brackets})})})
    print(f"TPE startup under Hyperband: {spec.name}'s space, {spec.search.trials} trials of "
          f"{spec.training.epochs} epochs, {brackets} brackets, {startup} startup trials, synthetic "
          f"learning curves, {args.seeds} seeds (mean ± sd)")
    print()
    print(f"| TPE startup | random trials of {spec.search.trials} | best trial's landscape value (max 1) "
          "| epochs spent | complete trials |")
    print("| --- | --- | --- | --- | --- |")
    arms = ((f"{_per_bracket(spec)} per bracket, {startup} in all (hpsearch)", spec),
            (f"{startup} per bracket (Optuna's default)", every_bracket))
    for label, arm_spec in arms:
        runs = [_search(arm_spec, seed) for seed in range(args.seeds)]
        print(table_row(label, runs, (("random", 1), ("best", 4), ("epochs", 0), ("complete", 1))))

if __name__ == "__main__":
    main()
