"""The package's floors (pyproject's [tool.importlinter]): every import, function-level ones
included, points down, and no modules import each other in a circle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_every_import_points_down_and_none_go_in_a_circle() -> None:
    result = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_an_import_up_the_floors_is_caught(tmp_path: Path) -> None:
    """The contract is not vacuous: the storage importing the launcher (as it once did, for the
    stale-trial callback) breaks both contracts."""
    copy = tmp_path / "repo"
    copy.mkdir()
    (copy / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text())
    subprocess.run(["cp", "-r", str(REPO / "hpsearch"), str(copy / "hpsearch")], check=True)
    storage = copy / "hpsearch" / "store" / "storage.py"
    storage.write_text(storage.read_text() + "\n\ndef _up() -> None:\n    from hpsearch.lifecycle.retries import retry_trial  # noqa\n")
    result = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=copy, capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "hpsearch.store.storage -> hpsearch.lifecycle.retries" in result.stdout
    assert "0 kept, 2 broken" in result.stdout
