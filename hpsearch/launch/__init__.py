"""Running a study: the launcher (`run`, `join`), the engines its workers run on, the worker loop,
supervision, and the live progress display."""
