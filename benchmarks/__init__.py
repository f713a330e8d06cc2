"""Benchmarks: each script is one command that prints a table (see BENCHMARKS.md)."""

from pathlib import Path

# Where the search benchmarks save each finished search (learning curves included) and reuse it from;
# here, not in `searches`, so the scripts that only read them do not import TensorFlow.
RESULTS_DIR = Path(__file__).parent / "results"
