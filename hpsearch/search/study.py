"""Creating or reopening the Optuna study behind a spec, and reading its progress.

The sampler and pruner are built here from the spec (`space/samplers.py`, `space/pruners.py`);
the trial target and the compute budget are stored on the study so that every worker, and
`hpsearch list`, agree on when the study is done.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import FrozenTrial

from hpsearch.compute.budget import NO_BUDGET, Budget, BudgetUse, measure, stored_budget
from hpsearch.records import (
    BUDGET_ATTR,
    DATA_ATTR,
    DATA_FINGERPRINT_ATTR,
    DESCRIPTION_ATTR,
    EPOCHS_ATTR,
    METRIC_ATTR,
    SEED_ATTR,
    SPEC_ATTR,
    STUDY_UID_ATTR,
    TARGET_ATTR,
    TrialRecord,
)
from hpsearch.store.snapshot import Progress, count_states
from hpsearch.space.sampling import enqueue_starting_points, has_sampled
from hpsearch.errors import SpecError
from hpsearch.space.spec import StudySpec, parse_spec, spec_document, upgraded
from hpsearch.store.storage import one_at_a_time
from hpsearch.search.near_starts import NearStarts
from hpsearch.search.warm_start import enqueue_warm_starts, warm_starts

if TYPE_CHECKING:
    from hpsearch.data.sources import Splits

# What a study keeps once created, as `StudySpec.with_overrides` names it -> as a user types it.
# Trials of other lengths, or on other data, would not be comparable with those already run.
KEPT_SETTINGS = {"epochs": "--epochs", "dataset": "--data", "subset": "--subset", "seed": "--seed"}


def make_sampler(spec: StudySpec, seed: int | None, *, constant_liar: bool = True) -> optuna.samplers.BaseSampler:
    """The spec's sampler. Each worker needs its own seed, or they would all draw the same trials.
    A share of its trials may be drawn near the starting points (`near_starts.NearStarts`).

    `constant_liar` stays on in hpsearch (benchmarks/parallel_sampling.py turns it off to show why).
    """
    base = _base_sampler(spec, seed, constant_liar)
    share = spec.search.near_share
    return NearStarts(base, seed, share) if share else base


def _base_sampler(spec: StudySpec, seed: int | None, constant_liar: bool) -> optuna.samplers.BaseSampler:
    return spec.search.sampler.build(seed, hyperband_brackets(spec), constant_liar)


def hyperband_brackets(spec: StudySpec) -> int:
    """The brackets (successive-halving runs) the study's pruner makes: 1 but for Hyperband."""
    return spec.search.pruner.brackets(spec.training.epochs)


def make_pruner(spec: StudySpec) -> optuna.pruners.BasePruner:
    return spec.search.pruner.build(spec.training.epochs)


def open_study(spec: StudySpec, storage: BaseStorage, sampler_seed: int | None = None) -> optuna.Study:
    """Create the study (or load it), record its target, and enqueue missing baselines.

    `sampler_seed` defaults to the study's seed; workers sharing a study pass distinct ones.
    Workers started in the same second each found no baseline queued yet and queued their own
    copy (one baseline trained three times), so the setup is done by one process at a time.
    """
    with one_at_a_time(storage.url if isinstance(storage, RDBStorage) else ""):
        study = optuna.create_study(
            study_name=spec.name,
            storage=storage,
            sampler=make_sampler(spec, spec.search.seed if sampler_seed is None else sampler_seed),
            pruner=make_pruner(spec),
            direction=spec.search.direction,
            load_if_exists=True,
        )
        study.set_user_attr(TARGET_ATTR, spec.search.trials)
        if STUDY_UID_ATTR not in study.user_attrs:  # new, or created by a version that drew none
            study.set_user_attr(STUDY_UID_ATTR, uuid.uuid4().hex)
        study.set_user_attr(BUDGET_ATTR, spec.search.budget)
        if SPEC_ATTR not in study.user_attrs:  # new: what every later worker trains, whatever its flags
            data = {**spec.data.model_dump(), "dataset": _absolute(spec.data.dataset)}
            stored = spec.model_copy(update={"data": spec.data.model_copy(update={"dataset": data["dataset"]})})
            study.set_user_attr(SPEC_ATTR, spec_document(stored))
            study.set_user_attr(DESCRIPTION_ATTR, spec.description)
            study.set_user_attr(METRIC_ATTR, spec.search.metric)
            study.set_user_attr(DATA_ATTR, data)
            study.set_user_attr(SEED_ATTR, spec.search.seed)
            study.set_user_attr(EPOCHS_ATTR, spec.training.epochs)
        enqueue_starting_points(study, spec)
        if spec.search.warm_start:
            _enqueue_warm_starts(study, spec, storage)
    return study


def _enqueue_warm_starts(study: optuna.Study, spec: StudySpec, storage: BaseStorage) -> None:
    """Queue the best trials of the studies `spec` warm-starts from (after its own starting
    points), into a study that has not sampled yet, as starting points are."""
    trials = study.get_trials(deepcopy=False)
    if has_sampled(trials):
        return
    sources = []
    for name in spec.search.warm_start:
        source_spec = stored_spec(storage, name)
        if source_spec is not None:  # checked before the run (`reconcile.prepare`); gone since: nothing to take
            sources.append((source_spec, optuna.load_study(study_name=name, storage=storage)))
    present = {TrialRecord(t).baseline for t in trials}
    enqueue_warm_starts(study, spec, warm_starts(spec, sources), present)


def _absolute(dataset: str) -> str:
    """A data file's absolute path (so workers and `export` started elsewhere find it); a name as is."""
    return str(Path(dataset).absolute()) if Path(dataset).is_file() else dataset


class DataMismatch(SpecError):
    """A worker's data is not what its study was created with; the message is one sentence."""


def check_data(storage: BaseStorage, name: str, splits: Splits) -> None:
    """Raise DataMismatch when the data this worker loaded differs from what study `name` was
    created with (another file at the path, or the wrong file given to --data); checked before
    the study is opened, so a refused command changes nothing in the storage."""
    _compare_data(name, (_stored_attrs(storage, name) or {}).get(DATA_FINGERPRINT_ATTR), splits.fingerprint())


def check_study_data(study: optuna.Study, splits: Splits) -> None:
    """`check_data` for an opened study (`export` retrains on what it is given)."""
    _compare_data(study.study_name, study.user_attrs.get(DATA_FINGERPRINT_ATTR), splits.fingerprint())


def record_data(study: optuna.Study, splits: Splits) -> None:
    """Record the study's data fingerprint (first worker), or raise DataMismatch as `check_data`
    does (another first worker recorded other data meanwhile)."""
    if DATA_FINGERPRINT_ATTR not in study.user_attrs:
        study.set_user_attr(DATA_FINGERPRINT_ATTR, splits.fingerprint())
    else:
        check_study_data(study, splits)


def _compare_data(name: str, recorded: dict[str, Any] | None, found: dict[str, Any]) -> None:
    if recorded is None or recorded == found:
        return

    def sizes(print_: dict[str, Any]) -> str:
        train, val, test = print_["images"]
        return f"{train}/{val}/{test} images of {'x'.join(map(str, print_['shape']))}"

    differ = (f"{sizes(recorded)} then, {sizes(found)} now" if recorded["images"] != found["images"]
              or recorded["shape"] != found["shape"] else "the same sizes, other images or labels")
    raise DataMismatch(f"this data is not the data study {name!r} was created with ({differ}); "
                       "give --data the study's dataset")


def _stored_attrs(storage: BaseStorage, name: str) -> dict[str, Any] | None:
    """A stored study's user attributes, or None when there is no such study."""
    try:
        return storage.get_study_user_attrs(storage.get_study_id_from_name(name))
    except KeyError:
        return None


def study_exists(storage: BaseStorage, name: str) -> bool:
    return _stored_attrs(storage, name) is not None


def stored_spec(storage: BaseStorage, name: str) -> StudySpec | None:
    """The spec study `name` was created with, or None for no such study (or one created before
    studies stored their spec)."""
    document = (_stored_attrs(storage, name) or {}).get(SPEC_ATTR)
    return None if document is None else parse_spec(upgraded(document), f"study {name} as stored")


def kept_settings(storage: BaseStorage, name: str) -> dict[str, Any]:
    """The `KEPT_SETTINGS` an existing study was created with (those it recorded); {} for none.
    A data file at another path is left to the fingerprint check (`check_data`) when there is one."""
    attrs = _stored_attrs(storage, name)
    if attrs is None:
        return {}
    kept = {"seed": attrs.get(SEED_ATTR), "epochs": attrs.get(EPOCHS_ATTR)}
    if DATA_ATTR in attrs:
        kept.update(dataset=attrs[DATA_ATTR]["dataset"], subset=attrs[DATA_ATTR].get("subset"))
        if DATA_FINGERPRINT_ATTR in attrs and Path(kept["dataset"]).suffix == ".npz":
            kept["dataset"] = None  # a copy elsewhere is checked, not refused
    return {key: value for key, value in kept.items() if key in KEPT_SETTINGS and (value is not None or key == "subset")}


def _same(key: str, one: Any, other: Any) -> bool:
    if key == "dataset":
        return one == other or Path(one).absolute() == Path(other).absolute()
    return one == other


def keep_settings(spec: StudySpec, kept: dict[str, Any], flags: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`flags` (with_overrides arguments) completed with what the stored study keeps.

    A flag that contradicts the stored study is a SpecError naming the stored value; a study file
    changed since is reported in the notes returned, and the stored value kept.
    """
    in_file = {"epochs": spec.training.epochs, "dataset": spec.data.dataset, "subset": spec.data.subset,
               "seed": spec.search.seed}
    settled, notes = dict(flags), []
    for key, value in kept.items():
        option = KEPT_SETTINGS[key]
        given = flags.get(key)
        if given is not None and not _same(key, given, value):
            raise SpecError(f"study {spec.name!r} was created with {option} {value}, and its trials are "
                            f"only comparable under it (got {option} {given}); start a new study to change it")
        if given is None and not _same(key, in_file[key], value):
            said = "none" if in_file[key] is None else in_file[key]
            notes.append(f"the study file says {option} {said}; study {spec.name} keeps {value}")
        settled[key] = value
    return settled, notes


def stored_target(storage: BaseStorage, name: str) -> int | None:
    """The trial target recorded on a stored study, or None when there is no such study."""
    attrs = _stored_attrs(storage, name)
    target = None if attrs is None else attrs.get(TARGET_ATTR)
    return None if target is None else int(target)


def stored_budget_text(storage: BaseStorage, name: str) -> str | None:
    """The budget recorded on a stored study as `--budget` takes it (`none` for a study without
    one), or None when there is no such study; the spec parses it, as it does a study file's."""
    attrs = _stored_attrs(storage, name)
    return None if attrs is None else attrs.get(BUDGET_ATTR) or NO_BUDGET


def _state_counts(storage: BaseStorage, study_id: int) -> Counter[str]:
    """Trials by state; on an RDB storage without loading every trial (seconds on thousands)."""
    if isinstance(storage, RDBStorage):
        with storage.engine.connect() as connection:
            return count_states(connection, study_id)
    return Counter(t.state.name for t in storage.get_all_trials(study_id, deepcopy=False))


def progress_in(storage: BaseStorage, study_id: int, target: int) -> Progress:
    """Where a stored study stands, without loading all of its trials."""
    try:
        best: FrozenTrial | None = storage.get_best_trial(study_id)
    except ValueError:  # no completed trial yet
        best = None
    return Progress(
        target=target,
        states=_state_counts(storage, study_id),
        best_value=best.value if best else None,
        best_number=best.number if best else None,
    )


def budget_use(study: optuna.Study, budget: Budget | None, active: bool = False) -> BudgetUse | None:
    """How much of `budget` the study has used; `active` for a worker about to start a trial
    (see `budget.busy_seconds`). None without a budget."""
    return None if budget is None else measure(budget, study.get_trials(deepcopy=False), active=active)


def study_progress(study: optuna.Study, storage: BaseStorage, active: bool = False) -> Progress:
    """Where the study stands, against the target and budget it has stored; `storage` is the one
    the study was opened on (Optuna keeps a study's own private, and wraps it in a cache)."""
    attrs = study.user_attrs
    target = int(attrs.get(TARGET_ATTR, 0))
    progress = progress_in(storage, storage.get_study_id_from_name(study.study_name), target)
    return replace(progress, budget=budget_use(study, stored_budget(attrs.get(BUDGET_ATTR)), active))
