"""Storage URLs -> Optuna storages, with heartbeats, retries and crash-safety settings.

The default is an SQLite file in the working directory: Optuna's RDB storage on SQLite is safe
for several worker processes on one machine, supports heartbeats (so a killed worker's trial is
retried), and `optuna-dashboard sqlite:///hpsearch.db` opens it. Several machines share a
PostgreSQL URL instead.
"""

from __future__ import annotations

import os
import warnings

import optuna
from optuna.exceptions import StorageInternalError
from optuna.storages import RDBStorage
from sqlalchemy.exc import SQLAlchemyError

from hpsearch.retries import retry_trial
from hpsearch.urls import driver_url, engine_kwargs, opening

# A running trial's worker writes a heartbeat this often; a trial silent for the grace period is
# taken to have lost its worker, failed, and queued again. Environment variables override both
# (short ones in tests; longer ones where storage hiccups are common).
HEARTBEAT_ENV, HEARTBEAT_SECONDS = "HPSEARCH_HEARTBEAT_SECONDS", 10
GRACE_ENV, GRACE_SECONDS = "HPSEARCH_GRACE_SECONDS", 60


class StorageError(RuntimeError):
    """A storage that cannot be opened; the message is one sentence with no password in it."""


def open_storage(url: str, *, read_only: bool = False) -> RDBStorage:
    """Open (creating tables if needed) an RDB storage with heartbeats and automatic retries.

    `read_only` commands (list, summary, report) skip Optuna's schema-version check, which costs
    a quarter of a second of Alembic work on every start; the others are refused at once, before
    any training starts, when an SQLite file cannot be written.
    """
    with opening(url, StorageError, writing=not read_only):
        storage = RDBStorage(
            driver_url(url),
            engine_kwargs=engine_kwargs(driver_url(url)),
            skip_compatibility_check=read_only,
            heartbeat_interval=int(os.environ.get(HEARTBEAT_ENV, HEARTBEAT_SECONDS)),
            grace_period=int(os.environ.get(GRACE_ENV, GRACE_SECONDS)),
            heartbeat_stale_trial_callback=retry_trial,
        )
    return storage


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
