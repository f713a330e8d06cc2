"""Each benchmark script runs end to end on its tiniest settings, so none of them can rot.
(The real runs, with their tables, are in BENCHMARKS.md; they are too long for the suite.)"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import REPO, SHARED_DATA

TINY = {
    "overhead": ["--study", "digits-quick", "--data", "digits", "--epochs", "2", "--repeats", "1"],
    "cli_latency": ["--trials", "30", "--repeats", "1"],
    "search_quality": ["--study", "digits-quick", "--data", "digits", "--epochs", "2", "--budget", "3",
                       "--seeds", "0", "--fresh", "--plot", "{tmp}/curves.png"],
    "cost_cap": ["--study", "digits-quick", "--data", "digits", "--epochs", "2", "--hours", "0.004", "--seeds", "0",
                 "--fresh"],
    "pruning": ["--study", "digits-quick", "--data", "digits", "--epochs", "2", "--budget", "3",
                "--seeds", "0", "--fresh"],
    "gpu": ["--backend", "jax", "--study", "digits-quick", "--data", "digits", "--epochs", "2", "--batch-sizes",
            "64", "--precisions", "float32", "--workers", "1", "--window", "5s", "--end-to-end", "none", "--allow-cpu"],
    "backends": ["--study", "digits-quick", "--data", "digits", "--epochs", "2", "--rounds", "1"],
    "bracket_startup": ["--trials", "8", "--seeds", "2"],
    "parallel_sampling": ["--workers", "2", "--rounds", "2", "--seeds", "1"],
    "storage_scale": ["--workers", "1", "2", "--seconds", "2", "--ask-sizes", "30", "--asks", "2"],
    "problems": [],
    "fidelity": ["--problem", "digits", "--networks", "3", "--rungs", "1", "--fractions", "0.5", "--fresh"],
    "memory": ["--trials", "9", "--epochs", "1", "--arms", "as-is"],
    "robustness": ["--rounds", "1", "--kill-at", "1", "--epochs", "6"],
    "storm": ["--workers", "2", "--trials", "2"],
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_benchmark_prints_its_table(name: str, tmp_path: Path) -> None:
    arguments = [argument.format(tmp=tmp_path) for argument in TINY[name]]
    result = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", *arguments],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    table = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert len(table) >= 3, result.stdout
    if "--plot" in arguments:  # the curves were drawn where asked
        plot = Path(arguments[arguments.index("--plot") + 1])
        assert plot.read_bytes().startswith(b"\x89PNG"), result.stdout


def test_search_results_are_reused_only_for_identical_settings(tmp_path: Path) -> None:
    from benchmarks.searches import ArmResult, cached

    runs = []

    def search(directory: Path) -> ArmResult:
        runs.append(1)
        return ArmResult(arm="a", seed=0, epochs_spent=5, seconds=1.0, trials=2, best_val=0.4, best_test=0.3,
                         trajectory=[(2, None), (5, 0.4)])

    first = cached("a", 0, {"budget": 5}, search, tmp_path)
    again = cached("a", 0, {"budget": 5}, search, tmp_path)
    assert again == first and len(runs) == 1
    cached("a", 0, {"budget": 6}, search, tmp_path)
    assert len(runs) == 2
    assert first.epochs_to_reach(0.39) == 5 and first.epochs_to_reach(0.5) is None


def test_difference_says_whether_the_seeds_tell_two_searches_apart() -> None:
    from benchmarks.search_quality import difference
    from benchmarks.searches import ArmResult

    def runs(arm: str, tests: list[float]) -> list[ArmResult]:
        return [ArmResult(arm=arm, seed=seed, epochs_spent=24, seconds=1.0, trials=6, best_val=test,
                          best_test=test) for seed, test in enumerate(tests)]

    close = {"a": runs("a", [0.40, 0.44, 0.39]), "b": runs("b", [0.42, 0.41, 0.45])}
    assert difference("a", "b", close).startswith("a - b: -1.7 points")
    assert difference("a", "b", close).endswith("not apart at this many seeds")
    far = {"a": runs("a", [0.60, 0.61, 0.62]), "b": runs("b", [0.40, 0.41, 0.42])}
    assert difference("a", "b", far).endswith("(Welch's t, p = 0.00): apart")
    # on another measure, leaving out the seeds without a value
    by_val = difference("a", "b", far, measure=lambda r: None if r.seed == 2 else 1 - r.best_val, what="loss")
    assert by_val.startswith("a - b: -20.0 points of loss")
    # paired by seed: a small gain in every seed is apart, though the seeds spread far wider
    steady = {"a": runs("a", [0.500, 0.622, 0.711, 0.580]), "b": runs("b", [0.490, 0.610, 0.700, 0.570])}
    assert difference("a", "b", steady).endswith("not apart at this many seeds")
    assert difference("a", "b", steady, paired=True).startswith("a - b: +1.1 points")
    assert "(paired t over seeds 0 1 2 3, p = " in difference("a", "b", steady, paired=True)
    assert difference("a", "b", steady, paired=True).endswith(": apart")


def test_pruning_replay_stops_a_late_bloomer_judged_at_its_first_epoch() -> None:
    from benchmarks.pruning_replay import Replay, foresight, replay
    from hpsearch.space.pruners import NoPruning, SuccessiveHalvingPruning
    from hpsearch.space.study_files import load_spec

    spec = load_spec("cifar-dropout").with_overrides(epochs=4)
    early_leader, late_bloomer = [0.40, 0.42, 0.43, 0.44], [0.20, 0.35, 0.45, 0.52]
    order = [early_leader, late_bloomer]
    # Successive halving from epoch 1 promotes the second trial only if it leads after epoch 1.
    assert replay(spec, SuccessiveHalvingPruning(min_resource=1), order, "order-0") == Replay(5, None, 0.52 - 0.44)
    assert replay(spec, SuccessiveHalvingPruning(min_resource=2), order, "order-0") == Replay(6, None, 0.52 - 0.44)
    assert replay(spec, SuccessiveHalvingPruning(min_resource=3), order, "order-0") == Replay(8, 8, 0.0)
    assert replay(spec, NoPruning(), order, "order-0") == Replay(8, 8, 0.0)
    # Foresight stops the early leader at epoch 1 and trains the late bloomer to the end.
    assert foresight(order, 1) == Replay(5, 5, 0.0)


def test_pruning_replay_prints_its_table_from_saved_curves(tmp_path: Path) -> None:
    import json
    import random

    rng = random.Random(0)
    curves = [sorted(rng.uniform(0.1, 0.6) for _ in range(2)) for _ in range(12)]
    settings = {"arm": "random", "study": {"name": "digits-quick", "training": {"epochs": 2}}}
    (tmp_path / "random-seed0-x.json").write_text(json.dumps({"settings": settings, "curves": curves}))
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.pruning_replay", "--study", "digits-quick", "--epochs", "2",
         "--trials", "6", "--orders", "3", "--results", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    table = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert table[2].startswith("| 1 | "), result.stdout  # epoch 1's rank agreement
    assert any(line.startswith("| none | 12.0 | 100% | 0.00 |") for line in table), result.stdout


def test_what_a_search_had_found_at_equal_wall_time() -> None:
    from benchmarks.searches import ArmResult

    result = ArmResult(arm="a", seed=0, epochs_spent=30, seconds=7000.0, trials=3, best_val=0.6, best_test=0.58,
                       timeline=[(1000.0, 15, 0.5, 0.49), (4000.0, 20, 0.55, 0.52), (7000.0, 30, 0.6, 0.58)])
    assert result.best_test_at(900) is None  # nothing finished yet
    assert result.best_test_at(3600) == 0.49 and result.best_test_at(7200) == 0.58
    assert result.best_test_at(epochs=19) == 0.49 and result.best_test_at(epochs=20) == 0.52  # by epochs spent


def test_curves_show_where_every_seed_had_found_something_up_to_where_the_arm_stopped() -> None:
    from benchmarks.plots import _arm_curve
    from benchmarks.searches import ArmResult

    def run(seed: int, timeline: list[tuple[float, int, float, float]]) -> ArmResult:
        return ArmResult(arm="a", seed=seed, epochs_spent=timeline[-1][1], seconds=timeline[-1][0], trials=2,
                         best_val=timeline[-1][2], best_test=timeline[-1][3], timeline=timeline)

    runs = [run(0, [(60.0, 10, 0.5, 0.40), (120.0, 20, 0.6, 0.60)]), run(1, [(180.0, 15, 0.5, 0.50)])]
    xs, means, lows, highs = _arm_curve(runs, [0, 10, 15, 20, 25, 30], by_seconds=False)
    assert xs == [15, 20] and means == [45.0, 55.0]  # not before both seeds finished a trial, nor past 20 epochs
    assert (lows, highs) == ([40.0, 50.0], [50.0, 60.0])
    xs, means, _, _ = _arm_curve(runs, [0, 60, 120, 180, 240], by_seconds=True)
    assert xs == [3.0] and means == [55.0]  # in minutes: seed 1 finished only at its end


def test_saved_runs_keyed_before_studies_named_a_backend_still_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run saved before 3b0ed35 trained on TensorFlow on CPUs with no XLA: Keras's own choice
    there when a study leaves the backend and `jit_compile` unset, so those runs are found again;
    not on a GPU, where Keras's choice is XLA."""
    import keras

    from benchmarks.searches import _as_keyed_before_backends
    from hpsearch.launch.engines import local

    assert keras.backend.backend() == "tensorflow"
    unset = {"epochs": 15, "backend": None, "jit_compile": None, "precision": "float32"}
    monkeypatch.setattr(local, "detect_gpus", lambda: [])
    assert _as_keyed_before_backends(unset) == {"epochs": 15, "jit_compile": False, "precision": "float32"}
    for chosen in ({**unset, "jit_compile": True}, {**unset, "backend": "jax"}):
        assert _as_keyed_before_backends(chosen) == chosen
    monkeypatch.setattr(local, "detect_gpus", lambda: ["0"])
    assert _as_keyed_before_backends(unset) == unset


def test_what_a_search_drew_beyond_its_starting_points() -> None:
    from benchmarks.searches import ArmResult

    curves = [[0.5, 0.7, 0.6], [0.4, 0.65, 0.66], [0.3, 0.8], [0.5, 0.55, 0.6]]  # the third was pruned
    result = ArmResult(arm="a", seed=0, epochs_spent=11, seconds=1.0, trials=4, best_val=0.7, best_test=0.7,
                       curves=curves)
    assert result.best_drawn(starts=1, epochs=3, maximize=True) == 0.66  # its best epoch; not pruned ones
    assert result.best_drawn(starts=0, epochs=3, maximize=True) == 0.7
    assert result.best_drawn(starts=4, epochs=3, maximize=True) is None
    assert result.best_drawn(starts=1, epochs=3, maximize=False) == 0.4  # a loss: its lowest epoch
    assert result.best_start(starts=1, epochs=3, maximize=True) == 0.7
    assert result.best_start(starts=2, epochs=3, maximize=False) == 0.4


def test_search_gain_counts_the_seeds_whose_drawn_trial_beat_every_start() -> None:
    from benchmarks.search_quality import _search_gain
    from benchmarks.searches import ArmResult

    def run(seed: int, curves: list[list[float]]) -> ArmResult:
        return ArmResult(arm="hpsearch", seed=seed, epochs_spent=6, seconds=1.0, trials=len(curves),
                         best_val=None, best_test=None, curves=curves)

    runs = [run(0, [[0.5, 0.6], [0.4, 0.7]]),  # a drawn trial beat the start
            run(1, [[0.5, 0.8], [0.4, 0.7]]),  # the start stayed best
            run(2, [[0.5, 0.6], [0.9]])]  # the better drawn trial was pruned: it does not count
    assert _search_gain(runs, {"hpsearch": 1}, epochs=2, maximize=True) == "1 of 3"
    assert _search_gain(runs, {"hpsearch": 0}, epochs=2, maximize=True) == "-"  # no starts to beat


def test_the_cost_cap_keys_only_hpsearch_runs_under_a_time_budget() -> None:
    """A new default share must not orphan saved runs it never touched: under an epoch budget the
    cap does nothing, and other searches never have one."""
    from benchmarks.searches import Bench
    from hpsearch.space.study_files import load_spec

    spec = load_spec("digits-quick")
    by_epochs = Bench(spec, None, 24, [0], None, {})  # type: ignore[arg-type]
    by_hours = Bench(spec, None, None, [0], None, {}, hours=0.5)  # type: ignore[arg-type]
    assert "max_trial_share" not in by_epochs.hpsearch_settings
    assert by_hours.hpsearch_settings["max_trial_share"] == spec.search.max_trial_share
    # Nor does a search field that only hpsearch's arms use, when unused: warm starts.
    assert "warm_start" not in by_epochs.hpsearch_settings
    warm = spec.model_copy(update={"search": spec.search.model_copy(update={"warm_start": ("earlier",)})})
    assert Bench(warm, None, 24, [0], None, {}).hpsearch_settings["warm_start"] == ["earlier"]  # type: ignore[arg-type]
    # Nor draws near the starting points, unless a study sets them.
    assert "near_starts" not in by_epochs.hpsearch_settings
    near = spec.model_copy(update={"search": spec.search.model_copy(update={"near_starts": 0.25})})
    assert Bench(near, None, 24, [0], None, {}).hpsearch_settings["near_starts"] == 0.25  # type: ignore[arg-type]


def test_the_saved_runs_in_the_repository_are_still_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new field of the study must not re-key the hours of saved searches: a committed run of a
    development problem is found under the settings the benchmark asks for today, in this clone
    or one whose data folder is elsewhere (keys hold the data's absolute path)."""
    from benchmarks.searches import bench_from_command_line, cached

    def never_run(directory: Path) -> None:
        raise AssertionError(f"not found among the saved runs; it would train in {directory}")

    monkeypatch.setattr(sys, "argv", ["search_quality", "--problem", "cifar10-subset-long", "--seeds", "1",
                                      "--saved-only"])
    bench = bench_from_command_line("")
    asked = {"hpsearch": {**bench.settings, **bench.hpsearch_settings},
             "hand-built-budget": {**bench.settings, "runner": "hpsearch.run", "epochs": 210}}
    for arm, settings in asked.items():
        result = cached(arm, 1, {**settings, "arm": arm, "seed": 1}, never_run, REPO / "benchmarks" / "results")
        assert result.epochs_spent > 0, arm


def test_a_run_saved_beside_other_data_is_found_by_its_settings(tmp_path: Path) -> None:
    """Only the data folder is set aside: the same settings on another data file train anew."""
    from benchmarks.searches import ArmResult, cached

    saved = json.loads(next((REPO / "benchmarks" / "results").glob("baseline-seed0-*.json")).read_text())
    (tmp_path / "baseline-seed0-savedelsewhere.json").write_text(json.dumps(saved))
    trained: list[Path] = []

    def train(directory: Path) -> ArmResult:
        trained.append(directory)
        return ArmResult("baseline", 0, epochs_spent=1, seconds=1.0, trials=1, best_val=0.5, best_test=0.5)

    def on_data(path: str) -> dict:
        settings = json.loads(json.dumps(saved["settings"]))
        settings["study"]["data"]["dataset"] = path
        return settings

    same_file = str(Path("/elsewhere/data") / Path(saved["settings"]["study"]["data"]["dataset"]).name)
    assert cached("baseline", 0, on_data(same_file), train, tmp_path).epochs_spent == saved["epochs_spent"]
    assert not trained
    assert cached("baseline", 0, on_data("/elsewhere/data/another.npz"), train, tmp_path).epochs_spent == 1
    assert trained


def test_saved_only_tabulates_without_training(tmp_path: Path) -> None:
    """A benchmark that takes hours is tabulated seed by seed as its searches land."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.search_quality", "--study", "digits-quick", "--data", "digits",
         "--epochs", "2", "--budget", "3", "--seeds", "0", "--results", str(tmp_path), "--saved-only"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "hpsearch         seed 0: not run yet" in result.stdout
    assert not list(tmp_path.iterdir())  # nothing ran, nothing saved


def test_a_confirmed_search_is_scored_by_its_confirmed_winner() -> None:
    """As `export` does: the confirm round's best, judged at the longer training, even when a
    trial of the search scored higher over its shorter one."""
    import optuna

    from benchmarks.searches import _arm_result
    from hpsearch.records import CONFIRMS_ATTR, HISTORY_ATTR, TEST_ACCURACY_ATTR

    def finished(value: float, test: float, epochs: int, **attrs: object) -> optuna.trial.FrozenTrial:
        return optuna.trial.create_trial(value=value, user_attrs={
            TEST_ACCURACY_ATTR: test, HISTORY_ATTR: {"loss": [1.0] * epochs, "val_accuracy": [value] * epochs}, **attrs})

    search = optuna.create_study(direction="maximize")
    search.add_trials([finished(0.70, 0.68, 15), finished(0.60, 0.61, 15)])
    confirmed = optuna.create_study(direction="maximize")
    diverged = optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, user_attrs={CONFIRMS_ATTR: 0})
    confirmed.add_trials([diverged])
    assert _arm_result("a", 0, search, 1.0, "val_accuracy", confirmed).best_name == "trial 0"  # as export falls back
    confirmed.add_trials([finished(0.64, 0.63, 30, **{CONFIRMS_ATTR: 0}), finished(0.66, 0.67, 30, **{CONFIRMS_ATTR: 1})])

    result = _arm_result("hpsearch-confirm", 0, search, 1.0, "val_accuracy", confirmed)
    assert (result.best_val, result.best_test, result.best_name) == (0.66, 0.67, "trial 1, retrained for 30 epochs")
    assert (result.epochs_spent, result.trials, len(result.curves)) == (90, 2, 2)
    assert [value for _, value in result.trajectory] == [0.70, 0.70, 0.70, 0.64, 0.66]


def test_each_problem_is_built_from_the_shared_data_as_declared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Problems are derived at run time (never stored in the repository): the classes kept and
    relabelled, the training images subsampled by class, the images resized, the test images
    those of the kept classes; at least one held-out problem per kind of change."""
    from benchmarks import problems
    from hpsearch.data.sources import load_raw

    monkeypatch.setattr(problems, "DERIVED", tmp_path)
    held_out = [p for p in problems.PROBLEMS if p.role == "held-out"]
    assert len(problems.PROBLEMS) >= 5 and len(held_out) >= 3
    for problem in problems.PROBLEMS:
        path = problem.dataset(SHARED_DATA)
        assert not problem.derived or Path(path).parent == tmp_path
        raw = load_raw(path)
        classes = len(problem.classes) if problem.classes else len(np.unique(raw.y_train))
        assert sorted(np.unique(raw.y_train)) == sorted(np.unique(raw.y_test)) == list(range(classes))
        if problem.train_images:
            assert abs(len(raw.x_train) - problem.train_images) <= classes
        if problem.size:
            assert raw.x_train.shape[1:3] == raw.x_test.shape[1:3] == (problem.size, problem.size)
        assert problem.dataset(SHARED_DATA) == path  # made once, then reused
        spec = problem.study_spec(SHARED_DATA)  # the study, with the problem's trial length and pruner
        assert (spec.data.dataset, spec.training.epochs) == (path, problem.epochs)
        assert problem.pruner is None or spec.search.pruner.model_dump() == {
            **spec.search.pruner.model_dump(), **problem.pruner}


def test_an_offset_problem_shares_no_training_image_with_the_smaller_one() -> None:
    """mnist-2k-vgg (held out) takes the 2,000 digits after mnist-2k's (development) in one fixed
    stratified order: the same share of each class, none of the same images."""
    from benchmarks.problems import BY_NAME, _stratified

    labels = np.repeat(np.arange(3), [100, 200, 300])
    first, after = _stratified(labels, 60), _stratified(labels, 60, offset=60)
    assert np.array_equal(first, _stratified(labels, 60))  # always the same images
    assert not set(first) & set(after)
    assert [int((labels[after] == c).sum()) for c in range(3)] == [10, 20, 30]
    development, held_out = BY_NAME["mnist-2k"], BY_NAME["mnist-2k-vgg"]
    assert held_out.train_offset >= development.train_images and development.train_offset == 0


def test_a_problem_is_timed_on_its_first_baselines_network() -> None:
    """`python -m benchmarks.problems --time` builds the first baseline as its trial would (every
    position of a per-block value resolved) and times one epoch of it."""
    from benchmarks.problems import BY_NAME, epoch_seconds

    assert epoch_seconds(BY_NAME["digits"]) > 0


def test_a_promoted_keras_tuner_trial_goes_on_with_its_schedule() -> None:
    """Keras Tuner continues a promoted trial in a freshly compiled model; the fair arms carry its
    step counter over, so a warmup-then-decay schedule is where three epochs left it, not warming up."""
    import keras

    import optuna

    from benchmarks.searches import continue_schedule
    from hpsearch.space.architecture import setup_from_values
    from hpsearch.space.sampling import sample
    from hpsearch.space.study_files import load_spec
    from hpsearch.train.model import compile_model

    spec = load_spec("digits-quick")
    values = {**sample(optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask(), spec.space),
              "lr_schedule": "cosine", "warmup_epochs": 1}
    setup = setup_from_values(values, (8, 8, 1), 10, **spec.training.trial_settings())

    def rate(model: keras.Model) -> float:
        return float(model.optimizer.learning_rate)

    fresh = compile_model(setup.architecture, setup.training, 10)
    carried = compile_model(setup.architecture, setup.training, 10)
    continue_schedule(carried, 3, 10)
    assert int(carried.optimizer.iterations) == 30
    assert rate(fresh) < rate(carried)  # at step 0 the warmup starts low; after 3 of its epochs it has decayed from the peak
    assert rate(carried) < setup.training.learning_rate


def test_every_arm_of_a_seed_validates_on_that_seeds_split(monkeypatch: pytest.MonkeyPatch) -> None:
    """As `hpsearch run --seed S` draws its split, the peers of seed S train, validate and test on
    the same images; a declared problem runs its declared seeds."""
    from benchmarks.problems import SEEDS
    from benchmarks.searches import bench_from_command_line
    from hpsearch.data.sources import load_splits

    monkeypatch.setattr(sys, "argv", ["search_quality", "--problem", "digits", "--saved-only"])
    bench = bench_from_command_line("")
    assert bench.seeds == list(SEEDS) and bench.spec.search.seed == 0
    assert bench.splits_for(0) is bench.splits and bench.split_key(0) == {}
    other = bench.splits_for(1)
    ran = load_splits(bench.spec.data.dataset, seed=1, **bench.spec.data.split_settings())  # as `hpsearch run --seed 1`
    assert np.array_equal(other.x_val, ran.x_val) and np.array_equal(other.x_test, ran.x_test)
    assert not np.array_equal(other.x_val, bench.splits.x_val)
    assert bench.split_key(1) == {"split_seed": 1} and bench.splits_for(1) is other  # loaded once
    monkeypatch.setattr(sys, "argv", ["search_quality", "--problem", "digits", "--seeds", "7", "--peers-on-study-split"])
    as_before = bench_from_command_line("")
    assert as_before.seeds == [7] and as_before.splits_for(7) is as_before.splits and as_before.split_key(7) == {}


def test_a_fidelity_stopped_between_networks_goes_on_with_the_next(tmp_path: Path) -> None:
    """A fidelity's networks are saved one by one (a CIFAR fidelity is hours), so a stopped run
    trains only those left, with the same draws; saved networks of other draws are refused."""
    from benchmarks.fidelity import measure
    from benchmarks.problems import BY_NAME

    measure(BY_NAME["digits"], 0, 3, [1], [], None, results=tmp_path)
    (full,) = tmp_path.glob("*-full.json")
    networks = json.loads(full.read_text())["networks"]
    partial = full.with_name(full.name.replace(".json", ".partial.json"))
    full.unlink()
    partial.write_text(json.dumps({"networks": networks[:2]}))
    measure(BY_NAME["digits"], 0, 3, [1], [], None, results=tmp_path)
    again = json.loads(full.read_text())["networks"]
    assert again[:2] == networks[:2] and not partial.exists()  # read back, not trained again
    assert again[2]["params"] == networks[2]["params"] and len(again[2]["curve"]) == BY_NAME["digits"].epochs

    full.unlink()
    partial.write_text(json.dumps({"networks": networks[1:2]}))
    with pytest.raises(SystemExit, match="holds other networks than these draws"):
        measure(BY_NAME["digits"], 0, 3, [1], [], None, results=tmp_path)


def test_a_search_stopped_mid_trial_goes_on_from_its_study_and_counts_each_epoch_once(tmp_path: Path) -> None:
    """A CIFAR search is an hour: one stopped by the session's end goes on next time with `--resume`
    (the stopped trial from its checkpoint), and its result counts that trial once, each epoch on
    the attempt that trained it, and not the pause between the runs."""
    from optuna.trial import TrialState

    from hpsearch.records import INTERRUPTED, end_reason
    from tests.helpers import signals_at_default, stored_trials, training_now, wait_until
    from tests.interruptions import digits_study

    study = digits_study(tmp_path, "resumed", epochs=40, trials=1, space="")
    results = tmp_path / "results"
    command = [sys.executable, "-m", "benchmarks.search_quality", "--study", str(study), "--data", "digits",
               "--epochs", "40", "--budget", "40", "--arms", "hpsearch", "--seeds", "0", "--results", str(results)]

    def study_url() -> str:
        found = list(results.glob("unfinished/*/study.db"))
        return f"sqlite:///{found[0]}" if found else "sqlite:///:memory:"

    began = time.monotonic()
    with (tmp_path / "first.log").open("wb") as log:
        first = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, preexec_fn=signals_at_default)
    try:
        wait_until(lambda: training_now(study_url(), study.stem, 1), 300, "the first trial to train")
    finally:
        first.send_signal(signal.SIGTERM)
    said = (tmp_path / "first.log").read_text() if first.wait(timeout=120) else ""
    assert "the same command goes on with it" in said, said
    (stopped,) = [t for t in stored_trials(study_url(), study.stem) if t.state == TrialState.FAIL]
    assert end_reason(stopped) == INTERRUPTED
    pause = 2.0
    time.sleep(pause)  # not waited on: the pause the result must leave out

    second = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    wall = time.monotonic() - began
    assert "in 2 runs" in second.stdout and not (results / "unfinished").exists()
    (saved,) = results.glob("hpsearch-seed0-*.json")
    result = json.loads(saved.read_text())
    assert result["trials"] == 1 and [len(curve) for curve in result["curves"]] == [40]  # the retry, not both
    assert result["epochs_spent"] == 40  # the stopped attempt's epochs, then the rest from its checkpoint
    assert result["seconds"] <= wall - pause
    assert result["runs"] == 2 and result["commit"]
