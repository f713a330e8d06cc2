"""Opening storages: bad URLs and unwritable SQLite files are one sentence, the same on every
route (`open_storage` for run and report, the snapshot readers for list and summary), from the
library and from the real command, and never a traceback. No model is trained here."""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest

from hpsearch.store.snapshot import SnapshotError, read_overviews, read_snapshot
from hpsearch.store.storage import StorageError, open_storage, quiet_optuna
from tests.helpers import run_cli

BAD_URLS = {
    "bogus://x": "unknown database kind 'bogus' (use sqlite:///path/file.db or postgresql://user@host/db)",
    "plain.db": "not a storage URL (use sqlite:///path/file.db or postgresql://user@host/db)",
    "sqlite://relative/path": "an SQLite URL needs three slashes before a relative path and four before an "
                              "absolute one (sqlite:///relative/path)",
    "mysql://u@127.0.0.1:1/db": "the mysql driver is not installed (No module named 'MySQLdb'; "
                                "use sqlite:///path/file.db or postgresql://user@host/db)",
    "postgresql://u@host:abc/db": "the port is not a number",
}


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_url_is_the_same_sentence_on_every_route(url: str) -> None:
    expected = f"cannot open storage {url}: {BAD_URLS[url]}"
    for read_only in (False, True):
        with pytest.raises(StorageError) as opened:
            open_storage(url, read_only=read_only)
        assert str(opened.value) == expected
        assert opened.value.__suppress_context__  # the driver's error, which may quote the URL, is dropped
    for read in (lambda: read_overviews(url), lambda: read_snapshot(url, "x")):
        with pytest.raises(SnapshotError) as snapshot:
            read()
        assert str(snapshot.value) == expected


@pytest.mark.parametrize("url", BAD_URLS)
def test_cli_says_one_sentence_for_a_bad_url(url: str, tmp_path: Path) -> None:
    """list, summary and run (which fails before training) print it on stderr and exit 1."""
    for command in (["list"], ["summary", "somestudy"], ["run", "digits-quick", "--trials", "1"]):
        result = run_cli(*command, "--storage", url, cwd=tmp_path, timeout=120)
        assert result.returncode == 1, (command, result.stdout + result.stderr)
        assert result.stderr.strip() == f"error: cannot open storage {url}: {BAD_URLS[url]}", command
    assert list(tmp_path.iterdir()) == []  # nothing created on the way


def _stored(path: Path) -> str:
    url = f"sqlite:///{path}"
    quiet_optuna()
    storage = open_storage(url)
    optuna.create_study(study_name="kept", storage=storage).optimize(lambda t: t.suggest_float("x", 0, 1),
                                                                     n_trials=1)
    storage.engine.dispose()
    return url


def test_read_only_sqlite_file_is_refused_for_writing_and_still_read(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    url = _stored(path)
    path.chmod(0o444)

    with pytest.raises(StorageError) as refused:
        open_storage(url)
    assert str(refused.value) == f"cannot open storage {url}: the file {path} is not writable"

    storage = open_storage(url, read_only=True)  # report and export only read
    try:
        assert len(optuna.load_study(study_name="kept", storage=storage).trials) == 1
    finally:
        storage.engine.dispose()
    assert [o.name for o in read_overviews(url)] == ["kept"]


def test_run_refuses_a_read_only_file_at_once(tmp_path: Path) -> None:
    """Before TensorFlow is imported or any data loaded: seconds, not a trial's worth."""
    path = tmp_path / "study.db"
    url = _stored(path)
    path.chmod(0o444)
    started = time.monotonic()
    result = run_cli("run", "digits-quick", "--trials", "1", "--storage", url, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip() == f"error: cannot open storage {url}: the file {path} is not writable"
    assert time.monotonic() - started < 20


def test_missing_directory_is_named(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/absent/study.db"
    with pytest.raises(StorageError, match=f"the directory {tmp_path}/absent does not exist$"):
        open_storage(url)
