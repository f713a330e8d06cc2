"""Where a search starts: the baselines as written, then each with the proven training recipe, only
in what the study searches and only with values its sampler could draw."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import optuna
from rich.console import Console

import hpsearch
from hpsearch.space.architecture import setup_from_values
from hpsearch.space.sampling import enqueue_starting_points, sample
from hpsearch.space.baselines import Baseline
from hpsearch.space.study_files import load_spec, load_spec_file
from hpsearch.space.starting_points import RECIPE_SUFFIX, starting_points
from hpsearch.records import BASELINE_ATTR, TrialRecord
from tests.helpers import run_cli, write_study

DIGITS_HEADER = '[data]\ndataset = "digits"\n[training]\nepochs = 1\n'


def test_cifar_dropout_tries_its_network_with_the_recipe_right_after_it() -> None:
    spec = load_spec("cifar-dropout")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0), direction="maximize")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every enqueued value is one the sampler could draw
        enqueue_starting_points(study, spec)
        drawn = []
        for _ in range(3):
            trial = study.ask()
            drawn.append((trial.user_attrs.get(BASELINE_ATTR), sample(trial, spec.space)))
            study.tell(trial, 0.5)
    assert [name for name, _ in drawn] == ["vgg-dropout-0.2", "vgg-dropout-0.2" + RECIPE_SUFFIX, None]
    recipe = setup_from_values(drawn[1][1], (32, 32, 3), 10, epochs=15)
    training, architecture = recipe.training, recipe.architecture
    assert (training.optimizer, training.learning_rate, training.weight_decay) == ("sgd", 0.05, 0.05)
    assert (training.lr_schedule, training.warmup_epochs, training.label_smoothing) == ("linear", 2, 0.1)
    assert (architecture.augment_flip, architecture.augment_crop, training.batch_size) == (True, 4, 64)
    assert architecture.batch_norm == "before_activation"
    assert [b.dropout for b in architecture.blocks] == [0.1, 0.1, 0.1]  # lighter: the recipe regularizes
    assert [d.dropout for d in architecture.dense] == [0.3, 0.3]
    assert [b.filters for b in architecture.blocks] == [32, 64, 128]  # the author's network otherwise


def _starts(tmp_path: Path, space: str, baseline: str, search: str = "") -> list[Baseline]:
    spec = load_spec_file(write_study(tmp_path, "written", DIGITS_HEADER + search + "[space]\n" + space
                                      + '[[baselines]]\nname = "mine"\n' + baseline))
    return list(starting_points(spec))


def test_the_recipe_takes_only_what_the_space_can_draw(tmp_path: Path) -> None:
    """Adam fixed: no SGD decay forced on it; a crop the space lacks is left as the baseline has it;
    what the study fixes (batch norm) is not touched."""
    _, recipe = _starts(
        tmp_path,
        'optimizer = "adam"\nbatch_norm = "none"\nlearning_rate = { low = 1e-4, high = 0.1, log = true }\n'
        "weight_decay = { choices = [0.0, 0.05] }\n"
        'lr_schedule = { choices = ["constant", "linear"] }\naugment_crop = { choices = [0, 2] }\n'
        "label_smoothing = { choices = [0.0, 0.1] }\n",
        'learning_rate = 0.001\nlr_schedule = "constant"\naugment_crop = 0\n',
    )
    assert recipe.name == "mine" + RECIPE_SUFFIX
    assert recipe.values == {"learning_rate": 0.001, "lr_schedule": "linear", "augment_crop": 0,
                             "label_smoothing": 0.1}


def test_sgd_and_its_rate_and_decay_come_together_or_not_at_all(tmp_path: Path) -> None:
    """SGD's range cannot draw the recipe's rate: the Adam baseline keeps Adam with its own rate and
    decay (SGD at Adam's rate would barely train; Adam's decay is not an SGD choice)."""
    _, recipe = _starts(
        tmp_path,
        'optimizer = { choices = ["adam", "sgd"] }\n'
        "learning_rate = { adam = { low = 1e-4, high = 3e-3, log = true }, sgd = { low = 0.1, high = 0.5 } }\n"
        "weight_decay = { adam = { choices = [0.0, 0.5] }, sgd = { choices = [0.0, 0.01] } }\n"
        'lr_schedule = { choices = ["constant", "linear"] }\n',
        'optimizer = "adam"\nlearning_rate = 0.001\nweight_decay = 0.5\nlr_schedule = "constant"\n',
    )
    assert recipe.values == {"optimizer": "adam", "learning_rate": 0.001, "weight_decay": 0.5, "lr_schedule": "linear"}


def test_a_value_fixed_for_one_optimizer_is_left_alone(tmp_path: Path) -> None:
    """Warmup searched under Adam but fixed under SGD (the recipe's 2 is no choice there): the SGD
    recipe trial is built without error and keeps the baseline's own value, as a baseline does."""
    _, recipe = _starts(
        tmp_path,
        'optimizer = { choices = ["adam", "sgd"] }\n'
        "learning_rate = { adam = { low = 1e-4, high = 3e-3, log = true }, sgd = { low = 0.01, high = 0.3 } }\n"
        "warmup_epochs = { adam = { choices = [0, 1] }, sgd = 3 }\n"
        'lr_schedule = { choices = ["constant", "linear"] }\n',
        'optimizer = "adam"\nlearning_rate = 0.001\nwarmup_epochs = 0\nlr_schedule = "constant"\n',
    )
    assert recipe.values == {"optimizer": "sgd", "learning_rate": 0.05, "warmup_epochs": 0, "lr_schedule": "linear"}
    study = optuna.create_study()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        enqueue_starting_points(study, load_spec_file(tmp_path / "written.toml"))
        study.ask()
        values = sample(study.ask(), load_spec_file(tmp_path / "written.toml").space)
    assert (values["optimizer"], values["learning_rate"], values["warmup_epochs"]) == ("sgd", 0.05, 0)


def test_no_recipe_when_off_when_its_schedule_cannot_be_drawn_or_when_it_changes_nothing(tmp_path: Path) -> None:
    searched = 'lr_schedule = { choices = ["constant", "linear"] }\n'
    off = _starts(tmp_path, searched, 'lr_schedule = "constant"\n', search="[search]\nproven_recipe = false\n")
    assert [b.name for b in off] == ["mine"]
    assert [b.name for b in _starts(tmp_path, searched, 'lr_schedule = "linear"\n')] == ["mine"]  # already it
    for name in ("digits-quick", "cifar-architecture"):  # no schedule searched; no linear decay to draw
        spec = load_spec(name)
        assert starting_points(spec) == spec.baselines


def test_a_study_that_has_sampled_gets_no_new_starting_points() -> None:
    """A study created before the proven recipe existed keeps the course it started on when resumed."""
    spec = load_spec("cifar-dropout")
    study = optuna.create_study(direction="maximize")
    study.tell(study.ask(), 0.5)  # a sampled trial, as in a study created by an earlier version
    assert enqueue_starting_points(study, spec) == []
    assert len(study.trials) == 1


def test_a_run_trains_the_baseline_then_its_recipe_version_then_draws(tmp_path: Path) -> None:
    """Real training through `hpsearch run`; the summary compares the search with the best of both."""
    study_file = write_study(
        tmp_path, "starts",
        DIGITS_HEADER + "[search]\ntrials = 3\n[search.pruner]\ntype = \"none\"\n[space]\nblocks = 1\n"
        "base_filters = 8\ndense_units = 16\nbatch_size = 32\n"
        'optimizer = { choices = ["adam", "sgd"] }\n'
        "learning_rate = { adam = { low = 1e-4, high = 1e-2, log = true }, sgd = { low = 0.01, high = 0.1 } }\n"
        'lr_schedule = { choices = ["constant", "linear"] }\nwarmup_epochs = { choices = [0, 2] }\n'
        '[[baselines]]\nname = "mine"\noptimizer = "adam"\nlearning_rate = 0.001\nlr_schedule = "constant"\n'
        "warmup_epochs = 0\n",
    )
    storage = f"sqlite:///{tmp_path / 'starts.db'}"
    ran = run_cli("run", str(study_file), "--storage", storage)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    trials = optuna.load_study(study_name="starts", storage=storage).trials
    assert [t.user_attrs.get(BASELINE_ATTR) for t in trials] == ["mine", "mine" + RECIPE_SUFFIX, None]
    assert trials[1].params == {"optimizer": "sgd", "learning_rate_sgd": 0.05, "lr_schedule": "linear",
                                "warmup_epochs": 2}
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    summarized = run_cli("summary", "starts", "--storage", storage, "--format", "json")
    assert summarized.returncode == 0, summarized.stderr
    summary = json.loads(summarized.stdout)
    assert {row["baseline"] for row in summary["trials"]} == {"mine", "mine" + RECIPE_SUFFIX, None}


def test_a_starting_point_trains_in_full_where_the_pruner_would_stop_it(tmp_path: Path) -> None:
    """The median pruner, judging from epoch 1 after one finished trial, stops any trial behind the
    first at an epoch; a second baseline that barely learns is behind at every epoch, yet it
    reports each epoch and completes (trained in-process, as `hpsearch.run` does with one worker)."""
    study_file = write_study(
        tmp_path, "unpruned",
        '[data]\ndataset = "digits"\n[training]\nepochs = 3\n[search]\ntrials = 2\n'
        '[search.pruner]\ntype = "median"\nstartup_trials = 1\nwarmup_epochs = 0\n'
        "[space]\nblocks = 1\nconvs_per_block = 1\nbase_filters = 8\ndense_units = 16\n"
        'optimizer = "adam"\nlearning_rate = { low = 1e-6, high = 1e-2, log = true }\n'
        '[[baselines]]\nname = "learns"\nlearning_rate = 0.01\n'
        '[[baselines]]\nname = "stuck"\nlearning_rate = 0.000001\n',
    )
    storage = f"sqlite:///{tmp_path / 'unpruned.db'}"
    hpsearch.run(str(study_file), storage=storage, console=Console(file=io.StringIO()))
    learns, stuck = optuna.load_study(study_name="unpruned", storage=storage).trials
    assert (learns.user_attrs[BASELINE_ATTR], stuck.user_attrs[BASELINE_ATTR]) == ("learns", "stuck")
    assert all(stuck.intermediate_values[e] < learns.intermediate_values[e] for e in (1, 2, 3)), (
        learns.intermediate_values, stuck.intermediate_values)  # the median pruner's rule would stop it
    assert stuck.state == optuna.trial.TrialState.COMPLETE and TrialRecord(stuck).recorded_end == "complete"
