"""The live display of a running study: a bar of finished trials, the budget used, and a line per trial."""

from __future__ import annotations

from types import TracebackType

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hpsearch.records import end_reason, trial_label
from hpsearch.store.snapshot import Progress as StudyProgress
from hpsearch.space.spec import StudySpec
from hpsearch.search.study import study_progress

ENDED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


class LiveProgress:
    """Context manager showing trials done of target, best so far and trial states."""

    def __init__(self, console: Console, spec: StudySpec, storage: BaseStorage) -> None:
        self.console = console
        self.spec = spec
        self.storage = storage
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            console=console,
            transient=False,
        )
        total = spec.search.trials if spec.search.has_target else None  # a budget alone: no end in trials
        self._task = self._bar.add_task(spec.name, total=total, status="starting")
        self._reported: set[int] = set()
        self._workers = ""  # where the engine's workers stand, shown after the study's states

    def __enter__(self) -> LiveProgress:
        self._bar.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._bar.__exit__(kind, error, trace)

    def _status(self, progress: StudyProgress) -> str:
        best = "" if progress.best_value is None else f"best {progress.best_value:.4f} · "
        budget = "" if progress.budget is None else f" · {progress.budget.describe()}"
        workers = f" · {self._workers}" if self._workers else ""
        return best + progress.states_text() + budget + workers

    def on_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Optuna callback: print the trial's outcome and refresh the bar."""
        self._report(trial)
        self._refresh(study)

    def poll(self, study: optuna.Study, workers: str = "") -> None:
        """Report trials that other processes ended since the last look, and where those
        workers stand (`Workers.state`)."""
        self._workers = workers
        for trial in study.get_trials(deepcopy=False, states=ENDED):
            self._report(trial)
        self._refresh(study)

    def _report(self, trial: FrozenTrial) -> None:
        """Print a trial's outcome once, whoever noticed it first."""
        if trial.number not in self._reported:
            self._reported.add(trial.number)
            self._bar.console.print(self._trial_line(trial), highlight=False)

    def _refresh(self, study: optuna.Study) -> None:
        progress = study_progress(study, self.storage)
        self._bar.update(self._task, completed=min(progress.finished, progress.target),
                         status=self._status(progress))

    def _trial_line(self, trial: FrozenTrial) -> str:
        reason = end_reason(trial)
        label = trial_label(trial)
        if trial.state == TrialState.COMPLETE:
            return f"{label}: {self.spec.search.metric} {trial.value:.4f}"
        if trial.state == TrialState.PRUNED:
            return f"{label}: [yellow]{reason}[/]"
        return f"{label}: [red]failed, {reason}[/]"

    def print_outcome(self, progress: StudyProgress) -> None:
        """Why the run ended: the target reached, the budget spent, or neither."""
        trials = f"{progress.finished_text()} trials finished ({progress.states_text()})"
        best = "" if progress.best_value is None else (
            f"; best {self.spec.search.metric} {progress.best_value:.4f} in trial {progress.best_number}"
        )
        budget = "" if progress.budget is None else f"; {progress.budget.describe()}"
        if progress.done and progress.best_value is not None:
            self.console.print(f"[green]Done:[/] {trials}{best}{budget}.", highlight=False)
        elif progress.budget_spent:
            self.console.print(
                f"[green]Budget spent:[/] {trials}{best}{budget}. `hpsearch resume {self.spec.name} "
                "--budget MORE` continues, interrupted trials first.",
                highlight=False,
            )
        else:
            self.console.print(f"[red]Stopped short:[/] {trials}{budget}.", highlight=False)
