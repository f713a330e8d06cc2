"""Benchmarks: each script is one command that prints a table (see BENCHMARKS.md)."""

import functools
import subprocess
from pathlib import Path

# Where the search benchmarks save each finished search (learning curves included) and reuse it from;
# here, not in `searches`, so the scripts that only read them do not import TensorFlow.
RESULTS_DIR = Path(__file__).parent / "results"


@functools.cache
def code_commit() -> str:
    """The commit the benchmark's code was at when this process first asked (a benchmark asks as it
    starts, so commits made while it runs do not relabel its results), "+changes" when tracked
    files differed from it: saved with each result so that a table row names the code behind it."""
    root = Path(__file__).parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
        clean = subprocess.run(["git", "diff", "--quiet", "HEAD", "--"], cwd=root).returncode == 0
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head if clean else head + "+changes"
