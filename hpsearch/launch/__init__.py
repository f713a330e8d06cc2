"""Running a study: the worker loop, worker processes, Ray actors, and the live progress display."""
