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


def _flags() -> set[str]:
    """The options that take no value (--force, --xla/--no-xla, --verbose, --help), as declared."""
    import typer.main

    group = typer.main.get_command(app)
    params = [*group.params, *(p for c in getattr(group, "commands", {}).values() for p in c.params)]
    return {"--help"} | {name for p in params if getattr(p, "is_flag", False)  # options, not arguments
                         for name in (*p.opts, *p.secondary_opts)}


def _ray_alone_means_local(args: list[str]) -> list[str]:
    """`--ray` with no address after it (Typer options cannot take an optional value): `--ray local`.

    The word after `--ray` is its value when it looks like an address, or when the study was
    already named before `--ray` (so `run STUDY --ray nowhere` is told what --ray takes, not of an
    "unexpected extra argument"); otherwise it is the study (`run --ray STUDY`).
    """
    from hpsearch.launch.engines.ray_connection import LOCAL

    if "--ray" not in args:
        return args
    flags, given, words, value_next = _flags(), [], 0, False  # words: the command and the study
    for index, arg in enumerate(args):
        given.append(arg)
        if value_next:
            value_next = False
        elif arg == "--ray":
            following = args[index + 1] if index + 1 < len(args) else ""
            value_next = following in ("auto", LOCAL) or ":" in following or (
                words > 1 and following != "" and not following.startswith("-"))
            if not value_next:
                given.append(LOCAL)
        elif arg.startswith("-"):
            value_next = "=" not in arg and arg not in flags
        else:
            words += 1
    return given


def main() -> None:
    app(args=_ray_alone_means_local(sys.argv[1:]))
