"""What a plain `pip install` gives a user: the package with its shipped studies as package data,
so `hpsearch run digits-quick` works from any directory, not only from an editable checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO


def test_a_non_editable_install_runs_the_demo_from_anywhere(tmp_path: Path) -> None:
    source = tmp_path / "source"  # what a source distribution holds; pip builds in there, not in the checkout
    shutil.copytree(REPO / "hpsearch", source / "hpsearch", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    installed = tmp_path / "installed"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(installed), str(source)],
        capture_output=True, text=True, timeout=600,
    )
    assert built.returncode == 0, built.stderr
    assert sorted(path.name for path in (installed / "hpsearch" / "studies").glob("*.toml")) == sorted(
        path.name for path in (REPO / "hpsearch" / "studies").glob("*.toml"))

    elsewhere = tmp_path / "elsewhere"  # no ./studies, no checkout: only the installed package
    elsewhere.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in ("HPSEARCH_STUDIES", "HPSEARCH_STORAGE")}
    env |= {"PYTHONPATH": str(installed), "COLUMNS": "200"}
    where = subprocess.run([sys.executable, "-c", "import hpsearch; print(hpsearch.__file__)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert where.stdout.strip() == str(installed / "hpsearch" / "__init__.py"), where.stderr
    result = subprocess.run([sys.executable, "-m", "hpsearch", "run", "digits-quick", "--trials", "2", "--epochs", "1"],
                            cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Done: 2 of 2 trials finished" in result.stdout and (elsewhere / "hpsearch.db").is_file()
