"""Read-only snapshots of stored studies, read straight from Optuna's tables with a few queries.

`list` and `summary` only read, and they must stay fast on studies of thousands of trials.
Through Optuna's `RDBStorage` they cannot: opening one runs Alembic's schema check (a quarter
of a second, plus importing Alembic), and `get_all_trials` builds every trial through the ORM
(seconds for 2,000 trials). Here the tables Optuna writes (names stable since Optuna 3; the
tests check these readers against Optuna's own on real SQLite and PostgreSQL storages) are read
with plain SQLAlchemy Core, one query per table, and nothing is ever written.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import sqlalchemy
from sqlalchemy import column, select, table

from hpsearch.compute.budget import NO_TRIAL_TARGET, BudgetUse
from hpsearch.records import DESCRIPTION_ATTR, TARGET_ATTR
from hpsearch.store.urls import driver_url, engine_kwargs, opening

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

STUDIES = table("studies", column("study_id"), column("study_name"))
DIRECTIONS = table("study_directions", column("study_id"), column("direction"), column("objective"))
STUDY_ATTRS = table("study_user_attributes", column("study_id"), column("key"), column("value_json"))
TRIALS = table(
    "trials", column("trial_id"), column("number"), column("study_id"), column("state"),
    # Typed, so that SQLite's text timestamps come back as datetimes (budgets measure them).
    column("datetime_start", sqlalchemy.DateTime), column("datetime_complete", sqlalchemy.DateTime),
)
VALUES = table("trial_values", column("trial_id"), column("objective"), column("value"), column("value_type"))
PARAMS = table("trial_params", column("trial_id"), column("param_name"), column("param_value"),
               column("distribution_json"))
TRIAL_ATTRS = table("trial_user_attributes", column("trial_id"), column("key"), column("value_json"))

FINISHED_STATES = ("COMPLETE", "PRUNED")

# Trials by study and state: one GROUP BY instead of loading every trial (params, curves).
STATE_COUNTS = select(TRIALS.c.study_id, TRIALS.c.state, sqlalchemy.func.count()).group_by(
    TRIALS.c.study_id, TRIALS.c.state
)


class SnapshotError(RuntimeError):
    """The storage cannot be read; the message is one sentence with no password in it."""


class UnknownStudy(KeyError):
    """No study of that name in the storage."""


@dataclass(frozen=True)
class Progress:
    """Where a study stands: trials by state, the best value so far and, for a study with a
    budget, how much of it is used."""

    target: int
    states: Counter[str]
    best_value: float | None
    best_number: int | None = None
    budget: BudgetUse | None = None

    @property
    def finished(self) -> int:
        return sum(self.states[s] for s in FINISHED_STATES)

    @property
    def done(self) -> bool:
        return self.finished >= self.target

    @property
    def over(self) -> bool:
        """Nothing is left to train: the target is reached or the budget is spent."""
        return self.done or self.budget_spent

    @property
    def has_target(self) -> bool:
        return self.target != NO_TRIAL_TARGET

    @property
    def budget_spent(self) -> bool:
        return self.budget is not None and self.budget.spent

    def finished_text(self) -> str:
        """`12 of 40` finished trials, or just `12` when only a budget ends the study."""
        return f"{self.finished} of {self.target}" if self.has_target else str(self.finished)

    def states_text(self) -> str:
        order = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")
        return ", ".join(f"{self.states[s]} {s.lower()}" for s in order if self.states[s])


@dataclass(frozen=True)
class StudyOverview:
    """One line of `hpsearch list`: a stored study and where it stands."""

    name: str
    description: str
    progress: Progress


@dataclass(frozen=True)
class StudySnapshot:
    """A study as `summary` needs it: its direction, attributes and every trial, frozen."""

    name: str
    maximize: bool
    user_attrs: dict[str, Any]
    trials: list[FrozenTrial]


def _engine(url: str) -> sqlalchemy.Engine:
    return sqlalchemy.create_engine(driver_url(url), **engine_kwargs(driver_url(url)))  # type: ignore[arg-type]


def _read(url: str, queries: list[sqlalchemy.Select[Any]]) -> list[list[Any]]:
    """Run the queries in one connection; a bad URL or any database failure becomes one masked
    sentence, worded as `open_storage` words it."""
    with opening(url, SnapshotError):
        engine = _engine(url)
        try:
            with engine.connect() as connection:
                rows = [list(connection.execute(query)) for query in queries]
        finally:
            engine.dispose()
    return rows


def count_states(connection: sqlalchemy.Connection, study_id: int) -> Counter[str]:
    """One study's trials by state, through a connection the caller already holds."""
    rows = connection.execute(STATE_COUNTS.where(TRIALS.c.study_id == study_id))
    return Counter({state: int(count) for _, state, count in rows})


def _attrs(rows: list[Any]) -> dict[Any, dict[str, Any]]:
    """(owner id, key, value_json) rows -> {owner id: {key: value}}."""
    found: dict[Any, dict[str, Any]] = defaultdict(dict)
    for owner, key, value_json in rows:
        found[owner][key] = json.loads(value_json)
    return found


def read_overviews(url: str) -> list[StudyOverview]:
    """Every study in the storage with its trial counts and best value: five small queries."""
    studies, directions, attrs, counts, bests = _read(url, [
        select(STUDIES.c.study_id, STUDIES.c.study_name).order_by(STUDIES.c.study_id),
        select(DIRECTIONS.c.study_id, DIRECTIONS.c.direction).where(DIRECTIONS.c.objective == 0),
        select(STUDY_ATTRS.c.study_id, STUDY_ATTRS.c.key, STUDY_ATTRS.c.value_json)
        .where(STUDY_ATTRS.c.key.in_([TARGET_ATTR, DESCRIPTION_ATTR])),
        STATE_COUNTS,
        # Optuna stores infinities as a value type with a NULL value, so they are grouped apart
        select(TRIALS.c.study_id, VALUES.c.value_type, sqlalchemy.func.min(VALUES.c.value),
               sqlalchemy.func.max(VALUES.c.value))
        .join(VALUES, VALUES.c.trial_id == TRIALS.c.trial_id)
        .where(TRIALS.c.state == "COMPLETE", VALUES.c.objective == 0)
        .group_by(TRIALS.c.study_id, VALUES.c.value_type),
    ])
    maximize = {study_id: direction == "MAXIMIZE" for study_id, direction in directions}
    study_attrs = _attrs(attrs)
    states: dict[int, Counter[str]] = defaultdict(Counter)
    for study_id, state, count in counts:
        states[study_id][state] = int(count)
    candidates: dict[int, list[float]] = defaultdict(list)
    for study_id, value_type, low, high in bests:
        best = high if maximize.get(study_id, True) else low
        candidates[study_id].append(_value(best, value_type))  # type: ignore[arg-type]
    overviews = []
    for study_id, name in studies:
        values = candidates.get(study_id)
        best_value = (max(values) if maximize.get(study_id, True) else min(values)) if values else None
        overviews.append(StudyOverview(
            name=name,
            description=str(study_attrs[study_id].get(DESCRIPTION_ATTR, "")),
            progress=Progress(
                target=int(study_attrs[study_id].get(TARGET_ATTR, 0)),
                states=states[study_id],
                best_value=best_value,
            ),
        ))
    return overviews


@lru_cache(maxsize=None)
def _distribution(distribution_json: str) -> Any:
    from optuna.distributions import json_to_distribution

    return json_to_distribution(distribution_json)


def _value(value: float | None, value_type: str) -> float | None:
    return {"INF_POS": math.inf, "INF_NEG": -math.inf}.get(value_type, value)


def read_snapshot(url: str, name: str) -> StudySnapshot:
    """A whole study, every trial with its value, parameters and user attributes (intermediate
    values and system attributes are left out: nothing that reads snapshots uses them)."""
    from optuna.trial import FrozenTrial, TrialState

    in_study = TRIALS.c.study_id == select(STUDIES.c.study_id).where(STUDIES.c.study_name == name).scalar_subquery()
    study_rows, directions, attrs, trials, values, params, trial_attrs = _read(url, [
        select(STUDIES.c.study_id).where(STUDIES.c.study_name == name),
        select(DIRECTIONS.c.direction).join(STUDIES, STUDIES.c.study_id == DIRECTIONS.c.study_id)
        .where(STUDIES.c.study_name == name, DIRECTIONS.c.objective == 0),
        select(STUDY_ATTRS.c.study_id, STUDY_ATTRS.c.key, STUDY_ATTRS.c.value_json)
        .join(STUDIES, STUDIES.c.study_id == STUDY_ATTRS.c.study_id).where(STUDIES.c.study_name == name),
        select(TRIALS.c.trial_id, TRIALS.c.number, TRIALS.c.state, TRIALS.c.datetime_start,
               TRIALS.c.datetime_complete).where(in_study).order_by(TRIALS.c.number),
        select(VALUES.c.trial_id, VALUES.c.value, VALUES.c.value_type)
        .join(TRIALS, TRIALS.c.trial_id == VALUES.c.trial_id).where(in_study, VALUES.c.objective == 0),
        select(PARAMS.c.trial_id, PARAMS.c.param_name, PARAMS.c.param_value, PARAMS.c.distribution_json)
        .join(TRIALS, TRIALS.c.trial_id == PARAMS.c.trial_id).where(in_study),
        select(TRIAL_ATTRS.c.trial_id, TRIAL_ATTRS.c.key, TRIAL_ATTRS.c.value_json)
        .join(TRIALS, TRIALS.c.trial_id == TRIAL_ATTRS.c.trial_id).where(in_study),
    ])
    if not study_rows:
        raise UnknownStudy(name)
    value_of = {trial_id: _value(value, value_type) for trial_id, value, value_type in values}
    params_of: dict[int, dict[str, Any]] = defaultdict(dict)
    distributions_of: dict[int, dict[str, Any]] = defaultdict(dict)
    for trial_id, param_name, internal, distribution_json in params:
        distribution = _distribution(distribution_json)
        params_of[trial_id][param_name] = distribution.to_external_repr(internal)
        distributions_of[trial_id][param_name] = distribution
    attrs_of = _attrs(trial_attrs)
    frozen = [
        FrozenTrial(
            number=number,
            state=TrialState[state],
            value=None,
            values=None if trial_id not in value_of else [value_of[trial_id]],
            datetime_start=start,
            datetime_complete=complete,
            params=params_of[trial_id],
            distributions=distributions_of[trial_id],
            user_attrs=attrs_of[trial_id],
            system_attrs={},
            intermediate_values={},
            trial_id=trial_id,
        )
        for trial_id, number, state, start, complete in trials
    ]
    return StudySnapshot(
        name=name,
        maximize=bool(directions) and directions[0][0] == "MAXIMIZE",
        user_attrs=_attrs(attrs)[study_rows[0][0]],
        trials=frozen,
    )


def snapshot_of(study: optuna.Study) -> StudySnapshot:
    """The snapshot of a study already loaded through Optuna (the report has one for its plots)."""
    import optuna

    return StudySnapshot(
        name=study.study_name,
        maximize=study.direction == optuna.study.StudyDirection.MAXIMIZE,
        user_attrs=study.user_attrs,
        trials=study.get_trials(deepcopy=False),
    )
