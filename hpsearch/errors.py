"""The errors a user can fix, and the exit codes the CLI gives them: the lowest floor of the
package, so the launcher, its engines, the settling of a study and the API's argument checks all
raise the same `LaunchError`; a study file or name that cannot be used raises `SpecError`."""

from __future__ import annotations

USAGE_ERROR = 2  # bad study file, bad data file, bad flag
RUN_ERROR = 1  # storage unreachable, target not reached


class LaunchError(Exception):
    """A study that cannot run as asked: `message` is one sentence, `exit_code` the CLI's."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class SpecError(ValueError):
    """A study file (or a study name) that cannot be used; the message is one sentence."""
