"""Storage URLs: defaults, driver pinning, and passwords never shown."""

from __future__ import annotations

import pytest

from hpsearch.urls import DEFAULT_STORAGE, driver_url, mask, storage_url


def test_flag_beats_environment_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HPSEARCH_STORAGE", raising=False)
    assert storage_url(None) == DEFAULT_STORAGE
    monkeypatch.setenv("HPSEARCH_STORAGE", "sqlite:///env.db")
    assert storage_url(None) == "sqlite:///env.db"
    assert storage_url("sqlite:///flag.db") == "sqlite:///flag.db"


def test_postgres_urls_use_psycopg2() -> None:
    assert driver_url("postgresql://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert driver_url("postgres://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert driver_url("sqlite:///x.db") == "sqlite:///x.db"


@pytest.mark.parametrize("password", ["s3cretpw", "se@cr3t", "se cr3t", "p:ss/w0rd"])
def test_mask_hides_awkward_passwords(password: str) -> None:
    url = f"postgresql://user:{password}@127.0.0.1:5432/db"
    driver_echo = f'could not translate host name "{password.split("@")[-1]}@127.0.0.1"'
    masked = mask(f"cannot open storage {url}: {driver_echo}", url)
    for piece in (password, *password.replace("@", " ").replace(":", " ").replace("/", " ").split()):
        if len(piece) >= 3:
            assert piece not in masked, masked
    assert "user:***@" in masked
