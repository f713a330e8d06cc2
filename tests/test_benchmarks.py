"""Each benchmark script runs end to end on its tiniest settings, so none of them can rot.
(The real runs, with their tables, are in BENCHMARKS.md; they are too long for the suite.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def test_search_results_are_reused_only_for_identical_settings(tmp_path: Path) -> None:
    from benchmarks.searches import ArmResult, cached

    runs = []

    def search() -> ArmResult:
        runs.append(1)
        return ArmResult(arm="a", seed=0, epochs_spent=5, seconds=1.0, trials=2, best_val=0.4, best_test=0.3,
                         trajectory=[(2, None), (5, 0.4)])

    first = cached("a", 0, {"budget": 5}, search, tmp_path)
    again = cached("a", 0, {"budget": 5}, search, tmp_path)
    assert again == first and len(runs) == 1
    cached("a", 0, {"budget": 6}, search, tmp_path)
    assert len(runs) == 2
    assert first.epochs_to_reach(0.39) == 5 and first.epochs_to_reach(0.5) is None
