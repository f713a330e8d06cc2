"""What the Python API (`hpsearch.run`, `join`, `load`, `confirm`, `export`) takes, checked at the
edge as the CLI checks its flags: the types a Python user passes are accepted (paths as `str` or
`os.PathLike`, a budget as text, seconds or a `datetime.timedelta`), and anything else is a
`LaunchError` of one sentence naming the argument and what it takes, never an AttributeError
from deep inside. A misspelled keyword names the nearest real one.
"""

from __future__ import annotations

import datetime
import difflib
import functools
import inspect
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Union

from hpsearch.errors import USAGE_ERROR, LaunchError

if TYPE_CHECKING:
    from hpsearch.space.spec import StudySpec

F = TypeVar("F", bound=Callable[..., Any])
# What the API's type hints promise, as CHECKS below accepts it.
PathText = Union[str, "os.PathLike[str]"]
StudyReference = Union[str, "os.PathLike[str]", "StudySpec"]
BudgetValue = Union[str, int, float, datetime.timedelta]


def checked_arguments(function: F) -> F:
    """Refuse an unknown keyword (`trails=`) naming the nearest real one, and a call that does not
    fit the signature, in one sentence each; then check and convert every argument that has a
    rule in CHECKS (a `pathlib.Path` study becomes its path's text, a budget of seconds "3600s")."""
    signature = inspect.signature(function)
    known = list(signature.parameters)

    @functools.wraps(function)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        for name in kwargs:
            if name not in signature.parameters:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f" (it takes {', '.join(known)})"
                raise LaunchError(f"{function.__name__}() has no argument {name!r}{hint}", USAGE_ERROR)
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as error:
            raise LaunchError(f"{function.__name__}(): {error}", USAGE_ERROR) from None
        for name, value in bound.arguments.items():
            if name in CHECKS:
                bound.arguments[name] = CHECKS[name](name, value)
        return function(*bound.args, **bound.kwargs)

    return wrapped  # type: ignore[return-value]


def _refuse(name: str, takes: str, value: Any) -> LaunchError:
    return LaunchError(f"{name} takes {takes} (got {type(value).__name__} {value!r})", USAGE_ERROR)


def study_reference(name: str, value: Any) -> Any:
    """A study name, a study file's path (`str` or `os.PathLike`), or a `StudySpec` built in Python."""
    from hpsearch.space.spec import StudySpec

    if isinstance(value, StudySpec):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, str) and value.strip():
        return value
    raise _refuse(name, "a study name, a path to its .toml file, or a StudySpec", value)


def text(name: str, value: Any) -> str | None:
    """An optional text argument: a storage URL, a dataset name or a path (`os.PathLike` too)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise _refuse(name, "text (or a path)", value)


def storage(name: str, value: Any) -> str | None:
    """A storage URL, checked as `--storage` is (`urls.storage_url`: not empty, not in memory)."""
    from hpsearch.store.urls import storage_url

    given = text(name, value)
    try:
        storage_url(given)
    except ValueError as error:
        raise LaunchError(str(error), USAGE_ERROR) from None
    return given


def path(name: str, value: Any) -> Path:
    """A directory or file argument, as `str` or `os.PathLike`."""
    if isinstance(value, (str, os.PathLike)) and os.fspath(value):
        return Path(value)
    raise _refuse(name, "a path (str or os.PathLike)", value)


def whole_number(name: str, value: Any) -> int | None:
    """An optional count or seed: an `int` (a bool is not one)."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise _refuse(name, "a whole number", value)


def budget(name: str, value: Any) -> str | None:
    """A budget as `hpsearch run --budget` takes it: text ("2h", "300epochs"), wall-time seconds
    (`int` or `float`), or a `datetime.timedelta`."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return f"{max(1, round(value))}s" if value > 0 else "0s"  # zero or less: refused as allowing nothing
    raise _refuse(name, 'text such as "2h" or "300epochs", seconds (int or float), or a datetime.timedelta',
                  value)


def trial_reference(name: str, value: Any) -> str:
    """`export`'s trial: "best", or a trial number (as `int` or text)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return value
    raise _refuse(name, '"best" or a trial number', value)


def flag(name: str, value: Any) -> Any:
    """A yes-or-no argument (`force`, `resume`; `xla` may also be None: the study's setting)."""
    if value is None or isinstance(value, bool):
        return value
    raise _refuse(name, "True or False", value)


# The rule for each argument of the API, by name (the same name means the same thing everywhere).
CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "study": study_reference, "storage": storage, "data": text, "checkpoints": text, "gpus": text, "ray": text,
    "sbatch": text, "engine": text, "precision": text, "budget": budget, "out": path, "trial": trial_reference,
    **{name: whole_number for name in ("trials", "epochs", "subset", "seed", "sampler_seed", "workers",
                                       "workers_per_gpu", "steps_per_execution", "top")},
    **{name: flag for name in ("force", "resume", "xla")},
}
