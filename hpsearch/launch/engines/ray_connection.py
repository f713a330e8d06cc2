"""Reaching a Ray cluster for the `ray` engine: the addresses `--ray` takes, failing fast on one
nothing answers on, the token a local cluster expects, and connecting for the length of a run."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hpsearch.errors import RUN_ERROR, USAGE_ERROR, LaunchError
from hpsearch.lifecycle import stopping

AUTH_MODE_ENV = "RAY_AUTH_MODE"
LOCAL = "local"  # `--ray` alone: a Ray instance started here for this run and stopped after it


def address_problem(address: str) -> str | None:
    """Why `address` is none of what `connected` takes (`auto`, `local`, `host:port`,
    `ray://host:port`), else None: one clause for "Invalid value for '--ray'"."""
    scheme, _, rest = address.rpartition("://")
    host, colon, port = rest.rpartition(":")
    if address in ("auto", LOCAL) or (scheme == "ray" and rest and not colon):  # Ray client's own port
        return None
    if scheme in ("", "ray") and host and port.isdigit():
        return None
    return (f"{address!r} is not a Ray address: give auto, a cluster's host:port or ray://host:10001, or "
            "--ray alone to start Ray here for this run")


@contextmanager
def connected(address: str) -> Iterator[None]:
    """Connect this process to the Ray cluster at `address` (`auto`, `host:port`,
    `ray://host:10001`), or start one here for the run (`local`), and let go afterwards."""
    problem = address_problem(address)
    if problem:
        raise LaunchError(problem, USAGE_ERROR)
    _check_reachable(address)
    if _on_this_machine(address):
        _send_token_if_any()  # before Ray loads: it reads its settings once
    try:
        import ray
        from ray.exceptions import RayError
    except ImportError:
        raise LaunchError("--ray needs Ray: pip install 'hpsearch[ray]'", USAGE_ERROR) from None
    try:
        ray.init(address=address, log_to_driver=False, include_dashboard=False if address == LOCAL else None,
                 logging_level=logging.ERROR, configure_logging=True)
    except (ConnectionError, RuntimeError, ValueError, RayError) as error:
        raise LaunchError(f"cannot connect to the Ray cluster at {address!r} ({first_line(error)}); start one "
                          "with `ray start --head`, or give its address (auto, host:port, ray://host:10001); "
                          f"a cluster with token authentication needs {AUTH_MODE_ENV}=token",
                          RUN_ERROR) from None
    if threading.current_thread() is threading.main_thread():
        stopping.stop_gracefully()  # ray.init makes SIGTERM exit at once; hpsearch stops at a safe point
    try:
        yield
    finally:
        ray.shutdown()  # a cluster started here stops with it


def _on_this_machine(address: str) -> bool:
    """`auto`, or a host:port on a loopback address or this host's name or addresses."""
    if address == "auto":
        return True
    host = address.rpartition("://")[2].rpartition(":")[0]
    if host in ("localhost", socket.gethostname()) or host.startswith("127."):
        return True
    try:
        return host in socket.gethostbyname_ex(socket.gethostname())[2]
    except OSError:
        return False


def _send_token_if_any() -> None:
    """`ray start` turns on token authentication when it finds a token (RAY_AUTH_TOKEN,
    RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token, which a local `ray.init` writes), but a driver
    connecting does not (Ray 2.60), and is refused; for a cluster on this machine, do as
    `ray start` did. A cluster without authentication accepts a driver that sends a token. A
    cluster elsewhere gets no token unless RAY_AUTH_MODE=token says so (Ray's own rule)."""
    if AUTH_MODE_ENV in os.environ:
        return
    token_file = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", Path.home() / ".ray" / "auth_token"))
    if os.environ.get("RAY_AUTH_TOKEN") or token_file.is_file():
        os.environ[AUTH_MODE_ENV] = "token"


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a `host:port` nothing answers on: Ray itself retries it for minutes."""
    host, _, port = address.rpartition("://")[2].rpartition(":")
    if not host or not port.isdigit():
        return  # `auto`, `local`: Ray finds the cluster (or says there is none) at once
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as error:
        raise LaunchError(f"no Ray cluster answers at {address} ({error.strerror or error}); start one with "
                          "`ray start --head`, or give its address (auto, host:port, ray://host:10001)",
                          RUN_ERROR) from None


def first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
