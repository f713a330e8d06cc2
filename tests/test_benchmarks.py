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
    "bracket_startup": ["--trials", "8", "--seeds", "2"],
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


def test_difference_says_whether_the_seeds_tell_two_searches_apart() -> None:
    from benchmarks.search_quality import _difference
    from benchmarks.searches import ArmResult

    def runs(arm: str, tests: list[float]) -> list[ArmResult]:
        return [ArmResult(arm=arm, seed=seed, epochs_spent=24, seconds=1.0, trials=6, best_val=test,
                          best_test=test) for seed, test in enumerate(tests)]

    close = {"a": runs("a", [0.40, 0.44, 0.39]), "b": runs("b", [0.42, 0.41, 0.45])}
    assert _difference("a", "b", close).startswith("a - b: -1.7 points")
    assert _difference("a", "b", close).endswith("not apart at this many seeds")
    far = {"a": runs("a", [0.60, 0.61, 0.62]), "b": runs("b", [0.40, 0.41, 0.42])}
    assert _difference("a", "b", far).endswith("(Welch's t, p = 0.00): apart")
