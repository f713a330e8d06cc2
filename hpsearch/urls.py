"""Storage URLs: the default, the driver PostgreSQL URLs use, connection settings, and hiding
passwords. No Optuna and no SQLAlchemy here, so any command can mask an error message cheaply.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

STORAGE_ENV = "HPSEARCH_STORAGE"
DEFAULT_STORAGE = "sqlite:///hpsearch.db"
CONNECT_TIMEOUT_SECONDS = 5


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


def missing_sqlite_file(url: str) -> Path | None:
    """The file of an SQLite URL when it does not exist, else None (other databases included).

    Read-only commands check this first: opening a missing file would create an empty database.
    """
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == prefix or ":memory:" in url:
        return None
    path = Path(url[len(prefix) :])
    return None if path.exists() else path


def driver_url(url: str) -> str:
    """Pin PostgreSQL URLs to psycopg2: SQLAlchemy 2.1 would otherwise look for psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


def engine_kwargs(url: str) -> dict[str, object]:
    if url.startswith("sqlite"):
        # Wait for another worker's write instead of failing with "database is locked".
        return {"connect_args": {"timeout": 60}}
    kwargs: dict[str, object] = {"pool_pre_ping": True}
    if url.startswith("postgresql"):
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    return kwargs
