"""Storage URLs: defaults, driver pinning, connection settings, URLs refused before connecting,
and passwords never shown, whichever of the forms SQLAlchemy and libpq accept holds them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from hpsearch.store.urls import (
    DEFAULT_STORAGE,
    driver_url,
    engine_kwargs,
    mask,
    missing_sqlite_file,
    sqlite_file,
    storage_url,
    unwritable,
    url_problem,
)
from tests.helpers import run_cli
from tests.postgres import free_port


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


def test_postgres_pool_is_bounded_and_renewed() -> None:
    kwargs = engine_kwargs(driver_url("postgresql://u@h/db"))
    assert kwargs["pool_size"] == 2 and kwargs["max_overflow"] == 2
    assert kwargs["pool_recycle"] == 300 and kwargs["pool_pre_ping"] is True
    assert "pool_size" not in engine_kwargs("sqlite:///x.db")


@pytest.mark.parametrize("password", ["s3cretpw", "se@cr3t", "se cr3t", "p:ss/w0rd"])
def test_mask_hides_awkward_passwords(password: str) -> None:
    url = f"postgresql://user:{password}@127.0.0.1:5432/db"
    driver_echo = f'could not translate host name "{password.split("@")[-1]}@127.0.0.1"'
    masked = mask(f"cannot open storage {url}: {driver_echo}", url)
    for piece in (password, *password.replace("@", " ").replace(":", " ").replace("/", " ").split()):
        if len(piece) >= 3:
            assert piece not in masked, masked
    assert "user:***@" in masked


@pytest.mark.parametrize("url, secrets", [
    ("postgresql://u:SEC@RET@host/db", ["SEC", "RET"]),
    ("postgresql://u:SEC@RET@WORD@host:5432/db?sslmode=require", ["SEC", "RET", "WORD"]),
    ("postgresql://u@127.0.0.1:1/db?password=SECRET", ["SECRET"]),
    ("postgresql://u@h/db?sslmode=require&password=SECRET&application_name=x", ["SECRET"]),
    ("postgresql://u@h/db?sslpassword=KEYPASS", ["KEYPASS"]),
    ("postgresql://u@h/db?passfile=/home/u/.pgpass-prod", ["/home/u/.pgpass-prod"]),
    ("postgresql://u:p%40ss%3Aw0rd@h/db", ["p%40ss%3Aw0rd"]),
    ("postgresql://u@h/db?password=p%26ss%40w0rd", ["p%26ss%40w0rd"]),
    ("postgresql+psycopg2://u:SECRET@h/db", ["SECRET"]),
    ("postgres://:SECRET@h/db", ["SECRET"]),
    ("postgresql://user@server:SECRET@h/db", ["SECRET"]),  # Azure's user names hold '@'
])
def test_mask_hides_every_credential_form_without_the_url(url: str, secrets: list[str]) -> None:
    """`_fail` masks messages without knowing the URL: the text alone must be enough."""
    masked = mask(f"error: cannot open storage {url}: connection refused")
    for secret in secrets:
        assert secret not in masked, masked
    assert masked.endswith(": connection refused")  # the sentence around the URL survives
    assert "@h" in masked or "@127.0.0.1" in masked or "@host" in masked


def test_mask_hides_what_sqlalchemy_and_drivers_decode_or_split() -> None:
    """SQLAlchemy decodes %40, and takes `u:SEC@RET@host` as password SEC on host `RET@host`:
    given the URL, mask hides the decoded password and its pieces wherever they turn up."""
    url = "postgresql://u:SE%40CR%2FET@h/db?password=Q%40UERY&sslpassword=KEY+PASS"
    parsed = make_url(url)
    assert parsed.password == "SE@CR/ET" and parsed.query["password"] == "Q@UERY"
    masked = mask("server said SE@CR/ET, Q@UERY, KEY PASS and KEY+PASS", url)
    for secret in ("SE@CR/ET", "Q@UERY", "KEY PASS", "KEY+PASS", "UERY"):
        assert secret not in masked, masked
    split = "postgresql://u:SEC@RET@127.0.0.1/db"
    assert (make_url(split).password, make_url(split).host) == ("SEC", "RET@127.0.0.1")
    assert "RET" not in mask('could not translate host name "RET@127.0.0.1"', split)


def test_mask_hides_libpq_keyword_settings() -> None:
    masked = mask("invalid dsn: host=h password='se cr\\'et' sslpassword=abc123 dbname=x")
    assert "se cr" not in masked and "abc123" not in masked and "dbname=x" in masked


def test_mask_leaves_plain_urls_alone() -> None:
    for text in ("sqlite:///hpsearch.db", "postgresql://hpsearch@db.example:5432/hpsearch?sslmode=require"):
        assert mask(text) == text and mask(text, text) == text


@pytest.mark.parametrize("url, problem", [
    ("bogus://x", "unknown database kind 'bogus' (use sqlite:///path/file.db or postgresql://user@host/db)"),
    ("plain.db", "not a storage URL (use sqlite:///path/file.db or postgresql://user@host/db)"),
    ("sqlite://relative/path", "an SQLite URL needs three slashes before a relative path and four before "
                               "an absolute one (sqlite:///relative/path)"),
    ("mysql://u@127.0.0.1:1/db", "the mysql driver is not installed (No module named 'MySQLdb'; "
                                 "use sqlite:///path/file.db or postgresql://user@host/db)"),
    ("postgresql://u@host:abc/db", "the port is not a number"),
    ("postgresql://u:SEC@RET@host/db", "the password contains '@', which a URL must spell %40"),
    ("postgresql://u:se cr3t@host/db", "the user name or password contains a space, which a URL must spell %20"),
])
def test_bad_urls_are_explained_before_connecting(url: str, problem: str) -> None:
    assert url_problem(url) == problem


@pytest.mark.parametrize("url", [
    "sqlite:///hpsearch.db", "sqlite:////tmp/x.db", "sqlite://", "sqlite:///:memory:", "sqlite:///my dir/a@b.db",
    "postgresql://u:se%20cr3t@h/db",
    "postgresql://u:p%40ss@h:5432/db?sslmode=require", "postgres://u@h/db", "postgresql+psycopg2://u@h/db",
])
def test_good_urls_pass(url: str) -> None:
    assert url_problem(url) is None


def test_sqlite_file_is_read_as_sqlalchemy_reads_it(tmp_path: Path) -> None:
    assert sqlite_file("sqlite:///dir/x.db?timeout=5") == Path("dir/x.db")
    assert sqlite_file(f"sqlite:///{tmp_path}/x.db") == tmp_path / "x.db"
    for url in ("sqlite://", "sqlite:///:memory:", "sqlite://relative/path", "plain.db", "postgresql://u@h/db"):
        assert sqlite_file(url) is None
    assert missing_sqlite_file(f"sqlite:///{tmp_path}/x.db") == tmp_path / "x.db"
    (tmp_path / "x.db").touch()
    assert missing_sqlite_file(f"sqlite:///{tmp_path}/x.db") is None


def test_a_file_without_write_bits_is_not_writable_even_for_root(tmp_path: Path) -> None:
    """Root may write any file, yet one chmod'ed 444 was made read-only on purpose."""
    path = tmp_path / "study.db"
    assert unwritable(path) is None  # a new file in a writable directory
    path.touch(mode=0o644)
    assert unwritable(path) is None
    path.chmod(0o444)
    assert unwritable(path) == f"the file {path} is not writable"
    assert url_problem(f"sqlite:///{path}", writing=True) == f"the file {path} is not writable"
    assert url_problem(f"sqlite:///{path}") is None  # reading is fine
    assert unwritable(tmp_path / "absent" / "x.db") == f"the directory {tmp_path / 'absent'} does not exist"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any directory whatever its mode bits")
def test_a_read_only_directory_is_not_writable(tmp_path: Path) -> None:
    directory = tmp_path / "locked"
    directory.mkdir()
    (directory / "study.db").touch()
    directory.chmod(0o555)
    try:
        assert unwritable(directory / "study.db") == (
            f"the directory {directory} is not writable (SQLite writes a journal next to study.db)"
        )
    finally:
        directory.chmod(0o755)


@pytest.mark.parametrize("url, secret", [
    ("postgresql://u@127.0.0.1:{port}/db?password=QSECRET-1", "QSECRET-1"),
    ("postgresql://u@127.0.0.1:{port}/db?sslmode=disable&sslpassword=KSECRET-2&password=QSECRET-3",
     "SECRET-"),
    ("postgresql://u:USEC@RET-4@127.0.0.1:{port}/db", "RET-4"),
    ("postgresql://u:USEC%40RET-5@127.0.0.1:{port}/db", "RET-5"),
    ("postgresql://u@127.0.0.1:{port}/db?passfile=/secret/where-6", "where-6"),
])
def test_cli_never_prints_a_secret(url: str, secret: str) -> None:
    """`list` and `summary` on unreachable URLs: one masked line on stderr and exit 1."""
    url = url.format(port=free_port())
    for command in (["list"], ["summary", "x"]):
        result = run_cli(*command, "--storage", url, timeout=60)
        output = result.stdout + result.stderr
        assert result.returncode == 1, output
        assert secret not in output and "Traceback" not in output, output
        assert result.stderr.startswith("error: cannot open storage postgresql://u"), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
