"""Fixtures shared by the test modules."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import CIFAR, MNIST, SHARED_DATA
from tests.postgres import PostgresServer


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
