"""Fixtures shared by the test modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import CIFAR, MNIST, SHARED_DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    assert CIFAR.is_file() and MNIST.is_file(), f"real test data missing under {SHARED_DATA}"
    return SHARED_DATA
