"""Each benchmark script runs end to end on its tiniest settings, so none of them can rot.
(The real runs, with their tables, are in BENCHMARKS.md; they are too long for the suite.)"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import REPO

TINY = {
    "overhead": ["--study", "digits-quick", "--data", "digits", "--epochs", "2", "--repeats", "1"],
    "cli_latency": ["--trials", "30", "--repeats", "1"],
    "search_quality": ["--study", "digits-quick", "--data", "digits", "--epochs", "2", "--budget", "3",
                       "--seeds", "0", "--fresh"],
    "pruning": ["--study", "digits-quick", "--data", "digits", "--epochs", "2", "--budget", "3",
                "--seeds", "0", "--fresh"],
    "gpu": ["--study", "digits-quick", "--data", "digits", "--epochs", "2", "--workers-per-gpu", "1",
            "--settings", "1", "--allow-cpu"],
    "parallel_sampling": ["--workers", "2", "--rounds", "2", "--seeds", "1"],
    "storage_scale": ["--workers", "1", "2", "--seconds", "2", "--ask-sizes", "30", "--asks", "2"],
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_benchmark_prints_its_table(name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", *TINY[name]],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    table = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert len(table) >= 3, result.stdout
