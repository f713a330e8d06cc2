"""Storage URLs -> Optuna storages: the default, crash-safety settings, and secret masking.

The default is an SQLite file in the working directory: Optuna's RDB storage on SQLite is safe
for several worker processes on one machine, supports heartbeats (so a killed worker's trial is
retried), and `optuna-dashboard sqlite:///hpsearch.db` opens it. Several machines share a
PostgreSQL URL instead.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import optuna
from optuna.exceptions import StorageInternalError
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial
from sqlalchemy.exc import SQLAlchemyError

STORAGE_ENV = "HPSEARCH_STORAGE"
DEFAULT_STORAGE = "sqlite:///hpsearch.db"
# A running trial's worker writes a heartbeat this often; a trial silent for the grace period is
# taken to have lost its worker, failed, and queued again. Environment variables override both
# (short ones in tests; longer ones where storage hiccups are common).
HEARTBEAT_ENV, HEARTBEAT_SECONDS = "HPSEARCH_HEARTBEAT_SECONDS", 10
GRACE_ENV, GRACE_SECONDS = "HPSEARCH_GRACE_SECONDS", 60
MAX_RETRIES = 3
CONNECT_TIMEOUT_SECONDS = 5


def retry_trial(study: optuna.Study, trial: FrozenTrial) -> None:
    """Queue a trial again with the same parameters: a WAITING copy that remembers its attempts
    (`failed_trial`, `retry_history`). The storage calls it for trials whose heartbeat went
    stale; workers call it for interrupted ones."""
    RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)(study, trial)


class StorageError(RuntimeError):
    """A storage that cannot be opened; the message is one sentence with no password in it."""


def storage_url(flag: str | None = None) -> str:
    """The storage to use: the --storage flag, else $HPSEARCH_STORAGE, else the default file."""
    return flag or os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


def _password(url: str) -> str:
    """The password part of a URL: between the user's ':' and the last '@' before the host."""
    _, _, rest = url.partition("://")
    credentials = rest.rsplit("@", 1)[0] if "@" in rest else ""
    return credentials.partition(":")[2]


def mask(text: str, url: str = "") -> str:
    """Hide URL passwords in `text`: any `scheme://user:secret@` form, and `url`'s password
    wherever it (or a piece of it, when it holds '@' or spaces that confuse URL parsers) appears.
    """
    password = _password(url)
    pieces = [password, *re.split(r"[@\s:/]", password)] if password else []
    for piece in sorted({p for p in pieces if len(p) >= 3}, key=len, reverse=True):
        text = text.replace(piece, "***")
    return re.sub(r"(\w[\w+.-]*://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)


def sqlite_path(url: str) -> Path | None:
    """The file behind an SQLite URL, or None for other databases and in-memory SQLite."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == prefix or ":memory:" in url:
        return None
    return Path(url[len(prefix) :])


def driver_url(url: str) -> str:
    """Pin PostgreSQL URLs to psycopg2: SQLAlchemy 2.1 would otherwise look for psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


def _engine_kwargs(url: str) -> dict[str, object]:
    if url.startswith("sqlite"):
        # Wait for another worker's write instead of failing with "database is locked".
        return {"connect_args": {"timeout": 60}}
    kwargs: dict[str, object] = {"pool_pre_ping": True}
    if url.startswith("postgresql"):
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    return kwargs


def open_storage(url: str, *, read_only: bool = False) -> RDBStorage:
    """Open (creating tables if needed) an RDB storage with heartbeats and automatic retries.

    `read_only` commands (list, summary, report) skip Optuna's schema-version check, which costs
    a quarter of a second of Alembic work on every start.
    """
    try:
        return RDBStorage(
            driver_url(url),
            engine_kwargs=_engine_kwargs(driver_url(url)),
            skip_compatibility_check=read_only,
            heartbeat_interval=int(os.environ.get(HEARTBEAT_ENV, HEARTBEAT_SECONDS)),
            grace_period=int(os.environ.get(GRACE_ENV, GRACE_SECONDS)),
            heartbeat_stale_trial_callback=retry_trial,
        )
    except Exception as error:  # drivers raise many types for "cannot connect"
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise StorageError(mask(f"cannot open storage {url}: {reason}", url)) from None


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
