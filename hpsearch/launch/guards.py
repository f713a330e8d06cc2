"""What wraps every command that trains: stop signals asked for at a safe point, and a refused
command that leaves no empty SQLite file behind."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hpsearch.errors import LaunchError
from hpsearch.lifecycle import stopping

F = TypeVar("F", bound=Callable[..., Any])


def stopping_gracefully(function: F) -> F:
    """Run `function` with Ctrl-C and SIGTERM asking for a stop at a safe point (`stopping.py`),
    and the caller's handlers back afterwards."""

    @functools.wraps(function)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with stopping.graceful():
            return function(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def refusals_leave_no_storage(function: F) -> F:
    """A command refused (a LaunchError) after it created the SQLite file it was given leaves no
    empty file behind: checks that need the stored study (its data, its flags) run after the
    storage is opened, and a refusal must change nothing, not even create a file."""

    @functools.wraps(function)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        from hpsearch.store.urls import missing_sqlite_file, storage_url

        created = missing_sqlite_file(storage_url(kwargs.get("storage")))
        try:
            return function(*args, **kwargs)
        except LaunchError:
            if created is not None and created.exists() and not _holds_a_study(created):
                for leftover in (created, created.with_name(created.name + "-journal")):
                    leftover.unlink(missing_ok=True)
            raise

    return wrapped  # type: ignore[return-value]


def _holds_a_study(database: Path) -> bool:
    import sqlite3

    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            return bool(connection.execute("SELECT count(*) FROM studies").fetchone()[0])
    except sqlite3.Error:  # no tables yet (or not a database): nothing of a study's in it
        return False
