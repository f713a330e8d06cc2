"""Storage URLs -> Optuna storages, with heartbeats, retries and crash-safety settings.

The default is an SQLite file in the working directory: Optuna's RDB storage on SQLite is safe
for several worker processes on one machine, supports heartbeats (so a killed worker's trial is
retried), and `optuna-dashboard sqlite:///hpsearch.db` opens it. Several machines share a
PostgreSQL URL instead.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import optuna
import sqlalchemy
from optuna.exceptions import StorageInternalError
from optuna.storages import RDBStorage
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from hpsearch.store.heartbeat import heartbeat_settings
from hpsearch.store.urls import driver_url, engine_kwargs, opening, sqlite_file


# Called with a study and one of its trials: Optuna's trial callbacks, and the stale-trial callback.
TrialCallback = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]


class StorageError(RuntimeError):
    """A storage that cannot be opened; the message is one sentence with no password in it."""


def open_storage(url: str, *, read_only: bool = False, on_stale_trial: TrialCallback | None = None) -> RDBStorage:
    """Open (creating tables if needed) an RDB storage with heartbeats and automatic retries.

    `read_only` commands (list, summary, report) skip Optuna's schema-version check, which costs
    a quarter of a second of Alembic work on every start; the others are refused at once, before
    any training starts, when an SQLite file cannot be written. `on_stale_trial` is given each
    trial that `fail_stale_trials` fails for a dead worker (hpsearch queues it again).
    """
    heartbeat_interval, grace_period = heartbeat_settings()  # a bad variable is its own sentence
    with opening(url, StorageError, writing=not read_only), one_at_a_time(driver_url(url)):
        storage = RDBStorage(
            driver_url(url),
            engine_kwargs=engine_kwargs(driver_url(url)),
            skip_compatibility_check=read_only,
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            heartbeat_stale_trial_callback=on_stale_trial,
        )
    if storage.engine.dialect.name == "sqlite":
        sqlalchemy.event.listen(storage.engine, "before_execute", _lock_for_update_on_sqlite)
    return storage


# Any number shared by every hpsearch process; PostgreSQL keeps advisory locks per database.
SCHEMA_LOCK = 0x68707365617263


@contextmanager
def one_at_a_time(url: str) -> Iterator[None]:
    """Let one process at a time open the storage (or set up a study, see `study.open_study`).

    Optuna creates its tables and stamps its schema version by checking first, then creating, so
    a dozen workers started together on a fresh storage failed with "table studies already
    exists", "UNIQUE constraint failed: alembic_version.version_num" (SQLite), "type
    studydirection already exists" or a duplicate key in pg_type (PostgreSQL). PostgreSQL
    serializes the openings with a session advisory lock (dropped by the server if this process
    dies), SQLite with a lock on the database's directory (SQLite serves one machine; the file
    itself is left alone, since closing a descriptor of it would drop SQLite's own locks). On an
    existing storage each opening waits a few milliseconds at most.
    """
    database = sqlite_file(url)
    if database is not None:
        try:
            directory = os.open(database.parent, os.O_RDONLY)
        except OSError:  # no such directory: RDBStorage says so
            yield
            return
        try:
            fcntl.flock(directory, fcntl.LOCK_EX)
            yield
        finally:
            os.close(directory)  # drops the lock
        return
    if not url.startswith("postgresql"):
        yield
        return
    engine = sqlalchemy.create_engine(url, poolclass=NullPool, connect_args=engine_kwargs(url)["connect_args"])
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f"SELECT pg_advisory_lock({SCHEMA_LOCK})")
            connection.commit()
            try:
                yield
            finally:
                connection.exec_driver_sql(f"SELECT pg_advisory_unlock({SCHEMA_LOCK})")
                connection.commit()
    finally:
        engine.dispose()


def storage_url(study: optuna.Study) -> str:
    """The URL of the RDB storage behind `study` (Optuna wraps it in a cache), "" for another kind."""
    storage = getattr(study._storage, "_backend", study._storage)
    return storage.url if isinstance(storage, RDBStorage) else ""


def trial_numbered(study: optuna.Study, number: int) -> optuna.trial.FrozenTrial:
    """Trial `number` of `study`, read from its storage (where a sampler or a callback holding
    another trial finds it)."""
    storage = study._storage
    return storage.get_trial(storage.get_trial_id_from_study_id_trial_number(study._study_id, number))


def _lock_for_update_on_sqlite(connection: Connection, statement: object, *args: object) -> None:
    """Give SQLite what SELECT ... FOR UPDATE gives PostgreSQL: the write lock, taken at once.

    SQLite has no FOR UPDATE (SQLAlchemy leaves it out), and Python's sqlite3 driver begins a
    transaction only at its first write. So two workers could both read an enqueued trial as
    WAITING and both claim it (Optuna's pop of a waiting trial reads it FOR UPDATE, then sets it
    RUNNING): the trial trained twice and the slower worker died on "Cannot tell a COMPLETE
    trial". Beginning such a transaction IMMEDIATE makes its read and its write one atomic step;
    other writers wait for it (the connection's busy timeout). Optuna reads FOR UPDATE only as
    the first statement of a short transaction (claiming a trial, numbering a new one).
    """
    if connection.dialect.name != "sqlite" or getattr(statement, "_for_update_arg", None) is None:
        return
    raw = connection.connection.dbapi_connection
    if isinstance(raw, sqlite3.Connection) and not raw.in_transaction:
        raw.execute("BEGIN IMMEDIATE")


def is_storage_failure(error: BaseException) -> bool:
    """Whether `error` comes from losing the database (a restart, a dropped connection).

    Optuna sometimes re-raises such a failure as another exception (an UnboundLocalError when a
    trial's result cannot be stored), so the whole chain of causes is looked at.
    """
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, (SQLAlchemyError, StorageInternalError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def quiet_optuna() -> None:
    """Optuna's own log lines (and tracebacks of failed trials) would garble the progress display."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    # heartbeats and grouped TPE are marked experimental; the warning says nothing a user can act on
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
