"""Test helpers: where the real data lives, and running the real `hpsearch` command."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("HPSEARCH_TEST_DATA", REPO.parent / "shared" / "data"))
CIFAR = SHARED_DATA / "cifar10-subset.npz"
MNIST = SHARED_DATA / "mnist-subset.npz"


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run `hpsearch ARGS` as a real process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "hpsearch", *args],
        cwd=cwd or REPO,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_study(directory: Path, name: str, body: str) -> Path:
    """A study file `name.toml` with a standard header and `body` (data, search, space...)."""
    path = directory / f"{name}.toml"
    path.write_text(f'name = "{name}"\ndescription = "test study"\n{body}', encoding="utf-8")
    return path


def start_cli(*args: str, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start `hpsearch ARGS` in the background, its output in `log` (no pipe to fill up)."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "hpsearch", *args],
            cwd=REPO,
            env={**os.environ, "COLUMNS": "200", **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` until it holds; fail the test with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)
