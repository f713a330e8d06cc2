"""Running a study: the worker loop, worker processes, stop signals, retries of lost trials, and the
live progress display."""
