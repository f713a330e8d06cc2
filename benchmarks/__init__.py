"""Benchmarks: each script is one command that prints a table (see BENCHMARKS.md)."""
