"""Fixtures shared by the test modules."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import CIFAR, MNIST, SHARED_DATA, run_cli, write_study
from tests.postgres import PostgresServer


@pytest.fixture(scope="session", autouse=True)
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Trial checkpoints of every `hpsearch` the tests start go to a temporary directory, not
    beside the repository (the default for PostgreSQL storages is the working directory)."""
    directory = tmp_path_factory.mktemp("checkpoints")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HPSEARCH_CHECKPOINTS", str(directory))
        yield directory


@pytest.fixture(scope="session", autouse=True)
def quick_jax_compiles() -> Iterator[None]:
    """JAX's compiler at its lowest optimization level in every process the tests start (issue 27):
    the tests' networks are tiny, and on this CPU compiling them was about a third of a JAX
    trial's CPU time (a worker's 3 trials: 30 CPU s against 45); nothing tested depends on how
    fast the compiled steps run."""
    flags = " ".join(filter(None, [os.environ.get("XLA_FLAGS"), "--xla_backend_optimization_level=0"]))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XLA_FLAGS", flags)
        yield


@pytest.fixture(scope="session")
def shared_data() -> Path:
    assert CIFAR.is_file() and MNIST.is_file(), f"real test data missing under {SHARED_DATA}"
    return SHARED_DATA


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the whole session (see tests/postgres.py), removed afterwards."""
    server = PostgresServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def database(postgres: PostgresServer, request: pytest.FixtureRequest) -> str:
    """A fresh database per test, so one test's studies never show up in another's."""
    name = re.sub(r"\W", "_", request.node.name)[:40].lower() + "_" + secrets.token_hex(3)
    return postgres.create_database(name)


SMALL_NET = "blocks = 1\nconvs_per_block = 1\nbase_filters = 8\ndense_units = 32\n"


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups (`--dist loadgroup`)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test on `studies` goes to one xdist worker, so the studies are trained once, not once
    per worker (issue 27: about 25 CPU s)."""
    for item in items:
        if "studies" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("studies"))


@pytest.fixture(scope="session")
def studies(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """Three real digits studies in one SQLite storage, trained once for the summary, export
    and report tests: `labels` (baselines at chance, diverging, underfitting), `overfits` and
    `beats-baseline` (a hopeless baseline, then sampled trials)."""
    directory = tmp_path_factory.mktemp("studies")
    url = f"sqlite:///{directory}/studies.db"
    labels = write_study(
        directory, "labels",
        '[data]\ndataset = "digits"\n[training]\nepochs = 3\n[search]\ntrials = 2\n'
        '[search.pruner]\ntype = "none"\n'
        f"[space]\n{SMALL_NET}"
        '[[baselines]]\nname = "at-chance"\nlearning_rate = 0.0000001\n'
        '[[baselines]]\nname = "explodes"\nactivation = "elu"\noptimizer = "sgd"\nlearning_rate = 10.0\n'
        '[[baselines]]\nname = "underfits"\nlearning_rate = 0.003\nconv_dropout = 0.3\ndense_dropout = 0.5\n',
    )
    overfits = write_study(
        directory, "overfits",
        '[data]\ndataset = "digits"\nsubset = 150\n[training]\nepochs = 40\n[search]\ntrials = 1\n'
        f'[search.pruner]\ntype = "none"\n[space]\n{SMALL_NET}learning_rate = 0.003\nbatch_size = 16\n'
        '[[baselines]]\nname = "no-regularization"\n',
    )
    beats = write_study(
        directory, "beats-baseline",
        '[data]\ndataset = "digits"\n[training]\nepochs = 2\n[search]\ntrials = 3\n'
        f'[search.pruner]\ntype = "none"\n[space]\n{SMALL_NET}'
        "learning_rate = 0.005\nbatch_size = { choices = [32, 64] }\n"
        '[[baselines]]\nname = "hopeless"\nlearning_rate = 0.0000001\n',
    )
    for path in (labels, overfits, beats):
        result = run_cli("run", str(path), "--storage", url)
        assert result.returncode == 0, result.stdout + result.stderr
    return url, directory
