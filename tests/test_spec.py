"""Study files: every shipped one loads; every mistake is one clear sentence with exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpsearch.parameters import PARAMETERS
from hpsearch.spec import SpecError, load_spec, load_spec_file, study_files
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
    assert load_spec(str(REPO / "studies" / "digits-quick.toml")).name == "digits-quick"


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
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_study_file_is_one_clear_error(tmp_path: Path, case: str) -> None:
    body, expected = BAD_FILES[case]
    path = write_study(tmp_path, "bad", body)
    with pytest.raises(SpecError) as caught:
        load_spec_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and expected in message, message


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
