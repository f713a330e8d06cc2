"""Test helpers: where the real data lives, and running the real `hpsearch` command."""

from __future__ import annotations

import os
import subprocess
import sys
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
