"""Bad input gets one sentence and a non-zero exit, never a traceback, a silent default or a file
created on the way (issue 30, items 10 to 12). Each command runs as a real `hpsearch` process;
none of these tests trains a network."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import numpy as np
import optuna
import pytest
import typer
from rich.console import Console

from hpsearch.cli import _ray_alone_means_local, shell
from hpsearch.data.doctor import examine
from hpsearch.data.sources import RawData
from hpsearch.compute.budget import NO_TRIAL_TARGET, BudgetError, parse_budget
from hpsearch.errors import SpecError
from hpsearch.space.study_files import load_spec, load_spec_file
from hpsearch.store.heartbeat import (
    GRACE_ENV,
    GRACE_SECONDS,
    HEARTBEAT_ENV,
    HEARTBEAT_SECONDS,
    HeartbeatSettingError,
    heartbeat_settings,
)
from hpsearch.store.urls import storage_url
from tests.helpers import run_cli, start_cli, wait_until, write_study
from tests.postgres import free_port

# The default storage file, were a command to fall back on it: every test runs in an empty directory.
NO_STORAGE_ENV = {"HPSEARCH_STORAGE": ""}


def _refused(result: subprocess.CompletedProcess[str], code: int, words: str) -> None:
    """`result` exited with `code`, saying `words` on stderr, with no traceback."""
    assert result.returncode == code, result.stdout + result.stderr
    assert words in result.stderr, result.stderr
    assert "Traceback" not in result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------
# 10. The dashboard


@pytest.mark.parametrize(("host", "words"), [
    ("", "--host is empty, which would listen on every network interface"),
    ("256.1.1.1", "--host '256.1.1.1' is neither an IP address nor a host name this machine can resolve"),
])
def test_dashboard_refuses_an_empty_or_unknown_host_before_creating_anything(
    tmp_path: Path, host: str, words: str
) -> None:
    result = run_cli("dashboard", "--host", host, "--port", str(free_port()), cwd=tmp_path, env=NO_STORAGE_ENV)
    _refused(result, 2, words)
    assert list(tmp_path.iterdir()) == []  # no ./hpsearch.db


def test_dashboard_refuses_a_missing_sqlite_file_instead_of_serving_an_empty_one(tmp_path: Path) -> None:
    typo = tmp_path / "studeis.db"
    result = run_cli("dashboard", "--storage", f"sqlite:///{typo}", "--port", str(free_port()), cwd=tmp_path)
    _refused(result, 2, f"there is no storage file {typo}")
    assert not typo.exists()
    defaulted = run_cli("dashboard", "--port", str(free_port()), cwd=tmp_path, env=NO_STORAGE_ENV)
    _refused(defaulted, 2, "there is no storage file hpsearch.db")
    assert list(tmp_path.iterdir()) == []


def test_dashboard_on_every_interface_warns_that_it_has_no_login(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.db"
    optuna.create_study(study_name="shared", storage=url)
    port = free_port()
    log = tmp_path / "dashboard.log"
    dashboard = start_cli("dashboard", "--storage", url, "--host", "0.0.0.0", "--port", str(port), log=log)
    try:
        wait_until(lambda: "optuna-dashboard on" in log.read_text(), 60, "the dashboard to announce itself")
    finally:
        dashboard.send_signal(signal.SIGTERM)
        assert dashboard.wait(timeout=20) == 0
    assert f"warning: the dashboard has no login: anyone who can reach 0.0.0.0:{port}" in log.read_text()
    quiet = run_cli("dashboard", "--storage", url, "--host", "", "--port", str(port))
    assert "no login" not in quiet.stderr  # refused for the empty host, not warned about


# ---------------------------------------------------------------------------------------------
# 11. The doctor


def _sixteen_bit(rng: np.random.Generator, count: int) -> np.ndarray:
    """16-bit images whose brightest pixel is 51,000."""
    images = rng.integers(0, 51_000, (count, 8, 8)).astype(np.uint16)
    images[0, 0, 0] = 51_000
    return images


def test_sixteen_bit_images_are_a_severe_finding_not_silently_divided_by_255() -> None:
    rng = np.random.default_rng(0)
    raw = RawData(_sixteen_bit(rng, 200), np.arange(200) % 10, _sixteen_bit(rng, 100), np.arange(100) % 10)
    findings = [f for f in examine(raw) if f.check == "pixel-range"]
    assert [(f.severity, f.message.split(" beyond")[0]) for f in findings] == [
        ("severe", "x_train reaches 51,000,"), ("severe", "x_test reaches 51,000,")]
    assert "beyond the 8-bit range 0..255" in findings[0].message and "up to 200 instead of 1" in findings[0].message
    assert "Scale the images to 0..255 (or to 0..1 as floats)" in findings[0].advice
    eight_bit = RawData(raw.x_train // 200, raw.y_train, raw.x_test // 200, raw.y_test)
    assert [f for f in examine(eight_bit) if f.check == "pixel-range"] == []
    declared = RawData(raw.x_train, raw.y_train, raw.x_test, raw.y_test, max_pixel=65535.0)
    assert [f for f in examine(declared) if f.check == "pixel-range"] == []


def test_doctor_and_run_report_sixteen_bit_images(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    path = tmp_path / "sixteen.npz"
    np.savez(path, x_train=_sixteen_bit(rng, 200), y_train=np.arange(200) % 10,
             x_test=_sixteen_bit(rng, 100), y_test=np.arange(100) % 10)
    result = run_cli("doctor", "--data", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "pixel-range" in result.stdout and "8-bit range" in result.stdout
    refused = run_cli("run", "digits-quick", "--data", str(path), "--storage", f"sqlite:///{tmp_path}/s.db")
    _refused(refused, 2, "x_train reaches 51,000, beyond the 8-bit range")  # not divided by 255 and trained
    assert "(--force runs anyway)" in refused.stderr


def test_doctor_on_a_keras_dataset_prints_no_tensorflow_start_up_lines(tmp_path: Path) -> None:
    """Keras's dataset loader loads TensorFlow, whose native start-up lines came out twice. The
    download is sent to a port nothing listens on, so the test needs no network and stays fast."""
    (tmp_path / "keras").mkdir()
    unreachable = f"http://127.0.0.1:{free_port()}"
    result = run_cli("doctor", "--data", "cifar10", cwd=tmp_path,
                     env={"KERAS_HOME": str(tmp_path / "keras"), "https_proxy": unreachable,
                          "HTTPS_PROXY": unreachable, "http_proxy": unreachable, "HTTP_PROXY": unreachable})
    _refused(result, 2, "could not download cifar10")
    for noise in ("absl::InitializeLog", "oneDNN custom operations", "cudart_stub", "cuda drivers"):
        assert noise not in result.stderr, result.stderr


# ---------------------------------------------------------------------------------------------
# 12. Messages that pointed the wrong way: --ray


def test_a_missing_ray_says_which_extra_to_install(tmp_path: Path) -> None:
    """Rich markup ate `[ray]`, leaving `pip install 'hpsearch'`. Ray is installed here, so a
    `ray` package that fails to import stands in for a missing one."""
    fake = tmp_path / "no-ray" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise ImportError("No module named \'ray\'")\n')
    result = run_cli("run", "digits-quick", "--ray", "--storage", f"sqlite:///{tmp_path}/ray.db",
                     env={"PYTHONPATH": str(fake.parent)})
    _refused(result, 2, "--ray needs Ray: pip install 'hpsearch[ray]'")


def test_failures_print_brackets_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = Console(record=True, width=200)
    monkeypatch.setattr(shell, "errors", recorded)
    with pytest.raises(typer.Exit):
        shell.fail("the gp sampler needs PyTorch: pip install 'hpsearch[gp]' [bold]not bold[/bold]", 2)
    assert "pip install 'hpsearch[gp]' [bold]not bold[/bold]" in recorded.export_text()


def test_ray_with_a_bad_address_says_what_it_takes(tmp_path: Path) -> None:
    result = run_cli("run", "digits-quick", "--ray", "nowhere", "--storage", f"sqlite:///{tmp_path}/r.db")
    _refused(result, 2, "'nowhere' is not a Ray address: give auto, a cluster's host:port or ray://host:10001")
    assert "unexpected extra argument" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_word_after_ray_is_its_value_once_the_study_is_named() -> None:
    assert _ray_alone_means_local(["run", "s", "--ray", "nowhere"]) == ["run", "s", "--ray", "nowhere"]
    assert _ray_alone_means_local(["--verbose", "run", "s", "--force", "--ray", "x"])[-1] == "x"
    # Before the study, a word that is no address is the study, whatever flags or values precede it.
    assert _ray_alone_means_local(["run", "--trials", "4", "--ray", "s"]) == ["run", "--trials", "4", "--ray",
                                                                               "local", "s"]
    assert _ray_alone_means_local(["run", "--force", "--ray", "s"]) == ["run", "--force", "--ray", "local", "s"]
    assert _ray_alone_means_local(["run", "s", "--no-xla", "--ray"])[-1] == "local"


# ---------------------------------------------------------------------------------------------
# 12. Heartbeat settings (read in hpsearch/store/heartbeat.py)


@pytest.mark.parametrize(("variable", "value"), [
    (HEARTBEAT_ENV, "abc"), (HEARTBEAT_ENV, "0"), (HEARTBEAT_ENV, "-1"), (HEARTBEAT_ENV, "1.5"),
    (GRACE_ENV, "abc"), (GRACE_ENV, "0"), (GRACE_ENV, "-1"),
])
def test_a_bad_heartbeat_variable_is_named_in_one_sentence(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(HeartbeatSettingError) as caught:
        heartbeat_settings()
    assert str(caught.value) == f"{variable} must be a whole number of seconds, at least 1 (got {value!r})"
    assert isinstance(caught.value, ValueError)


def test_the_grace_period_must_outlast_the_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HEARTBEAT_ENV, "30")
    monkeypatch.setenv(GRACE_ENV, "30")
    with pytest.raises(HeartbeatSettingError, match=rf"^{GRACE_ENV} \(30\) must be longer than {HEARTBEAT_ENV} \(30\)"):
        heartbeat_settings()
    monkeypatch.setenv(GRACE_ENV, "31")
    assert heartbeat_settings() == (30, 31)


def test_heartbeat_defaults_and_the_tests_fast_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HEARTBEAT_ENV, raising=False)
    monkeypatch.setenv(GRACE_ENV, "")  # empty: unset
    assert heartbeat_settings() == (HEARTBEAT_SECONDS, GRACE_SECONDS)
    monkeypatch.setenv(HEARTBEAT_ENV, " 1 ")
    monkeypatch.setenv(GRACE_ENV, "5")
    assert heartbeat_settings() == (1, 5)


@pytest.mark.parametrize("settings", [{HEARTBEAT_ENV: "abc"}, {GRACE_ENV: "0"}, {HEARTBEAT_ENV: "60"}])
def test_cli_names_a_bad_heartbeat_variable_instead_of_blaming_the_storage(
    tmp_path: Path, settings: dict[str, str]
) -> None:
    result = run_cli("run", "digits-quick", "--trials", "1", "--storage", f"sqlite:///{tmp_path}/h.db",
                     env=settings)
    _refused(result, 2, next(iter(settings)))
    assert "cannot open storage" not in result.stderr


# ---------------------------------------------------------------------------------------------
# 12. --storage '', GPU-only flags without a GPU, budgets


def test_an_empty_storage_flag_is_refused_not_read_as_the_default(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="the storage URL is empty"):
        storage_url("")
    for command in (["run", "digits-quick"], ["summary", "digits-quick"], ["list"], ["dashboard"]):
        result = run_cli(*command, "--storage", "", cwd=tmp_path)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "the storage URL is empty" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_gpu_only_flags_on_a_machine_without_gpus_get_a_note(tmp_path: Path) -> None:
    """The commands are then refused (a budget, a seed), before anything trains."""
    no_gpu = {"CUDA_VISIBLE_DEVICES": ""}
    common = ("run", "digits-quick", "--storage", f"sqlite:///{tmp_path}/g.db", "--budget", "87601h")
    noted = run_cli(*common, "--workers-per-gpu", "2", "--precision", "mixed_float16", env=no_gpu)
    _refused(noted, 2, "more than the most allowed")
    assert "note: no GPU found, so --workers-per-gpu 2 does nothing" in noted.stdout
    assert "note: no GPU found: --precision mixed_float16 is for GPUs" in noted.stdout
    plain = run_cli(*common, "--precision", "float32", env=no_gpu)
    assert "note:" not in plain.stdout
    worker = run_cli("worker", "digits-quick", "--storage", f"sqlite:///{tmp_path}/w.db",
                     "--precision", "mixed_bfloat16", "--seed", "-1", env=no_gpu)
    _refused(worker, 2, "search.seed: must be from 0")
    assert "note: no GPU found: --precision mixed_bfloat16 is for GPUs" in worker.stdout


@pytest.mark.parametrize("text", ["100000000000000000000000h", "87601h", "9" * 400 + "m", "1000000001epochs"])
def test_a_budget_beyond_ten_years_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(BudgetError, match="is more than the most allowed"):
        parse_budget(text)
    result = run_cli("run", "digits-quick", "--budget", text, "--storage", f"sqlite:///{tmp_path}/b.db")
    _refused(result, 2, "is more than the most allowed")
    assert list(tmp_path.iterdir()) == []  # refused before the storage is opened


def test_ten_years_is_still_a_budget() -> None:
    assert parse_budget("87600h").describe() == "87600h"
    assert parse_budget("1000000000epochs").amount == 1_000_000_000


# ---------------------------------------------------------------------------------------------
# 12. Study files: nothing searched, extra per-layer values, a name ending in .toml


NOTHING_SEARCHED = '[data]\ndataset = "digits"\n[space]\n'


def test_a_study_that_searches_nothing_is_refused_unless_it_asks_for_one_trial(tmp_path: Path) -> None:
    spec = load_spec_file(write_study(tmp_path, "fixed", NOTHING_SEARCHED))
    with pytest.raises(SpecError, match=r"space: nothing is searched, so every trial would train the same network"):
        spec.with_overrides()
    assert spec.with_overrides(trials=1).search.trials == 1
    with pytest.raises(SpecError, match="nothing is searched"):
        spec.with_overrides(trials=NO_TRIAL_TARGET, budget="2h")  # `run --budget 2h`: trials until it is spent
    baselines = load_spec_file(write_study(
        tmp_path, "three", NOTHING_SEARCHED.replace("[space]\n", "[search]\ntrials = 3\n[space]\n")
        + '[[baselines]]\nname = "a"\nlearning_rate = 0.01\n[[baselines]]\nname = "b"\nblocks = 2\n'))
    assert baselines.with_overrides().search.trials == 3  # two baselines and the space's own network
    with pytest.raises(SpecError, match=r"trials past the first 3 .* or ask for 3 trials"):
        baselines.with_overrides(trials=4)


def test_cli_refuses_a_study_with_nothing_to_search(tmp_path: Path) -> None:
    path = write_study(tmp_path, "fixed", NOTHING_SEARCHED)
    result = run_cli("run", str(path), "--storage", f"sqlite:///{tmp_path}/f.db")
    _refused(result, 2, "space: nothing is searched, so every trial would train the same network again")
    assert "--trials 1" in result.stderr


@pytest.mark.parametrize(("space", "words"), [
    ("dense_layers = 1\ndense_units = [64, 32]\n",
     "space.dense_units: 2 values but there can be only 1 (dense layers), so the extra ones would be ignored"),
    ("blocks = { choices = [1, 2] }\nkernel_size = [3, 3, 3]\n",
     "space.kernel_size: 3 values but there can be only 2 (blocks)"),
    ('dense_layers = { choices = [1, 2] }\ndense_units = [64, 32]\n[[baselines]]\nname = "b"\ndense_layers = 1\n'
     "dense_units = [128, 64]\n", "baselines[0].dense_units: 2 values but there can be only 1 (dense layers)"),
])
def test_extra_per_layer_values_are_refused(tmp_path: Path, space: str, words: str) -> None:
    path = write_study(tmp_path, "extra", NOTHING_SEARCHED + "base_filters = { choices = [16, 32] }\n" + space)
    _refused(run_cli("show", str(path)), 2, words)


def test_per_layer_values_inherited_by_a_smaller_baseline_are_fine(tmp_path: Path) -> None:
    """The space's list fits its largest network; a baseline with fewer layers uses the first values."""
    spec = load_spec_file(write_study(
        tmp_path, "fits", NOTHING_SEARCHED + "dense_layers = { choices = [1, 2] }\ndense_units = [64, 32]\n"
        '[[baselines]]\nname = "small"\ndense_layers = 1\n'))
    assert spec.baseline_values(spec.baselines[0])["dense_units"] == (64, 32)
    assert load_spec("cifar-architecture").baselines  # its baseline lists fit exactly


def test_a_study_name_ending_in_toml_is_refused(tmp_path: Path) -> None:
    """`run` took it, but `summary weird.toml` reads a .toml reference as a file path, so the study
    could never be found by its name."""
    path = tmp_path / "weird.toml"
    path.write_text('name = "weird.toml"\ndescription = "d"\n' + NOTHING_SEARCHED
                    + "base_filters = { choices = [8, 16] }\n", encoding="utf-8")
    result = run_cli("run", str(path), "--storage", f"sqlite:///{tmp_path}/w.db")
    _refused(result, 2, f"{path}: name: a study name cannot end in .toml, which commands read as a file path "
                        "(got 'weird.toml'; name it 'weird')")
    assert not (tmp_path / "w.db").exists()


def test_a_study_name_too_long_for_its_checkpoint_folder_is_refused_before_training(tmp_path: Path) -> None:
    """A 300-character name passed validation, then every trial failed saving its checkpoint
    ("File name too long")."""
    path = tmp_path / "long.toml"
    path.write_text(f'name = "{"x" * 300}"\ndescription = "d"\n' + NOTHING_SEARCHED
                    + "base_filters = { choices = [8, 16] }\n", encoding="utf-8")
    result = run_cli("run", str(path), "--storage", f"sqlite:///{tmp_path}/l.db")
    _refused(result, 2, "a study name has at most 100 characters (got 300)")
    assert not (tmp_path / "l.db").exists()
    for command in ("run", "resume", "worker", "confirm"):  # the name given on the command line
        named = run_cli(command, "x" * 300, "--storage", f"sqlite:///{tmp_path}/l.db")
        _refused(named, 2, f"no study named '{'x' * 300}'")
        assert not (tmp_path / "l.db").exists()
