"""Budgets in compute: a study may stop when it has spent a wall time ("2h") or a number of
training epochs ("300epochs"), instead of (or before) reaching a number of trials.

Users have "two GPU-hours", not "40 trials". Both kinds are measured from what the trials
recorded in the shared storage, so every worker on every machine, `resume` and `summary` agree
on what is spent, and nothing else has to be kept in step:
- epochs: every epoch any attempt trained, pruned, failed and interrupted ones included, each
  counted once (a retry resumed from a checkpoint does not count the epochs it skipped);
- time: the wall-clock time during which the study had a trial in progress, counted once however
  many workers trained at once. Gaps of under a minute between trials (sampling, recording, the
  next worker starting) count; a study left stopped does not spend its budget, so a later `resume`
  carries on with what is left.

This module only parses, measures and describes; TensorFlow and Optuna's study stay out of it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from hpsearch.records import epochs_trained

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

NO_BUDGET = "none"  # `--budget none`: take a stored budget away
# The trial target of a study that only its budget ends. Trials are counted as an int everywhere
# (workers compare finished trials with it), so "no target" is a target never reached first.
NO_TRIAL_TARGET = 1_000_000_000
# Shorter pauses between trials are the study at work (sampling, recording, a worker starting);
# longer ones are the study standing stopped, which spends nothing.
BRIDGED_GAP_SECONDS = 60.0

_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}
_DECIMAL = r"\d+(?:\.\d+)?"  # hours and minutes may be fractional ("1.5h"); the total is whole seconds
_TIME = re.compile(rf"(?:(?P<h>{_DECIMAL})h)?(?:(?P<m>{_DECIMAL})m)?(?:(?P<s>\d+)s)?")
_EPOCHS = re.compile(r"(?P<epochs>\d+)epochs?")
FORMS = "a wall time such as 2h, 1.5h, 90m, 1h30m or 45s, or training epochs such as 300epochs"
# The most a budget may be: ten years of wall time, or as many epochs as trials a study can count.
# Beyond them a budget is a typo (or 10**23 hours, printed as 99999999999999987584860h), not a plan.
MAX_BUDGET = {"seconds": 10 * 365 * 24 * 3600, "epochs": NO_TRIAL_TARGET}


class BudgetError(ValueError):
    """A budget that cannot be read; the message is one sentence naming what was given."""


class Budget(str):
    """What a study may spend: `amount` seconds of wall time, or `amount` training epochs. It is
    its canonical text ("1h30m", "300epochs"), so it is stored, printed and compared as that text,
    and parsed once, where it comes in (`parse_budget`)."""

    unit: Literal["seconds", "epochs"]
    amount: int

    def __new__(cls, unit: Literal["seconds", "epochs"], amount: int) -> Budget:
        text = duration_text(amount) if unit == "seconds" else f"{amount}epoch" + ("" if amount == 1 else "s")
        budget = super().__new__(cls, text)
        budget.unit, budget.amount = unit, amount
        return budget

    def __getnewargs__(self) -> tuple[str, int]:  # type: ignore[override]  # copies and pickles rebuild it
        return self.unit, self.amount

    @property
    def text(self) -> str:
        """The canonical spelling, as stored on the study and accepted back by `parse_budget`."""
        return str(self)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """As a pydantic field (`[search] budget`): a Budget already parsed, written as its text."""
        from pydantic_core import core_schema

        return core_schema.is_instance_schema(cls, serialization=core_schema.to_string_ser_schema())

    def describe(self) -> str:
        if self.unit == "seconds":
            return duration_text(self.amount)
        return f"{self.amount} epoch" + ("" if self.amount == 1 else "s")


def parse_budget(text: str) -> Budget | None:
    """`2h`, `1.5h`, `90m`, `1h30m`, `45s` or `300epochs` as a Budget; `none` as None (no budget)."""
    given = text.strip().lower()
    if given == NO_BUDGET:
        return None
    if given.startswith("-"):
        raise BudgetError(f"a budget cannot be negative (got {text!r})")
    epochs = _EPOCHS.fullmatch(given)
    time = _TIME.fullmatch(given)
    if epochs:
        unit, amount = "epochs", float(epochs["epochs"])
    elif given and time:
        unit, amount = "seconds", sum(float(time[part] or 0) * size for part, size in _UNIT_SECONDS.items())
    else:
        raise BudgetError(f"{text!r} is not a budget; write {FORMS}")
    if amount > MAX_BUDGET[unit]:  # before rounding: a budget of many digits is infinite as a float
        most = Budget(unit, MAX_BUDGET[unit])  # type: ignore[arg-type]
        raise BudgetError(f"a budget of {text!r} is more than the most allowed, {most.describe()}"
                          f"{' (ten years)' if unit == 'seconds' else ''}; give a smaller one")
    budget = Budget(unit, round(amount))  # type: ignore[arg-type]
    if budget.amount == 0:
        raise BudgetError(f"a budget of {text!r} allows nothing; give more than zero")
    return budget


def duration_text(seconds: float) -> str:
    """Whole seconds as `1h12m`, `45s` or `2h`: the budget's own notation."""
    left = round(seconds)
    parts = []
    for unit, size in _UNIT_SECONDS.items():
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def goal_text(trials: int, budget: Budget | None, per_trial: str = "") -> str:
    """What ends a study: `40 trials`, `trials (until a budget of 2h is spent)`, or both,
    whichever comes first; `per_trial` (such as " of 6 epochs") follows the word trials."""
    text = ("trials" if trials == NO_TRIAL_TARGET else f"{trials} trials") + per_trial
    if budget is None:
        return text
    if trials == NO_TRIAL_TARGET:
        return f"{text} (until a budget of {budget.describe()} is spent)"
    return f"{text} (or a budget of {budget.describe()}, whichever comes first)"


# --- what trials spent ---------------------------------------------------------------------------


def busy_seconds(trials: Sequence[FrozenTrial], now: datetime, active: bool = False) -> float:
    """Wall-clock seconds during which the study had a trial in progress, counted once however
    many ran at once, short gaps between them included (see BRIDGED_GAP_SECONDS). A running
    trial counts up to `now`; `active` counts `now` too, for a worker about to start a trial."""
    spans = sorted((t.datetime_start, t.datetime_complete or now) for t in trials if t.datetime_start)
    if active:
        spans.append((now, now))
        spans.sort()
    total = 0.0
    start: datetime | None = None
    end: datetime | None = None
    for span_start, span_end in spans:
        if start is None or end is None or (span_start - end).total_seconds() > BRIDGED_GAP_SECONDS:
            if start is not None and end is not None:
                total += (end - start).total_seconds()
            start, end = span_start, span_end
        else:
            end = max(end, span_end)
    if start is not None and end is not None:
        total += (end - start).total_seconds()
    return total


@dataclass(frozen=True)
class BudgetUse:
    """How much of a budget a study has used (seconds or epochs, as the budget counts)."""

    budget: Budget
    used: float

    @property
    def spent(self) -> bool:
        return self.used >= self.budget.amount

    @property
    def left(self) -> float:
        return max(0.0, self.budget.amount - self.used)

    @property
    def seconds_left(self) -> float | None:
        """Wall time left under a time budget; None under an epoch budget (trials then finish)."""
        return self.left if self.budget.unit == "seconds" else None

    def used_text(self) -> str:
        return f"{int(self.used)}" if self.budget.unit == "epochs" else duration_text(self.used)

    def describe(self) -> str:
        """`budget 300 epochs: 212 used (71%)`, `budget 2h: 1h12m used (60%)`."""
        share = 100 * self.used / self.budget.amount
        return f"budget {self.budget.describe()}: {self.used_text()} used ({share:.0f}%)"

    def as_json(self) -> dict[str, object]:
        return {"text": self.budget.text, "unit": self.budget.unit, "amount": self.budget.amount,
                "used": round(self.used, 1) if self.budget.unit == "seconds" else int(self.used),
                "spent": self.spent}


def measure(budget: Budget, trials: Sequence[FrozenTrial], now: datetime | None = None,
            active: bool = False) -> BudgetUse:
    """How much of `budget` the study's `trials` have used by `now` (see `busy_seconds` for `active`)."""
    if budget.unit == "epochs":
        return BudgetUse(budget, float(epochs_trained(trials)))
    return BudgetUse(budget, busy_seconds(trials, now or datetime.now(), active))


def stored_budget(value: object) -> Budget | None:
    """The budget a study recorded (its canonical text), or None when it has none."""
    return parse_budget(value) if isinstance(value, str) else None
