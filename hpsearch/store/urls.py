"""Storage URLs: the default, the driver PostgreSQL URLs use, connection settings, checking a URL
before connecting, and hiding passwords. No Optuna here, and SQLAlchemy is imported only by the
functions that parse URLs, so any command can mask an error message cheaply.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, unquote_plus

from hpsearch.errors import USAGE_ERROR, LaunchError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

STORAGE_ENV = "HPSEARCH_STORAGE"
CHECKPOINTS_ENV = "HPSEARCH_CHECKPOINTS"
DEFAULT_STORAGE = "sqlite:///hpsearch.db"
CONNECT_TIMEOUT_SECONDS = 5
URL_HINT = "use sqlite:///path/file.db or postgresql://user@host/db"

# `scheme://user:PASSWORD@host`, the user possibly holding '@' (Azure's `user@server`), as in
# SQLAlchemy. SQLAlchemy ends the password at its first '@' and hands the rest (`RET@host` of
# `u:SEC@RET@host`) to the driver as the host, which libpq then echoes in "could not translate
# host name"; so everything up to the last '@' of the URL is hidden.
USERINFO = re.compile(r"(\w[\w+.-]*://[^:/\s]*:)\S*@")
# Credentials as query parameters (`?password=`, `&sslpassword=`) or libpq `key=value` settings;
# a passfile's path is hidden too, since it says where the password lies.
# A ':' ending the value is left alone: it is the one in "cannot open storage URL: why".
CREDENTIAL = re.compile(
    r"""(?<![\w-])((?:ssl)?password|passfile)(\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&;'"]*?(?=:?(?:[\s&;'"]|$)))""",
    re.IGNORECASE,
)


def storage_url(flag: str | None = None) -> str:
    """The storage to use: the --storage flag, else $HPSEARCH_STORAGE, else the default file.

    An empty flag is refused (a ValueError): it reads as "no storage" but would silently have
    meant the default file, or whatever the environment says.
    """
    if flag is not None and not flag.strip():
        raise ValueError(f"the storage URL is empty ({URL_HINT}); leave --storage out to use ${STORAGE_ENV}, "
                         f"else {DEFAULT_STORAGE}")
    url = flag or os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE
    if _in_memory(url):
        raise ValueError(f"{url} is an in-memory SQLite database: workers cannot share it and nothing in it "
                         f"is kept after the run; {URL_HINT}")
    return url


def _in_memory(url: str) -> bool:
    """Whether an SQLite URL names no file but a database in this process's memory."""
    from sqlalchemy.exc import ArgumentError

    if not url.startswith("sqlite"):
        return False
    try:
        name = _parse(url).database
    except (ArgumentError, ValueError):
        return False  # not a URL at all: opening it says so
    return not name or name == ":memory:" or "mode=memory" in url


def _secrets(url: str) -> set[str]:
    """`url`'s credentials as written, percent-decoded, and in the pieces drivers echo (a host
    name holding the part after an '@', say); pieces under 3 characters would mask ordinary text."""
    _, _, rest = url.partition("://")
    userinfo = re.match(r"[^:/]*:(.*)@", rest)
    passwords = [userinfo.group(1)] if userinfo else []
    passwords += [match.group(3).strip("'") for match in CREDENTIAL.finditer(rest)]
    found = set()
    for password in passwords:
        for written in {password, unquote(password), unquote_plus(password)}:
            found.update([written, *re.split(r"[@\s:/]", written)])
    return {secret for secret in found if len(secret) >= 3}


def mask(text: str, url: str = "") -> str:
    """Hide every credential in `text`: URL passwords (holding '@' included), `password=`,
    `sslpassword=` and `passfile=` settings, and `url`'s own secrets wherever they appear
    (decoded, or cut apart by a parser)."""
    for secret in sorted(_secrets(url), key=len, reverse=True):
        text = text.replace(secret, "***")
    text = USERINFO.sub(r"\1***@", text)
    return CREDENTIAL.sub(r"\1\2***", text)


def _parse(url: str) -> URL:
    """`url` as SQLAlchemy reads it (PostgreSQL pinned to psycopg2): an ArgumentError when it is
    no URL, a ValueError when its port is no number."""
    from sqlalchemy.engine import make_url

    return make_url(driver_url(url))


def _database_file(parsed: URL) -> Path | None:
    """The file of a parsed SQLite URL; None for in-memory databases and SQLite `file:` URIs."""
    name = parsed.database
    if parsed.host or not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name)


def sqlite_file(url: str) -> Path | None:
    """The file an SQLite URL names; None for in-memory databases, other kinds and bad URLs."""
    from sqlalchemy.exc import ArgumentError

    if not url.startswith("sqlite"):
        return None
    try:
        return _database_file(_parse(url))
    except (ArgumentError, ValueError):
        return None


def checkpoint_dir(url: str, flag: str | None = None) -> Path:
    """Where trial checkpoints live: the --checkpoints flag, else $HPSEARCH_CHECKPOINTS, else
    beside an SQLite file (`hpsearch.db` -> `hpsearch-checkpoints/`), else `hpsearch-checkpoints`
    in the working directory; workers on several machines need a directory they all share."""
    chosen = flag or os.environ.get(CHECKPOINTS_ENV)
    if chosen:
        return Path(chosen).absolute()
    database = sqlite_file(url)
    where = database.parent / f"{database.stem}-checkpoints" if database else Path("hpsearch-checkpoints")
    return where.absolute()


def writable_checkpoints(url: str, flag: str | None) -> Path:
    """The checkpoint directory (`checkpoint_dir`), created, and refused in one sentence when it
    cannot be written: before training, rather than after trials failed on their first save."""
    import tempfile

    root = checkpoint_dir(url, flag)
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError as error:
        raise LaunchError(f"cannot write checkpoints into {root} ({error.strerror or error}); "
                          "give --checkpoints a directory this process can write", USAGE_ERROR) from None
    return root


def missing_sqlite_file(url: str) -> Path | None:
    """The file of an SQLite URL when it does not exist, else None (other databases included).

    Read-only commands check this first: opening a missing file would create an empty database.
    """
    path = sqlite_file(url)
    return None if path is None or path.exists() else path


def unwritable(path: Path) -> str | None:
    """Why SQLite could not write the database file `path` (or create it), else None.

    Root passes `os.access` whatever the mode, yet a file with no write bit at all was made
    read-only on purpose, so the bits are looked at too. The directory must take files as well:
    SQLite keeps its journal next to the database.
    """
    directory = path.parent
    if not directory.is_dir():
        return f"the directory {directory} does not exist"
    if path.exists() and (not path.stat().st_mode & 0o222 or not os.access(path, os.W_OK)):
        return f"the file {path} is not writable"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"the directory {directory} is not writable (SQLite writes a journal next to {path.name})"
    return None


def url_problem(url: str, *, writing: bool = False) -> str | None:
    """Why `url` cannot be opened as a storage, found without connecting, else None.

    Each answer is a clause for "cannot open storage URL: ...", in place of the tracebacks and
    driver jargon (an int() of the port, "Can't load plugin") SQLAlchemy would give.
    """
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = _parse(url)
    except ArgumentError:
        return f"not a storage URL ({URL_HINT})"
    except ValueError:
        return "the port is not a number"
    if parsed.host and "@" in parsed.host:
        return "the password contains '@', which a URL must spell %40"
    userinfo = re.match(r"[^:/]*(?::[^@]*)?@", url.partition("://")[2])  # as SQLAlchemy reads it
    if userinfo and re.search(r"\s", userinfo.group()):  # messages could not mask it without the URL
        return "the user name or password contains a space, which a URL must spell %20"
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        return f"unknown database kind {parsed.drivername!r} ({URL_HINT})"
    if parsed.get_backend_name() == "sqlite":
        if parsed.host:
            return ("an SQLite URL needs three slashes before a relative path and four before an "
                    f"absolute one (sqlite:///{url.partition('://')[2]})")
        path = _database_file(parsed)
        return unwritable(path) if writing and path is not None else None
    try:
        dialect.import_dbapi()
    except ImportError as error:
        return f"the {parsed.get_backend_name()} driver is not installed ({error}; {URL_HINT})"
    return None


def _reason(error: BaseException) -> str:
    """The first line of a driver's message (SQLAlchemy wraps it, with a link, around `orig`)."""
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextmanager
def opening(url: str, error: type[Exception], *, writing: bool = False) -> Iterator[None]:
    """Check `url`, then open it in the `with` block: any failure becomes `error` with the one
    sentence "cannot open storage URL: why", credentials masked.

    Both `open_storage` and the snapshot readers open storages through this, so every command
    words a bad URL, a missing driver or an unreachable server the same way.
    """
    problem = url_problem(url, writing=writing)
    if problem is None:
        try:
            yield
            return
        except Exception as failure:  # drivers raise many types for "cannot connect"
            problem = _reason(failure)
    raise error(mask(f"cannot open storage {url}: {problem}", url)) from None  # the cause may quote the URL


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
    # Ping before use: a connection the server dropped (a restart, an idle timeout) is replaced.
    kwargs: dict[str, object] = {"pool_pre_ping": True}
    if url.startswith("postgresql"):
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
        # Every worker process has its own pool, and SQLAlchemy's default (5 + 10 overflow) would
        # let 16 workers hold 240 connections, past PostgreSQL's default max_connections of 100.
        # A worker uses one connection at a time plus its heartbeat thread's, so 2 (+2 in bursts)
        # is plenty. Recycling after 5 minutes renews connections before idle timeouts, proxies or
        # firewalls cut them silently.
        kwargs.update(pool_size=2, max_overflow=2, pool_recycle=300)
    return kwargs
