"""Benchmarks: each script is one command that prints a table (see BENCHMARKS.md)."""

import subprocess
from pathlib import Path

# Where the search benchmarks save each finished search (learning curves included) and reuse it from;
# here, not in `searches`, so the scripts that only read them do not import TensorFlow.
RESULTS_DIR = Path(__file__).parent / "results"


def code_commit() -> str:
    """The commit the benchmark's code is at, "+changes" when tracked files differ from it: saved
    with each result so that a table row can name the code that produced it."""
    root = Path(__file__).parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
        clean = subprocess.run(["git", "diff", "--quiet", "HEAD", "--"], cwd=root).returncode == 0
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head if clean else head + "+changes"
