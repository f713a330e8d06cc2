"""Study files: every shipped one loads; every mistake is one clear sentence with exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpsearch.space.catalogue import PARAMETERS
from hpsearch.errors import SpecError
from hpsearch.space.spec import MAX_SEED
from hpsearch.space.study_files import load_spec, load_spec_file, study_files
from tests.helpers import REPO, run_cli, write_study

SHIPPED = ("cifar-dropout", "cifar-architecture", "cifar-allconv", "mnist-vgg11", "digits-quick")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_study_loads_with_a_baseline(name: str) -> None:
    spec = load_spec(name)
    assert spec.name == name
    assert spec.baselines, "every shipped study carries its hand-tuned network"
    assert any(dim.searched for dim in spec.space.values())


def test_study_files_are_found_by_name_and_path() -> None:
    assert set(SHIPPED) <= set(study_files())
    assert load_spec(str(REPO / "hpsearch" / "studies" / "digits-quick.toml")).name == "digits-quick"


GOOD_BODY = '[data]\ndataset = "digits"\n[space]\n'

BAD_FILES = {
    "unknown top-level key": ('colour = "red"\n' + GOOD_BODY, "colour: unknown key"),
    "unknown hyperparameter": (GOOD_BODY + "dropuot = 0.2\n", "space.dropuot: unknown hyperparameter"),
    "wrong type": ('[data]\ndataset = "digits"\n[training]\nepochs = "ten"\n', "training.epochs"),
    "dropout out of range": (GOOD_BODY + "conv_dropout = 1.5\n", "space.conv_dropout: must be below 1"),
    "kernel size zero": (GOOD_BODY + "kernel_size = 0\n", "space.kernel_size: must be at least 1"),
    "searched range out of range": (
        GOOD_BODY + "dense_dropout = { low = 0.1, high = 1.5 }\n",
        "space.dense_dropout.high",
    ),
    "missing dataset": ("[data]\nvalidation_fraction = 0.1\n", "data.dataset: required but missing"),
    "list for a network-wide value": (GOOD_BODY + "batch_size = [32, 64]\n", "space.batch_size"),
    "each on a network-wide value": (
        GOOD_BODY + "batch_size = { choices = [32, 64], each = true }\n",
        "space.batch_size.each",
    ),
    "too few per-block values": (GOOD_BODY + "blocks = 3\nkernel_size = [3, 2]\n", "space.kernel_size"),
    "baseline outside the space": (
        GOOD_BODY + 'batch_size = { choices = [32, 64] }\n[[baselines]]\nname = "b"\nbatch_size = 100\n',
        "baselines[0].batch_size",
    ),
    "metric and direction disagree": (
        '[data]\ndataset = "digits"\n[search]\nmetric = "val_loss"\ndirection = "maximize"\n',
        "val_loss should be minimized",
    ),
    "not TOML": ("[data\n", "not valid TOML"),
    # A misspelled metric would be a study whose pruner never hears of it: refused before training.
    "misspelled metric": (
        '[data]\ndataset = "digits"\n[search]\nmetric = "val_acc"\n',
        "search.metric: Input should be 'val_accuracy' or 'val_loss'",
    ),
    # Settings are taken as written: no string, bool or float stands in for a whole number.
    "trials given as true": (
        '[data]\ndataset = "digits"\n[search]\ntrials = true\n',
        "search.trials: Input should be a valid integer (got True)",
    ),
    "trials given as a string": (
        '[data]\ndataset = "digits"\n[search]\ntrials = "12"\n',
        "search.trials: Input should be a valid integer (got '12')",
    ),
    "trials given as a float": (
        '[data]\ndataset = "digits"\n[search]\ntrials = 12.0\n',
        "search.trials: Input should be a valid integer (got 12.0)",
    ),
    "epochs given as a string": (
        '[data]\ndataset = "digits"\n[training]\nepochs = "6"\n',
        "training.epochs: Input should be a valid integer (got '6')",
    ),
    "validation fraction given as a string": (
        '[data]\ndataset = "digits"\nvalidation_fraction = "0.2"\n',
        "data.validation_fraction: Input should be a valid number (got '0.2')",
    ),
    "subset given as a float": (
        '[data]\ndataset = "digits"\nsubset = 150.0\n',
        "data.subset: Input should be a valid integer (got 150.0)",
    ),
    "jit_compile given as a number": (
        '[data]\ndataset = "digits"\n[training]\njit_compile = 1\n',
        "training.jit_compile: Input should be a valid boolean (got 1)",
    ),
    "sampler startup given as a string": (
        '[data]\ndataset = "digits"\n[search.sampler]\nstartup_trials = "3"\n',
        "search.sampler.startup_trials: Input should be a valid integer (got '3')",
    ),
    "pruner factor given as a float": (
        '[data]\ndataset = "digits"\n[search.pruner]\nreduction_factor = 3.0\n',
        "search.pruner.reduction_factor: Input should be a valid integer (got 3.0)",
    ),
    "a setting another pruner takes": (
        '[data]\ndataset = "digits"\n[search.pruner]\ntype = "hyperband"\nwarmup_epochs = 2\n',
        "search.pruner.warmup_epochs: unknown key for the hyperband pruner",
    ),
    "another pruner's setting with no type": (
        '[data]\ndataset = "digits"\n[search.pruner]\nstartup_trials = 3\n',
        'search.pruner: startup_trials is a setting of the median pruner, not of the default hyperband: '
        'name it with type = "median"',
    ),
    "a sampler no one has": (
        '[data]\ndataset = "digits"\n[search.sampler]\ntype = "bayes"\n',
        "search.sampler.type: must be one of 'tpe', 'gp', 'random' (got 'bayes')",
    ),
    "baseline note given as a number": (
        GOOD_BODY + '[[baselines]]\nname = "b"\nnote = 5\n',
        "baselines[0].note: must be text in quotes (got 5)",
    ),
    # Seeds leave room for the trial and worker numbers added to them, below numpy's 2**32.
    "negative seed": (
        '[data]\ndataset = "digits"\n[search]\nseed = -1\n',
        "search.seed: must be from 0 to 2147483647, which leaves room",
    ),
    "seed of 2**32": (
        '[data]\ndataset = "digits"\n[search]\nseed = 4294967296\n',
        "search.seed: must be from 0 to 2147483647, which leaves room",
    ),
    # A baseline must be a value the search can draw, and a stepped range must end on its grid.
    "baseline between the steps": (
        GOOD_BODY + 'conv_dropout = { low = 0.0, high = 0.5, step = 0.1 }\n'
        '[[baselines]]\nname = "tuned"\nconv_dropout = 0.25\n',
        "baselines[0].conv_dropout: baseline 'tuned' sets conv_dropout = 0.25, which is not on the "
        "search's grid 0 .. 0.5 step 0.1",
    ),
    "baseline between integer steps": (
        GOOD_BODY + 'base_filters = { low = 8, high = 64, step = 8 }\n'
        '[[baselines]]\nname = "b"\nbase_filters = 20\n',
        "baseline 'b' sets base_filters = 20, which is not on the search's grid 8 .. 64 step 8",
    ),
    "per-block baseline between the steps": (
        GOOD_BODY + 'blocks = 2\nconv_dropout = { low = 0.0, high = 0.5, step = 0.1, each = true }\n'
        '[[baselines]]\nname = "b"\nconv_dropout = [0.1, 0.15]\n',
        "sets conv_dropout = 0.15, which is not on the search's grid",
    ),
    "baseline outside a range": (
        GOOD_BODY + 'learning_rate = { low = 1e-4, high = 1e-2, log = true }\n'
        '[[baselines]]\nname = "b"\nlearning_rate = 0.1\n',
        "sets learning_rate = 0.1, which is outside the searched range 0.0001 .. 0.01 (log)",
    ),
    "high off the grid": (
        GOOD_BODY + "conv_dropout = { low = 0.0, high = 0.45, step = 0.1 }\n",
        "space.conv_dropout.high: 0.45 is not on the grid from 0.0 in steps of 0.1",
    ),
    # A value per optimizer: for the optimizer's settings only, one for every optimizer drawn.
    "per-optimizer range missing an optimizer": (
        GOOD_BODY + 'optimizer = { choices = ["adam", "sgd"] }\n'
        "learning_rate = { adam = { low = 1e-4, high = 1e-2, log = true } }\n",
        "space.learning_rate: no value for optimizer sgd, which space.optimizer can draw",
    ),
    "per-optimizer value for an architecture setting": (
        GOOD_BODY + "base_filters = { adam = 16, sgd = 32 }\n",
        "space.base_filters: only the optimizer's settings (learning_rate,",
    ),
    "bad range under an optimizer": (
        GOOD_BODY + "learning_rate = { adam = { low = 0.1, high = 0.01 } }\n",
        "space.learning_rate.adam: low must be below high",
    ),
    "baseline outside its optimizer's range": (
        GOOD_BODY + 'optimizer = { choices = ["adam", "sgd"] }\n'
        "learning_rate = { adam = { low = 1e-4, high = 1e-2, log = true }, sgd = { low = 0.01, high = 0.3 } }\n"
        '[[baselines]]\nname = "b"\noptimizer = "sgd"\nlearning_rate = 0.001\n',
        "sets learning_rate = 0.001, which is outside the searched range 0.01 .. 0.3",
    ),
    "fractional step for a whole-number hyperparameter": (
        GOOD_BODY + "base_filters = { low = 8, high = 64, step = 8.0 }\n",
        "space.base_filters.step: base_filters takes whole numbers, so its step must be one (got 8.0)",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_study_file_is_one_clear_error(tmp_path: Path, case: str) -> None:
    body, expected = BAD_FILES[case]
    path = write_study(tmp_path, "bad", body)
    with pytest.raises(SpecError) as caught:
        load_spec_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and expected in message, message


def test_grid_values_int_for_float_and_the_largest_seed_are_accepted(tmp_path: Path) -> None:
    """0.3 and 0.5 are on the 0.1 grid although floating point says 0.3 / 0.1 = 2.9999999999999996."""
    body = (
        '[data]\ndataset = "digits"\n[search]\nseed = 2147483647\n[space]\nblocks = 3\n'
        "conv_dropout = { low = 0.0, high = 0.5, step = 0.1, each = true }\n"
        "dense_dropout = { low = 0.0, high = 0.6, step = 0.1 }\n"
        "momentum = { low = 0.8, high = 0.95, step = 0.05 }\n"
        "base_filters = { low = 8, high = 64, step = 8 }\n"
        "learning_rate = { low = 1e-4, high = 1e-2, log = true }\n"
        "max_norm = { low = 0, high = 4 }\n"
        '[[baselines]]\nname = "b"\nconv_dropout = [0.3, 0.5, 0.0]\ndense_dropout = 0.6\n'
        'optimizer = "sgd"\nmomentum = 0.85\nbase_filters = 24\nlearning_rate = 0.0031\nmax_norm = 2\n'
    )
    spec = load_spec_file(write_study(tmp_path, "grid", body))
    assert spec.search.seed == MAX_SEED
    assert spec.baseline_values(spec.baselines[0])["conv_dropout"] == (0.3, 0.5, 0.0)
    dropout = spec.space["conv_dropout"]
    assert all(dropout.problem(k * 0.1) is None for k in range(6))  # 0.30000000000000004 too
    assert dropout.problem(0.25) == "not on the search's grid 0 .. 0.5 step 0.1 (each)"


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({"seed": -1}, "command line: search.seed: must be from 0 to 2147483647"),
        ({"seed": 2**32}, "command line: search.seed: must be from 0 to 2147483647"),
        ({"trials": 0}, "command line: search.trials: Input should be greater than or equal to 1 (got 0)"),
        ({"epochs": True}, "command line: training.epochs: Input should be a valid integer (got True)"),
        ({"subset": 10}, "command line: data.subset: Input should be greater than or equal to 20 (got 10)"),
    ],
)
def test_overrides_are_checked_like_the_file(flags: dict, expected: str) -> None:
    spec = load_spec("digits-quick")
    with pytest.raises(SpecError) as caught:
        spec.with_overrides(**flags)
    assert str(caught.value).startswith(expected), caught.value


def test_overrides_replace_only_what_they_name() -> None:
    spec = load_spec("digits-quick")
    changed = spec.with_overrides(seed=MAX_SEED, trials=3, epochs=2, subset=300, jit_compile=True)
    assert (changed.search.seed, changed.search.trials, changed.training.epochs) == (MAX_SEED, 3, 2)
    assert changed.data.subset == 300 and changed.training.jit_compile
    assert changed.search.sampler == spec.search.sampler and changed.search.pruner == spec.search.pruner
    assert changed.space == spec.space and changed.baselines == spec.baselines
    assert changed.data.validation_fraction == spec.data.validation_fraction


def test_cli_refuses_a_seed_out_of_range_with_one_sentence(tmp_path: Path) -> None:
    """Fails before anything trains: the seed is checked when the flags are applied."""
    result = run_cli("run", "digits-quick", "--seed", "-1", "--storage", f"sqlite:///{tmp_path}/s.db")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert "search.seed: must be from 0 to 2147483647" in result.stderr


def test_cli_refuses_a_quoted_number_with_one_sentence(tmp_path: Path) -> None:
    path = write_study(tmp_path, "quoted", '[data]\ndataset = "digits"\n[search]\ntrials = "12"\n')
    result = run_cli("show", str(path))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert f"{path}: search.trials: Input should be a valid integer (got '12')" in result.stderr


def test_cli_reports_bad_file_with_exit_code_2_and_no_traceback(tmp_path: Path) -> None:
    path = write_study(tmp_path, "bad", GOOD_BODY + "conv_dropout = 1.5\n")
    for command in ("show", "run"):
        result = run_cli(command, str(path))
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr + result.stdout
        assert "space.conv_dropout: must be below 1" in result.stderr
        assert len(result.stderr.strip().splitlines()) <= 2


def test_missing_required_field_and_unknown_study(tmp_path: Path) -> None:
    path = tmp_path / "nameless.toml"
    path.write_text('description = "x"\n[data]\ndataset = "digits"\n', encoding="utf-8")
    result = run_cli("show", str(path))
    assert result.returncode == 2 and "name: required but missing" in result.stderr
    result = run_cli("run", "no-such-study")
    assert result.returncode == 2 and "no study named 'no-such-study'" in result.stderr


def test_show_prints_every_dimension_and_the_baseline() -> None:
    result = run_cli("show", "cifar-dropout")
    assert result.returncode == 0, result.stderr
    for name in PARAMETERS:
        assert name in result.stdout
    assert "vgg-dropout-0.2" in result.stdout
    assert "before_activation" in result.stdout  # batch-norm placement is searched


def test_commands_that_train_nothing_do_not_import_tensorflow(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from hpsearch.cli import app\n"
        "for args in (['--help'], ['list'], ['show', 'cifar-dropout']):\n"
        "    result = CliRunner().invoke(app, args)\n"
        "    assert result.exit_code == 0, (args, result.output)\n"
        "heavy = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_a_study_stored_when_every_pruner_kept_every_setting_still_opens(tmp_path: Path) -> None:
    """Studies created before each pruner and sampler took only its own settings stored them all;
    they open with the settings their type uses."""
    import optuna

    from hpsearch.records import SPEC_ATTR
    from hpsearch.search.study import stored_spec
    from hpsearch.space.pruners import HyperbandPruning
    from hpsearch.space.samplers import RandomSampling
    from hpsearch.space.spec import spec_document

    document = spec_document(load_spec("cifar-dropout"))
    document["search"]["pruner"] = {"type": "hyperband", "min_resource": 3, "reduction_factor": 3,
                                    "startup_trials": 5, "warmup_epochs": 1}
    document["search"]["sampler"] = {"type": "random", "startup_trials": 10}
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path}/old.db")
    optuna.create_study(study_name="cifar-dropout", storage=storage).set_user_attr(SPEC_ATTR, document)
    stored = stored_spec(storage, "cifar-dropout")
    assert stored is not None
    assert stored.search.pruner == HyperbandPruning(min_resource=3, reduction_factor=3)
    assert stored.search.sampler == RandomSampling()
