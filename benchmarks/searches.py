"""Searches run under one budget (training epochs; for hpsearch's own search, wall time too),
shared by the search-quality, pruning and cost-cap benchmarks: hpsearch's own search (through `hpsearch.run`, as a user runs it), variants of it,
random search and Keras Tuner's Hyperband on the same space, and the studies' hand-tuned baselines.

Every arm counts the epochs it really trained (pruned trials included) and stops starting trials
once the budget is spent; the trial running then finishes, so an arm may overshoot the budget by
less than one trial (the tables report the epochs actually spent). Results are saved as JSON
per (arm, seed, settings), so an interrupted benchmark resumes where it stopped and the two
benchmarks reuse each other's runs. A search run by hpsearch resumes within itself too: one
stopped (`kill -TERM`) keeps its study under `results/unfinished/`, and the next run of the same
arm goes on with `hpsearch run --resume`, as a user's would, without counting the pause. The key
holds what the arm uses of the benchmark's settings, not hpsearch's code (nor the values of its proven recipe): after a change to how networks are
built, trained or scored, delete the saved runs it touches (Keras Tuner's arm builds hpsearch's
networks too).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import optuna

from benchmarks import RESULTS_DIR, code_commit
from benchmarks.problems import BY_NAME, SEEDS
from hpsearch.errors import LaunchError
from hpsearch.space.architecture import setup_from_values
from hpsearch.train.keras_import import keras
from hpsearch.data.sources import Splits
from hpsearch.train.model import compile_model, steps_per_epoch
from hpsearch.train.objective import Objective
from hpsearch.records import (
    BASELINE_ATTR,
    CONFIRMS_ATTR,
    HISTORY_ATTR,
    TEST_ACCURACY_ATTR,
    TOO_COSTLY_ATTR,
    TrialRecord,
    best_first,
    epochs_trained,
)
from hpsearch.space.sampling import enqueue_starting_points, sample
from hpsearch.space.baselines import Baseline
from hpsearch.space.pruners import HyperbandPruning, NoPruning
from hpsearch.space.spec import StudySpec
from hpsearch.store.storage import quiet_optuna

UNLIMITED_TRIALS = 1_000_000  # the epoch budget, not a trial count, ends a benchmark search
UNFINISHED = "unfinished"  # under the results directory: the searches stopped before their end

LEGACY_PRUNER_FIELDS = {"min_resource": 1, "reduction_factor": 3, "startup_trials": 5, "warmup_epochs": 1}
LEGACY_SAMPLER_FIELDS = {"startup_trials": 10}


def scratch_checkpoints() -> Path:
    """A throwaway checkpoint directory: benchmark searches are never retried."""
    return Path(tempfile.mkdtemp(prefix="hpsearch-checkpoints-"))


@dataclass
class ArmResult:
    """What one search found, and the path it took to get there."""

    arm: str
    seed: int
    epochs_spent: int
    seconds: float
    trials: int
    best_val: float | None
    best_test: float | None
    best_name: str = ""
    # (epochs spent so far, best value so far) after each trial, for the pruning benchmark
    trajectory: list[tuple[int, float | None]] = field(default_factory=list)
    # each trial's validation metric per epoch, in trial order (pruned trials' curves end early):
    # real learning curves on which pruning rules can be compared after the fact
    curves: list[list[float]] = field(default_factory=list)
    # (seconds since the search started, epochs spent, best value so far, that trial's test
    # accuracy) after each trial: what the search had found at any wall time
    timeline: list[tuple[float, int, float | None, float | None]] = field(default_factory=list)
    too_costly: int = 0  # trials pruned because a full trial would take too much of a time budget
    commit: str = ""  # the code's commit when it ran (benchmarks.code_commit); "" if saved before it was kept
    runs: int = 1  # the benchmark runs that trained it: more than one when it was stopped and went on

    def best_test_at(self, seconds: float = float("inf"), epochs: float = float("inf")) -> float | None:
        """The test accuracy of the best trial (by validation) finished within `seconds` of wall
        time and `epochs` of training; None before the first trial ended."""
        found = [test for at, spent, _, test in self.timeline if at <= seconds and spent <= epochs]
        return found[-1] if found else None

    def best_drawn(self, starts: int, epochs: int, maximize: bool) -> float | None:
        """The best validation value among the trials the search drew itself (after its `starts`
        starting points) and trained all `epochs`, each scored by its best epoch: what its sampler
        found beyond where it started. None without curves (Keras Tuner's arm keeps none) or
        without such a trial."""
        return _best_full(self.curves[starts:], epochs, maximize)

    def best_start(self, starts: int, epochs: int, maximize: bool) -> float | None:
        """The best validation value among the search's `starts` starting points trained all
        `epochs`: what a drawn trial has to beat for the search to have earned its keep."""
        return _best_full(self.curves[:starts], epochs, maximize)

    def epochs_to_reach(self, value: float) -> int | None:
        """Epochs spent when the best-so-far first reached `value`; None if it never did."""
        for epochs, best in self.trajectory:
            if best is not None and best >= value:
                return epochs
        return None


def _best_full(curves: list[list[float]], epochs: int, maximize: bool) -> float | None:
    """The best epoch's value of the best of these curves that ran all `epochs`; None if none did."""
    pick = max if maximize else min
    full = [pick(curve) for curve in curves if len(curve) == epochs]
    return pick(full) if full else None


class RunLog:
    """When each benchmark run of one search began, and at which commit, kept in the search's
    directory: a search stopped and resumed is timed without its pauses, and names every commit."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "runs.json"

    def begin(self) -> None:
        self.path.write_text(json.dumps(self._read() + [[datetime.now().isoformat(), code_commit()]]))

    def _read(self) -> list[list[str]]:
        return json.loads(self.path.read_text()) if self.path.exists() else []

    @property
    def first(self) -> datetime:
        return datetime.fromisoformat(self._read()[0][0])

    @property
    def commits(self) -> str:
        """The commits the runs were at, in order, without repeats."""
        return "+".join(dict.fromkeys(commit for _, commit in self._read()))

    def pauses(self, attempts: list[optuna.trial.FrozenTrial]) -> list[tuple[datetime, float]]:
        """(when a later run began, seconds since the run before it last ended an attempt)."""
        starts = [datetime.fromisoformat(at) for at, _ in self._read()]
        pauses = []
        for earlier, start in zip(starts, starts[1:]):
            ended = [t.datetime_complete for t in attempts if t.datetime_complete and t.datetime_complete < start]
            pauses.append((start, (start - max([*ended, earlier])).total_seconds()))
        return pauses


def _curve(trial: optuna.trial.FrozenTrial, metric: str) -> list[float]:
    return list(trial.user_attrs.get(HISTORY_ATTR, {}).get(metric, []))


def run_hpsearch_arm(arm: str, spec: StudySpec, seed: int, budget: str | None, directory: Path,
                     confirm: tuple[int, int] | None = None, **flags: Any) -> ArmResult:
    """hpsearch's search exactly as `hpsearch run STUDY --seed S --budget B` runs it (its sampler,
    pruner, starting points, worker and storage), on an SQLite study in `directory`; a study left
    there by a stopped run goes on with `--resume`. `budget` is the flag's value ("210epochs",
    "1h"), `flags` any other of `hpsearch.run`'s. The seed also picks the validation split, as it
    does for a user; the test images are every arm's. With `confirm=(top, epochs)`, then
    `hpsearch confirm STUDY --top T --epochs E` on the same storage, and the search's result is the
    confirmed winner, as `export` would retrain it."""
    import io

    import hpsearch
    from rich.console import Console

    quiet = Console(file=io.StringIO())
    flags = {"trials": UNLIMITED_TRIALS, **flags}
    url = f"sqlite:///{directory / 'study.db'}"
    checkpoints = str(directory / "checkpoints")
    run_log = RunLog(directory)
    run_log.begin()
    resume = (directory / "study.db").exists() and spec.name in optuna.study.get_all_study_names(url)
    hpsearch.run(spec, storage=url, seed=seed, budget=budget, checkpoints=checkpoints, console=quiet, resume=resume,
                 **flags)
    study = optuna.load_study(study_name=spec.name, storage=url)
    confirmed = None
    if confirm is not None:
        top, epochs = confirm
        _, confirmed = hpsearch.confirm(spec.name, top=top, epochs=epochs, storage=url, checkpoints=checkpoints,
                                        console=quiet)
    pauses = run_log.pauses(_finished(study) + (_finished(confirmed) if confirmed else []))
    seconds = (datetime.now() - run_log.first).total_seconds() - sum(gap for _, gap in pauses)
    result = _arm_result(arm, seed, study, seconds, spec.search.metric, confirmed, pauses)
    return replace(result, commit=run_log.commits, runs=len(pauses) + 1)


def run_start_alone(arm: str, spec: StudySpec, start: Baseline, seed: int, epochs: int, directory: Path) -> ArmResult:
    """One starting point trained for `epochs` with no search, as `hpsearch run` trains it (the
    seed's validation split, the same objective): what a longer training of the start alone is
    worth, the control for a search followed by `confirm` at that length."""
    search = spec.search.model_copy(update={"proven_recipe": False, "budget": None})
    alone = spec.model_copy(update={"search": search, "baselines": (start,)})
    return run_hpsearch_arm(arm, alone, seed, None, directory, trials=1, epochs=epochs)


def run_random_search(spec: StudySpec, splits: Splits, seed: int, budget: int) -> ArmResult:
    """Random search as one runs it with Optuna by hand: its random sampler, no pruner, no
    baselines, trials until the budget is spent."""
    spec = spec.with_overrides(seed=seed, trials=UNLIMITED_TRIALS)
    search = spec.search.model_copy(update={"pruner": NoPruning()})
    spec = spec.model_copy(update={"search": search})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed),
                                pruner=optuna.pruners.NopPruner(), direction=spec.search.direction)

    def stop_at_budget(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if epochs_trained(study.get_trials(deepcopy=False)) >= budget:
            study.stop()

    started = time.perf_counter()
    study.optimize(Objective(spec, splits, scratch_checkpoints()), callbacks=[stop_at_budget], catch=(Exception,))
    return _arm_result("random", seed, study, time.perf_counter() - started, spec.search.metric)


def _finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Its finished attempts (not queued ones), retried ones included."""
    return [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]


def _trials(attempts: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """The trials a search finished, in the order it began them: of a trial stopped and retried
    (a resumed search), its last attempt, in its first attempt's place."""
    last = {}
    for attempt in sorted(attempts, key=lambda t: t.number):
        last[TrialRecord(attempt).checkpoint_key] = attempt
    return [last[key] for key in sorted(last)]


def _arm_result(arm: str, seed: int, study: optuna.Study, seconds: float, metric: str,
                confirmed: optuna.Study | None = None, pauses: list[tuple[datetime, float]] | None = None) -> ArmResult:
    """What a finished search found, and when: the best-so-far after each attempt, in the order
    they ended (one worker: the order they ran), at its seconds of search (`pauses` between runs of
    a resumed search left out). Once a confirm round (`confirmed`) has a finished trial, the best is
    its best, judged at the longer training, as `export` judges."""
    attempts = _finished(study)
    searched = _trials(attempts)
    retrained = _finished(confirmed) if confirmed else []
    longer = {id(t) for t in retrained}
    ended = sorted(attempts + retrained, key=lambda t: t.datetime_complete)  # set on every finished trial
    begun = min(t.datetime_start for t in ended if t.datetime_start is not None)
    maximize = study.direction.name == "MAXIMIZE"

    def seconds_at(moment: datetime) -> float:
        return (moment - begun).total_seconds() - sum(gap for start, gap in pauses or () if start <= moment)

    def best(trials: list[optuna.trial.FrozenTrial]) -> optuna.trial.FrozenTrial | None:
        """The confirm round's best complete trial so far, else the search's (as `export` falls back)."""
        ranked = best_first([t for t in trials if id(t) in longer], maximize) or best_first(trials, maximize)
        return ranked[0] if ranked else None

    trajectory: list[tuple[int, float | None]] = []
    timeline: list[tuple[float, int, float | None, float | None]] = []
    spent = 0
    for count, trial in enumerate(ended, start=1):
        spent += TrialRecord(trial).epochs_trained
        leader = best(ended[:count])
        value, test = (leader.value, leader.user_attrs.get(TEST_ACCURACY_ATTR)) if leader else (None, None)
        trajectory.append((spent, value))
        timeline.append((seconds_at(trial.datetime_complete), spent, value, test))
    winner = best(ended)
    return ArmResult(
        arm=arm, seed=seed, epochs_spent=spent, seconds=seconds, trials=len(searched),
        best_val=winner.value if winner else None,
        best_test=winner.user_attrs.get(TEST_ACCURACY_ATTR) if winner else None,
        best_name=_trial_name(winner, searched) if winner else "",
        trajectory=trajectory, curves=[_curve(t, metric) for t in searched], timeline=timeline,
        too_costly=sum(TOO_COSTLY_ATTR in t.user_attrs for t in searched),
    )


def _trial_name(trial: optuna.trial.FrozenTrial, searched: list[optuna.trial.FrozenTrial]) -> str:
    """A baseline's name or the trial's number; for a confirm round's trial, the search trial it retrained."""
    if CONFIRMS_ATTR in trial.user_attrs:
        number = trial.user_attrs[CONFIRMS_ATTR]
        of_search = next(t for t in searched if t.number == number)
        return f"{_trial_name(of_search, searched)}, retrained for {TrialRecord(trial).epochs_trained} epochs"
    return trial.user_attrs.get(BASELINE_ATTR) or f"trial {trial.number}"


def run_baselines(spec: StudySpec, splits: Splits, seed: int, arm: str = "baseline",
                  networks: tuple[Baseline, ...] | None = None) -> ArmResult:
    """Each hand-tuned network (the study's baselines unless `networks` are given) trained for the
    same epochs as a full trial; the best one counts. The proven recipe is hpsearch's, not theirs."""
    spec = spec.with_overrides(seed=seed, trials=len(networks or spec.baselines))
    search = spec.search.model_copy(update={"proven_recipe": False})
    spec = spec.model_copy(update={"search": search, "baselines": networks or spec.baselines})
    study = optuna.create_study(pruner=optuna.pruners.NopPruner(), direction=spec.search.direction)
    enqueue_starting_points(study, spec)
    started = time.perf_counter()
    study.optimize(Objective(spec, splits, scratch_checkpoints()), n_trials=len(spec.baselines))
    return _arm_result(arm, seed, study, time.perf_counter() - started, spec.search.metric)


class _KerasTunerTrial:
    """Lets hpsearch's `sample` draw from a Keras Tuner `HyperParameters`: the same space, to the
    letter, defined through Keras Tuner's own Choice/Int/Float."""

    def __init__(self, hp: Any) -> None:
        self.hp = hp
        self.user_attrs: dict[str, Any] = {}  # no baseline overrides: Keras Tuner samples freely

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        return self.hp.Choice(name, choices)

    def suggest_int(self, name: str, low: int, high: int, step: int = 1, log: bool = False) -> int:
        return self.hp.Int(name, low, high, step=None if log else step, sampling="log" if log else "linear")

    def suggest_float(self, name: str, low: float, high: float, step: float | None = None,
                      log: bool = False) -> float:
        return self.hp.Float(name, low, high, step=step, sampling="log" if log else "linear")


class _EpochCounter(keras.callbacks.Callback):
    """Counts epochs over every trial; Keras Tuner deep-copies callbacks, so copies share this one."""

    def __init__(self) -> None:
        super().__init__()
        self.epochs = 0

    def __deepcopy__(self, memo: dict[int, Any]) -> _EpochCounter:
        return self

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epochs += 1


def continue_schedule(model: keras.Model, initial_epoch: int, batches_per_epoch: int) -> None:
    """Set a freshly compiled model's step counter to where a trial that trained `initial_epoch`
    epochs left off, so its learning-rate schedule goes on from there instead of from step 0."""
    model.optimizer.iterations.assign(initial_epoch * batches_per_epoch)


def run_keras_tuner_arm(spec: StudySpec, splits: Splits, seed: int, budget: int, arm: str = "keras-tuner",
                        carry_schedule: bool = True, starts: tuple[Baseline, ...] = ()) -> ArmResult:
    """Keras Tuner's Hyperband (max epochs and reduction factor as the study's), stopped when the
    budget is spent. Its best trial is its own choice: best validation accuracy at any epoch,
    with the weights of that epoch.

    Hyperband continues a promoted trial in a freshly compiled model, whose optimizer starts at
    step 0: a step-based schedule would warm up again and never anneal. `carry_schedule` sets the
    step counter to where the trial left off (the optimizer's moments are still new: Keras Tuner
    keeps only weights). `starts`: networks trained first, for a full trial each, and counted in
    the budget, as hpsearch trains its starting points; the best of them and of the tuner wins."""
    import keras_tuner

    begun = run_baselines(spec, splits, seed, arm=arm, networks=starts) if starts else None

    def setup_of(hp: Any) -> Any:
        values = sample(_KerasTunerTrial(hp), spec.space)  # type: ignore[arg-type]
        return setup_from_values(values, splits.input_shape, splits.num_classes, **spec.training.trial_settings())

    class SpaceHyperModel(keras_tuner.HyperModel):
        def build(self, hp: Any) -> keras.Model:
            setup = setup_of(hp)
            batches = steps_per_epoch(len(splits.x_train), setup.training.batch_size)
            return compile_model(setup.architecture, setup.training, batches)

        def fit(self, hp: Any, model: keras.Model, *args: Any, **kwargs: Any) -> Any:
            batch_size = setup_of(hp).training.batch_size
            if carry_schedule:
                continue_schedule(model, kwargs.get("initial_epoch", 0), steps_per_epoch(len(splits.x_train), batch_size))
            return model.fit(*args, batch_size=batch_size, **kwargs)

    counter = _EpochCounter()
    spent_before = begun.epochs_spent if begun else 0
    timeline = list(begun.timeline) if begun else []

    class BudgetHyperband(keras_tuner.Hyperband):
        def on_trial_end(self, trial: Any) -> None:
            super().on_trial_end(trial)
            best = self.oracle.get_best_trials(1)
            at = (seconds_before + time.perf_counter() - started, spent_before + counter.epochs)
            if best and (not timeline or timeline[-1][2] is None or best[0].score > timeline[-1][2]):  # a new best
                _, test = self.load_model(best[0]).evaluate(splits.x_test, splits.y_test, batch_size=256, verbose=0)
                timeline.append((*at, float(best[0].score), float(test)))
            elif timeline:
                timeline.append((*at, *timeline[-1][2:]))
            if spent_before + counter.epochs >= budget:
                self.oracle.max_trials = len(self.oracle.trials)  # the oracle then says STOPPED

    keras.utils.set_random_seed(seed)
    seconds_before = begun.seconds if begun else 0.0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        tuner = BudgetHyperband(
            SpaceHyperModel(), objective="val_accuracy", max_epochs=spec.training.epochs,
            factor=getattr(spec.search.pruner, "reduction_factor", HyperbandPruning().reduction_factor), hyperband_iterations=UNLIMITED_TRIALS,
            seed=seed, directory=directory, project_name="bench", overwrite=True,
        )
        if spent_before < budget:
            tuner.search(splits.x_train, splits.y_train, validation_data=(splits.x_val, splits.y_val),
                         callbacks=[counter], shuffle=True, verbose=0)
        tuned = tuner.oracle.get_best_trials(1)
        best_val, best_test, best_name = (begun.best_val, begun.best_test, begun.best_name) if begun else (None, None, "")
        if tuned and (best_val is None or tuned[0].score > best_val):
            _, best_test = tuner.get_best_models(1)[0].evaluate(splits.x_test, splits.y_test, batch_size=256, verbose=0)
            best_val, best_name = float(tuned[0].score), f"trial {tuned[0].trial_id}"
        trials = len(tuner.oracle.trials) + (begun.trials if begun else 0)
    return ArmResult(
        arm=arm, seed=seed, epochs_spent=spent_before + counter.epochs, trials=trials,
        seconds=seconds_before + time.perf_counter() - started,
        best_val=best_val, best_test=None if best_test is None else float(best_test), best_name=best_name,
        timeline=timeline,
    )


def _saved_from_another_data_folder(results_dir: Path, arm: str, seed: int, settings: dict[str, Any]) -> Path | None:
    """A run saved where the data lay in another folder (a clone elsewhere): keys hold the data
    file's absolute path, so it is matched by its settings with the folder set aside."""
    def without_folder(keyed: dict[str, Any]) -> dict[str, Any]:
        keyed = json.loads(json.dumps(keyed))
        data = keyed.get("study", {}).get("data", {})
        if "dataset" in data:
            data["dataset"] = Path(data["dataset"]).name
        return keyed

    wanted = without_folder(settings)
    for candidate in sorted(results_dir.glob(f"{arm}-seed{seed}-*.json")):
        if without_folder(json.loads(candidate.read_text()).get("settings", {})) == wanted:
            return candidate
    return None


Search = Callable[[Path], ArmResult]  # runs an arm in a directory it may keep a stopped search's state in


def cached(arm: str, seed: int, settings: dict[str, Any], run: Search, results_dir: Path | None) -> ArmResult:
    """Run an arm, or read its result if these exact settings already ran. The arm runs in
    `results_dir/unfinished/NAME`, where hpsearch's arms leave a stopped search to go on from;
    it is removed once the result is saved."""
    if results_dir is None:
        with tempfile.TemporaryDirectory(prefix=f"hpsearch-bench-{arm}-") as scratch:
            return _labelled(run(Path(scratch)))
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    path = results_dir / f"{arm}-seed{seed}-{key}.json"
    saved = path if path.exists() else _saved_from_another_data_folder(results_dir, arm, seed, settings)
    if saved is not None:
        stored = json.loads(saved.read_text())
        stored["trajectory"] = [tuple(step) for step in stored["trajectory"]]
        stored["timeline"] = [tuple(step) for step in stored.get("timeline", [])]
        return ArmResult(**{k: v for k, v in stored.items() if k != "settings"})
    unfinished = results_dir / UNFINISHED / path.stem
    unfinished.mkdir(parents=True, exist_ok=True)
    try:
        result = _labelled(run(unfinished))
        path.write_text(json.dumps({**asdict(result), "settings": copy.deepcopy(settings)}, indent=1))
        shutil.rmtree(unfinished)
    finally:
        for directory in (unfinished, unfinished.parent):
            with contextlib.suppress(OSError):
                directory.rmdir()  # only when empty: a stopped search's study stays
    return result


def _labelled(result: ArmResult) -> ArmResult:
    """The result with the commit of the code that ran it (a resumed search names each run's)."""
    return replace(result, commit=result.commit or code_commit())


def bench_from_command_line(description: str, time_budget: bool = False) -> Bench:
    """Parse a search benchmark's command line and load its study and data. With `time_budget`,
    each search gets `--hours` of wall time instead of `--budget` training epochs."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_search_arguments(parser, time_budget)
    return _load_bench(parser.parse_args())


def _add_search_arguments(parser: argparse.ArgumentParser, time_budget: bool) -> None:
    parser.add_argument("--problem", choices=sorted(BY_NAME), default=None,
                        help="a declared problem (benchmarks/problems.py): sets --study, --data, --epochs and "
                             "--budget to the problem's")
    parser.add_argument("--study", default="cifar-dropout")
    parser.add_argument("--data", default="../shared/data/cifar10-subset.npz")
    parser.add_argument("--subset", type=int, default=None, help="training images (default: all)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs of a fully trained trial")
    if time_budget:
        parser.add_argument("--hours", type=float, default=1.0, help="wall time each search may spend")
    else:
        parser.add_argument("--budget", type=int, default=24, help="training epochs each search may spend")
    parser.add_argument("--validation-fraction", type=float, default=None,
                        help="validation share of the training images (default: the study's)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="default: with --problem, the problems' seeds (benchmarks/problems.py), else 0 1 2")
    parser.add_argument("--arms", nargs="+", default=None, help="run only these arms (default: all)")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR,
                        help="where each finished search is saved and reused from")
    parser.add_argument("--fresh", action="store_true", help="run every search again, saving nothing")
    parser.add_argument("--saved-only", action="store_true",
                        help="run nothing: tabulate the searches already saved (long benchmarks, seed by seed)")
    parser.add_argument("--peers-on-study-split", action="store_true",
                        help="the arms other than hpsearch's validate on the study's split for every seed, as "
                             "the runs saved before each seed's split was every arm's did (BENCHMARKS 3a-3c)")
    parser.add_argument("--plot", type=Path, default=None,
                        help="also draw each arm's accuracy against epochs and wall time into this PNG")


class NotSaved(LookupError):
    """`--saved-only` asked for a search that has not been run with these settings."""


def _not_saved(directory: Path) -> ArmResult:
    raise NotSaved


@dataclass
class Bench:
    """A benchmark's study, data and settings, loaded once for all its searches."""

    spec: StudySpec
    splits: Splits
    budget: int | None  # training epochs per search; None under a time budget
    seeds: list[int]
    results_dir: Path | None
    settings: dict[str, Any]
    arms: list[str] | None = None
    saved_only: bool = False
    hours: float | None = None  # wall time per search, for hpsearch's own arms
    plot: Path | None = None  # where to draw the arms' curves (benchmarks/plots.py)
    peers_on_study_split: bool = False
    _seed_splits: dict[int, Splits] = field(default_factory=dict)

    def splits_for(self, seed: int) -> Splits:
        """The images seed `seed`'s arms train and validate on: the seed's own split, the one
        `hpsearch run --seed` draws, so that every arm of a seed is judged on the same images
        (`--peers-on-study-split`: the study's split, whatever the seed)."""
        split_seed = self.spec.search.seed if self.peers_on_study_split else seed
        if split_seed == self.spec.search.seed:
            return self.splits
        if split_seed not in self._seed_splits:
            from hpsearch.data.sources import load_splits

            self._seed_splits[split_seed] = load_splits(self.spec.data.dataset, seed=split_seed,
                                                        **self.spec.data.split_settings())
        return self._seed_splits[split_seed]

    def split_key(self, seed: int) -> dict[str, Any]:
        """What keys an arm's saved run by its split: nothing where it is the study's own (as every
        run was keyed before), the split's seed where it is another."""
        return {} if self.peers_on_study_split or seed == self.spec.search.seed else {"split_seed": seed}

    @property
    def budget_flag(self) -> str:
        """The budget as `hpsearch run --budget` takes it."""
        return f"{max(1, round(self.hours * 3600))}s" if self.hours is not None else f"{self.budget}epochs"

    @property
    def hpsearch_settings(self) -> dict[str, Any]:
        """What only hpsearch's own arms use, so it keys only their saved runs: the share of the
        budget a trial may cost counts only where the budget is wall time, warm starts and draws near the
        starting points only when set. Runs from before starting points were exempt from pruning lack
        `starts_unpruned`, so none of them is taken for a run of today's code."""
        own: dict[str, Any] = {"runner": "hpsearch.run", "proven_recipe": self.spec.search.proven_recipe,
                               "starts_unpruned": True}
        if self.hours is not None:
            own["max_trial_share"] = self.spec.search.max_trial_share
        if self.spec.search.warm_start:
            own["warm_start"] = list(self.spec.search.warm_start)
        if self.spec.search.near_starts is not None:
            own["near_starts"] = self.spec.search.near_starts
        return own

    def run(self, arm: str, seed: int, search: Search, keyed: dict[str, Any] | None = None) -> ArmResult | None:
        """The arm's result for `seed`: saved, or run now (with `--saved-only`, None when not saved).
        `keyed`: settings of this arm's own, beyond the benchmark's."""
        try:
            result = cached(arm, seed, {**self.settings, **(keyed or {}), "arm": arm, "seed": seed},
                            _not_saved if self.saved_only else search, self.results_dir)
        except NotSaved:
            print(f"  {arm:<16} seed {seed}: not run yet", flush=True)
            return None
        except LaunchError as error:  # a stop signal: hpsearch's arms keep the search to go on from
            print(f"  {arm:<16} seed {seed}: {error.message}; the same command goes on with it", flush=True)
            raise SystemExit(error.exit_code) from None
        print(f"  {arm:<16} seed {seed}: best val {_percent(result.best_val)}, test "
              f"{_percent(result.best_test)} ({result.best_name}), {result.epochs_spent} epochs, "
              f"{result.trials} trials, {result.seconds / 60:.1f} min"
              + (f", in {result.runs} runs" if result.runs > 1 else ""), flush=True)
        return result


def _load_bench(args: argparse.Namespace) -> Bench:
    from hpsearch.data.sources import load_splits
    from hpsearch.space.study_files import load_spec

    quiet_optuna()
    code_commit()  # pinned now: the code this process runs is the code as it started
    if args.problem is not None:
        problem = BY_NAME[args.problem]
        if hasattr(args, "budget"):
            args.budget = problem.budget
        print(f"Problem {problem.name} ({problem.role}): {problem.why}", flush=True)
        spec = problem.study_spec().with_overrides(subset=args.subset)
    else:
        spec = load_spec(args.study).with_overrides(dataset=args.data, subset=args.subset, epochs=args.epochs)
    if args.validation_fraction is not None:
        data = spec.data.model_copy(update={"validation_fraction": args.validation_fraction})
        spec = spec.model_copy(update={"data": data})
    splits = load_splits(spec.data.dataset, seed=spec.search.seed, **spec.data.split_settings())
    # Searches other than hpsearch's own never see the proven recipe, the cost cap, warm starts nor
    # draws near the starting points (Bench.hpsearch_settings), so a new default or field of those
    # re-keys no saved run.
    study = spec.model_dump(mode="json", exclude={"source": True, "search": {
        "proven_recipe", "max_trial_share", "warm_start", "near_starts"}})
    hours = getattr(args, "hours", None)
    budget = None if hours is not None else args.budget
    # Saved runs are keyed by the study as it was dumped when every pruner and sampler table held
    # every type's settings; filling in the others' defaults keeps those keys (and the runs).
    study["search"]["pruner"] = {**LEGACY_PRUNER_FIELDS, **study["search"]["pruner"]}
    study["search"]["sampler"] = {**LEGACY_SAMPLER_FIELDS, **study["search"]["sampler"]}
    study["training"] = _as_keyed_before_backends(study["training"])
    settings = {"study": study, **({"hours": hours} if hours is not None else {"budget": budget})}
    seeds = args.seeds or list(SEEDS if args.problem is not None else (0, 1, 2))
    return Bench(spec, splits, budget, seeds, None if args.fresh else args.results, settings, args.arms,
                 args.saved_only, hours, args.plot, args.peers_on_study_split)


def _as_keyed_before_backends(training: dict[str, Any]) -> dict[str, Any]:
    """Saved runs were keyed before a study named its Keras backend and left `jit_compile` to
    Keras (3b0ed35): every one trained on TensorFlow on CPUs, where Keras's choice is no XLA.
    Where this machine resolves the same way, the settings are keyed as then, so those runs count."""
    from hpsearch.launch.engines.local import detect_gpus

    resolves_as_then = (training["backend"] is None and training["jit_compile"] is None
                        and keras.backend.backend() == "tensorflow" and not detect_gpus())
    if not resolves_as_then:
        return training
    return {**{key: value for key, value in training.items() if key != "backend"}, "jit_compile": False}


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"
