"""The `hpsearch` command line: parse, call, print. Logic lives in the modules it calls.

`shell.py` holds the Typer app and what every command shares, `options.py` the options (each
declared once), `training.py` the commands that train and `reading.py` those that read.
TensorFlow is imported only by the commands that train (`run`, `resume`, `worker`, `confirm`,
`export`), after the study and storage are checked, so every other command (and `--help`) starts
in well under a second.
"""

from __future__ import annotations

import sys

# Importing the command modules registers their commands on the app, in this order in --help.
from hpsearch.cli import training  # isort: skip
from hpsearch.cli import reading  # isort: skip
from hpsearch.cli.shell import app

__all__ = ["app", "main", "reading", "training"]


def _ray_alone_means_local(args: list[str]) -> list[str]:
    """`--ray` with no address after it (Typer options cannot take an optional value): `--ray local`."""
    from hpsearch.launch.ray_workers import LOCAL

    given = []
    for index, arg in enumerate(args):
        given.append(arg)
        following = args[index + 1] if index + 1 < len(args) else ""
        if arg == "--ray" and not (following in ("auto", LOCAL) or ":" in following):
            given.append(LOCAL)
    return given


def main() -> None:
    app(args=_ray_alone_means_local(sys.argv[1:]))
