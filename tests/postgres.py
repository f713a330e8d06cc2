"""A real, throwaway PostgreSQL server for the tests: no mocks, no shared database, no leftovers.

Each `PostgresServer` runs `initdb` into its own temporary directory, listens only on a free
127.0.0.1 port (its unix socket also lives in that directory, so it never meets a system
server), requires a password (so tests can check that URLs are printed masked), and is removed
with its directory by `close()`. `restart()` keeps the port and the data, as a database
administrator restarting the server under running workers would.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import psycopg2

USER = "hpsearch"  # the superuser that initdb creates; the URL's user
DATABASE = "hpsearch"
START_SECONDS = 60
SETTINGS = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
# A test database need not survive a power cut: skip the disk flushes, which are slow on CI disks.
fsync = off
synchronous_commit = off
full_page_writes = off
"""


def find_bindir() -> Path:
    """The directory holding `initdb` and `pg_ctl`: on PATH, else Debian's /usr/lib/postgresql/N/bin.

    Debian puts the server binaries off PATH (only wrappers such as pg_ctlcluster are on it), and
    `.ci/run` installs Debian's package, so both places are looked at; the newest version wins.
    """
    on_path = shutil.which("pg_ctl")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _version(p.parent.name))
    for bindir in candidates + debian[::-1]:
        if (bindir / "pg_ctl").is_file() and (bindir / "initdb").is_file():
            return bindir
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or under /usr/lib/postgresql; "
        "install them (Debian: apt-get install postgresql), as .ci/run does"
    )


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def server_user() -> pwd.struct_passwd | None:
    """The account the server runs as: None (ourselves) unless we are root.

    initdb and postgres refuse to run as root. Debian's package creates `postgres`; where it is
    absent, `nobody` will do, since the server only needs to own its temporary directory.
    Creating a system user from a test would change the machine, so it is never done.
    """
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists")


def free_port() -> int:
    """A loopback TCP port nothing listens on right now (also useful as an unreachable URL)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """A PostgreSQL server in a temporary directory; `url` points at its `hpsearch` database."""

    def __init__(self) -> None:
        self.bindir = find_bindir()
        self.account = server_user()
        self.password = "pw-" + secrets.token_hex(12)  # distinctive: tests grep output for it
        self.port = free_port()
        # /tmp rather than $TMPDIR: the server account must be able to reach the directory.
        self.root = Path(tempfile.mkdtemp(prefix="hpsearch-pg-", dir="/tmp" if self.account else None))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        try:
            self._initdb()
            self.start()
            self.url = self.create_database(DATABASE)
        except BaseException:
            self.close()
            raise

    def url_for(self, database: str, password: str | None = None, port: int | None = None) -> str:
        """A URL for `database` on this server (a wrong password or port makes a failing one)."""
        secret = self.password if password is None else password
        return f"postgresql://{USER}:{secret}@127.0.0.1:{port or self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create database `name` (one per test keeps tests apart) and return its URL."""
        conn = self.connect("postgres")
        try:
            conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
            with conn.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.url_for(name)

    def connect(self, database: str = DATABASE) -> psycopg2.extensions.connection:
        """A plain psycopg2 connection over TCP with the password, as the storage connects."""
        return psycopg2.connect(
            host="127.0.0.1", port=self.port, user=USER, password=self.password, dbname=database,
            connect_timeout=5,
        )

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while it runs (it changes on a real restart)."""
        pidfile = self.data / "postmaster.pid"
        return int(pidfile.read_text().split()[0]) if pidfile.is_file() else None

    def start(self) -> None:
        """Start on the same port and data directory; return once it accepts connections."""
        wait = ("-w", "-t", str(START_SECONDS))
        self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), *wait)
        deadline = time.monotonic() + START_SECONDS
        while True:  # pg_ctl -w waits for the postmaster; also wait for a real, authenticated login
            try:
                self.connect("postgres").close()
                return
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL did not accept connections:\n{self.log_tail()}") from None
                time.sleep(0.1)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` disconnects clients cleanly, `immediate` is like a crash."""
        if self.pid is not None:
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", str(START_SECONDS))

    def restart(self, mode: str = "fast") -> None:
        """Stop and start again on the same port: clients' open connections die, the data stays."""
        self.stop(mode)
        self.start()

    def close(self) -> None:
        """Stop the server and delete its directory."""
        try:
            if self.data.is_dir():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        """The end of the server log, for failure messages."""
        if not self.log.is_file():
            return "(no server log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def _initdb(self) -> None:
        pwfile = self.root / "password"
        pwfile.write_text(self.password + "\n")
        if self.account:
            os.chown(self.root, self.account.pw_uid, self.account.pw_gid)
            os.chown(pwfile, self.account.pw_uid, self.account.pw_gid)
        self._run(
            "initdb", "-D", str(self.data), "-U", USER, f"--pwfile={pwfile}", "--auth=scram-sha-256",
            "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
        )
        pwfile.unlink()
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(SETTINGS.format(port=self.port, socket_dir=self.root))

    def _run(self, program: str, *args: str) -> None:
        """Run a server binary as the server account; output goes to the log, not to a pipe.

        The postmaster that `pg_ctl start` leaves behind inherits pg_ctl's stdout: a pipe would
        keep `subprocess.run` waiting for it until the server stops.
        """
        with self.log.open("a") as log:
            if self.account:
                os.chown(self.log, self.account.pw_uid, self.account.pw_gid)
            done = subprocess.run(
                [str(self.bindir / program), *args], cwd=self.root, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, timeout=START_SECONDS + 30,
                user=self.account.pw_uid if self.account else None,
                group=self.account.pw_gid if self.account else None,
                extra_groups=[] if self.account else None,
                env={**os.environ, "LC_ALL": "C", "HOME": str(self.root)},
            )
        if done.returncode != 0:
            raise RuntimeError(f"{program} {args[0]} failed ({done.returncode}):\n{self.log_tail()}")
