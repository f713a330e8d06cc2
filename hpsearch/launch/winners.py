"""What a finished search does with its best trials: `confirm` retrains the best few for longer
(on the workers, through the storage) and `export` retrains one on all training images and saves
it. The CLI's `confirm` and `export` are thin shells around these; failures a user can fix raise
LaunchError with one sentence and an exit code."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from hpsearch.launch import arguments
from hpsearch.lifecycle import stopping
from hpsearch.launch.arguments import PathText, StudyReference
from hpsearch.launch.backend_check import stated_backend, use_backend
from hpsearch.errors import USAGE_ERROR, LaunchError
from hpsearch.launch.data_check import load_checked_data
from hpsearch.launch.launcher import load
from hpsearch.search.reconcile import prepare
from hpsearch.store.urls import writable_checkpoints

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from hpsearch.train.export import Exported


def chosen_trial(study: optuna.Study, trial: str, storage: str | None,
                 console: Console) -> tuple[optuna.Study, FrozenTrial]:
    """The trial `export` retrains, and the study it lives in: trial number `trial`, or for
    `best` the confirm round's winner when there is one (judged over the longer training), else
    the search's best."""
    from hpsearch.search.confirm import confirm_name, confirmed_winner

    if trial == "best":
        try:
            confirm_round = load(confirm_name(study.study_name), storage)
        except LaunchError:  # no confirm round
            confirm_round = None
        winner = confirmed_winner(confirm_round) if confirm_round else None
        if winner is not None:
            console.print(f"Exporting the confirmed winner: trial {winner.trial.number} of "
                          f"{confirm_round.study_name}, trial {winner.search_trial} of the search.",  # type: ignore[union-attr]
                          highlight=False)
            return confirm_round, winner.trial  # type: ignore[return-value]
        try:
            return study, study.best_trial
        except ValueError:
            raise LaunchError(f"study {study.study_name!r} has no completed trial yet", USAGE_ERROR) from None
    trials = study.get_trials(deepcopy=False)
    if not trial.isdigit() or int(trial) >= len(trials):
        raise LaunchError(f"no trial {trial!r} in study {study.study_name!r} (0..{len(trials) - 1} or best)",
                          USAGE_ERROR)
    return study, trials[int(trial)]


@arguments.checked_arguments
def export(study: StudyReference, *, out: PathText, trial: str | int = "best", storage: PathText | None = None,
           data: PathText | None = None, console: Console | None = None) -> Exported:
    """Retrain a stored trial's network on all training images, test it, and save it in `out`."""
    from hpsearch.data.sources import DataError, load_splits
    from hpsearch.search.study import DataMismatch, check_study_data
    from hpsearch.space.spec import DataSpec
    from hpsearch.records import DATA_ATTR, SEED_ATTR, why_no_network
    from hpsearch.train.native_logs import filter_native_stderr

    console = console or Console()
    use_backend(stated_backend())
    out = Path(out)  # for the type checker: `arguments.checked_arguments` made it a Path already
    filter_native_stderr()
    stored, chosen = chosen_trial(load(study, storage), trial, storage, console)
    problem = why_no_network(chosen)
    if problem:
        raise LaunchError(problem, USAGE_ERROR)
    try:  # before the minutes of retraining, not after
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LaunchError(f"cannot write into --out {out} ({error.strerror}); name a directory", USAGE_ERROR) from None
    recorded = stored.user_attrs.get(DATA_ATTR)
    if recorded is None and data is None:
        raise LaunchError(f"study {stored.study_name!r} did not record its data; name it with --data", USAGE_ERROR)
    settings = DataSpec.model_validate(recorded or {"dataset": data})
    seed = int(stored.user_attrs.get(SEED_ATTR, 0))
    try:
        splits = load_splits(data or settings.dataset, seed=seed, **settings.split_settings())
        check_study_data(stored, splits)  # the same images at another path are fine, others are not
    except (DataError, DataMismatch) as error:
        raise LaunchError(str(error), USAGE_ERROR) from None
    from hpsearch.train.export import export_trial  # loads TensorFlow

    result = export_trial(stored, chosen, splits, out, seed)
    console.print(
        f"Trial {chosen.number} retrained on {len(splits.x_train) + len(splits.x_val)} images for "
        f"{result.epochs} epochs ({result.seconds:.0f} s): test accuracy {result.test_accuracy:.4f}. "
        f"Saved model.keras, trial.json and curves.json in {out}",
        highlight=False,
    )
    return result


@arguments.checked_arguments
def confirm(study: StudyReference, *, top: int = 5, epochs: int | None = None, storage: PathText | None = None,
            checkpoints: PathText | None = None, force: bool = False,
            console: Console | None = None) -> tuple[optuna.Study, optuna.Study]:
    """Retrain the study's best `top` trials for `epochs` (default 4 times the study's) in this
    process, sharing the round with other processes on the same storage; returns (the search,
    the confirm round) once every queued winner is trained."""
    import optuna

    from hpsearch.launch.progress import LiveProgress
    from hpsearch.search.confirm import LONGER, confirm_spec, queue_winners, winners
    from hpsearch.search.study import keep_settings, kept_settings, open_study
    from hpsearch.errors import SpecError
    from hpsearch.train.native_logs import filter_native_stderr

    console = console or Console()
    backend = stated_backend()
    if top < 1:
        raise LaunchError(f"top must be at least 1 (got {top}): how many of the best trials to retrain", USAGE_ERROR)
    spec, url, optuna_storage = prepare(study, storage, console, trials=None, budget=None, keep_stored_target=True,
                                        must_exist=True)
    use_backend(backend or spec.training.backend)
    search = load(spec.name, storage)
    chosen = winners(search, top)
    if not chosen:
        raise LaunchError(f"study {spec.name!r} has no complete trial to confirm yet", USAGE_ERROR)
    planned = confirm_spec(spec, len(chosen), epochs or LONGER * spec.training.epochs)
    try:  # a confirm round already under way keeps its length
        kept, _ = keep_settings(planned, kept_settings(optuna_storage, planned.name), {"epochs": epochs})
        round_spec = planned.with_overrides(epochs=kept.get("epochs"))
    except SpecError as error:
        raise LaunchError(str(error), USAGE_ERROR) from None
    filter_native_stderr()
    checkpoint_root = writable_checkpoints(url, checkpoints)  # refusals first, then the round is queued
    splits = load_checked_data(round_spec, force, console)
    queued = queue_winners(open_study(round_spec, optuna_storage), chosen)
    console.print(f"Confirm round [bold]{round_spec.name}[/]: the best {len(chosen)} trials of {spec.name} "
                  f"retrained for {round_spec.training.epochs} epochs ({len(queued)} newly queued)", highlight=False)
    from hpsearch.search.confirm import run_confirmations  # loads TensorFlow

    confirmed: optuna.Study | None = None
    try:
        with LiveProgress(console, round_spec, optuna_storage) as live:
            confirmed = run_confirmations(round_spec, optuna_storage, splits, checkpoint_root, on_trial=live.on_trial)
    except KeyboardInterrupt:
        pass
    if confirmed is None or stopping.stop_requested():
        raise LaunchError("interrupted; the running trial is queued again and `hpsearch confirm` continues",
                          stopping.SIGNAL_EXIT_CODE)
    return search, confirmed
