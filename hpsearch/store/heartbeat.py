"""How often a running trial's worker writes a heartbeat, and how long a silent trial is given
before it is taken to have lost its worker (failed, and queued again).

Environment variables override both (short ones in tests; longer ones where storage hiccups are
common). They are read here, and checked, so a mistyped one is named in one sentence instead of
surfacing as a storage that "cannot be opened". No Optuna here: any command can check them cheaply.
"""

from __future__ import annotations

import os

HEARTBEAT_ENV, HEARTBEAT_SECONDS = "HPSEARCH_HEARTBEAT_SECONDS", 10
GRACE_ENV, GRACE_SECONDS = "HPSEARCH_GRACE_SECONDS", 60


class HeartbeatSettingError(ValueError):
    """A heartbeat variable that cannot be used; the message is one sentence naming it."""


def _seconds(variable: str, default: int) -> int:
    """`variable` as a whole number of seconds above zero, else `default` when it is unset or empty."""
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    try:
        seconds = int(text)
    except ValueError:
        seconds = 0
    if seconds < 1:
        raise HeartbeatSettingError(f"{variable} must be a whole number of seconds, at least 1 (got {text!r})")
    return seconds


def heartbeat_settings() -> tuple[int, int]:
    """(heartbeat interval, grace period) in seconds, from the environment or the defaults.

    The grace period must be longer than the interval: otherwise every trial goes stale between
    two of its own heartbeats, and healthy trials are failed and retried.
    """
    interval = _seconds(HEARTBEAT_ENV, HEARTBEAT_SECONDS)
    grace = _seconds(GRACE_ENV, GRACE_SECONDS)
    if grace <= interval:
        raise HeartbeatSettingError(
            f"{GRACE_ENV} ({grace}) must be longer than {HEARTBEAT_ENV} ({interval}), or running trials "
            "would be taken for lost between two heartbeats"
        )
    return interval, grace
