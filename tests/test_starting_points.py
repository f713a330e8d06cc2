"""Where a search starts: the baselines as written, then each with the proven training recipe, only
in what the study searches and only with values its sampler could draw."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import optuna

from hpsearch.space.architecture import setup_from_values
from hpsearch.space.sampling import enqueue_baselines, sample
from hpsearch.space.spec import load_spec, load_spec_file
from hpsearch.space.starting_points import RECIPE_SUFFIX, starting_points
from hpsearch.store.records import BASELINE_ATTR
from tests.helpers import run_cli, write_study

DIGITS_HEADER = '[data]\ndataset = "digits"\n[training]\nepochs = 1\n'


def test_cifar_dropout_tries_its_network_with_the_recipe_right_after_it() -> None:
    spec = load_spec("cifar-dropout")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0), direction="maximize")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every enqueued value is one the sampler could draw
        enqueue_baselines(study, spec)
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


def test_the_recipe_takes_only_what_the_space_can_draw(tmp_path: Path) -> None:
    """Adam fixed: no SGD rate or decay forced on it; a schedule or crop the space lacks is left as
    the baseline has it; what the study fixes is not touched."""
    spec = load_spec_file(write_study(
        tmp_path, "adam-only",
        DIGITS_HEADER + "[space]\noptimizer = \"adam\"\nbatch_norm = \"none\"\n"
        "learning_rate = { low = 1e-4, high = 0.1, log = true }\n"
        "weight_decay = { choices = [0.0, 0.05] }\n"
        'lr_schedule = { choices = ["constant", "cosine"] }\naugment_crop = { choices = [0, 2] }\n'
        "label_smoothing = { choices = [0.0, 0.1] }\n"
        '[[baselines]]\nname = "mine"\nlearning_rate = 0.001\nlr_schedule = "constant"\naugment_crop = 0\n',
    ))
    _, recipe = starting_points(spec)
    assert recipe.name == "mine" + RECIPE_SUFFIX
    assert recipe.values == {"learning_rate": 0.001, "lr_schedule": "constant", "augment_crop": 0,
                             "label_smoothing": 0.1}


def test_no_recipe_when_turned_off_or_when_the_study_does_not_search_the_schedule(tmp_path: Path) -> None:
    searched = "[space]\nlr_schedule = { choices = [\"constant\", \"linear\"] }\n"
    baseline = '[[baselines]]\nname = "mine"\nlr_schedule = "constant"\n'
    off = load_spec_file(write_study(tmp_path, "off", DIGITS_HEADER + "[search]\nproven_recipe = false\n"
                                     + searched + baseline))
    assert [b.name for b in starting_points(off)] == ["mine"]
    assert [b.name for b in starting_points(load_spec("digits-quick"))] == ["small-cnn"]  # no schedule searched


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
