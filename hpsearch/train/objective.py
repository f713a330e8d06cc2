"""One trial: draw hyperparameters, build the network, train it with pruning, record what happened.

Everything a later command needs is stored on the trial as user attributes, so `summary`,
`export` and the dashboard read it back from the storage alone (names in `records.py`).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from hpsearch.train.keras_import import keras
import numpy as np
import optuna
from optuna.trial import TrialState
from sqlalchemy.exc import SQLAlchemyError

from hpsearch.lifecycle import stopping
from hpsearch.space.architecture import setup_from_values
from hpsearch.train.checkpoints import CheckpointOwner, Resumed, TrialCheckpoint, foreign_checkpoints
from hpsearch.compute.cost import seconds_per_epoch, too_costly
from hpsearch.data.sources import Splits
from hpsearch.analysis.diagnosis import loss_diverged
from hpsearch.train.model import compile_model, forget_traced_gradients, steps_per_epoch
from hpsearch.train.backend import out_of_memory
from hpsearch.train.pipeline import InputPipeline
from hpsearch.records import (
    ARCHITECTURE_ATTR,
    BACKEND_ATTR,
    BEST_EPOCH_ATTR,
    END_REASON_ATTR,
    EPOCH_SECONDS_ATTR,
    HISTORY_ATTR,
    IMAGES_PER_SECOND_ATTR,
    INTERRUPTED,
    LOST_PREFIX,
    NEAR_START_ATTR,
    OUT_OF_MEMORY,
    PARAMS_ATTR,
    RESUMED_EPOCHS_ATTR,
    STUDY_UID_ATTR,
    SURPLUS,
    TEST_ACCURACY_ATTR,
    TOO_COSTLY_ATTR,
    TRAINING_ATTR,
    WORKER_ATTR,
    EndReason,
    TrialRecord,
    worker_identity,
)
from hpsearch.space.sampling import sample
from hpsearch.space.spec import StudySpec
from hpsearch.store.storage import trial_numbered

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


class TrialDiverged(RuntimeError):
    """The training loss became NaN, infinite or exploded; the trial ends failed with this reason."""


class SurplusTrial(RuntimeError):
    """Two workers started the study's last trial at once; the later one steps back."""


class TrialMonitor(keras.callbacks.Callback):
    """Records per-epoch curves and timings on the trial, and stops a trial whose loss diverged.

    It runs before the pruning callback, so the curves include the epoch a trial was pruned at.
    The record is written to the storage after every epoch, so a worker killed mid-trial leaves
    the epochs it trained on its attempt (and the dashboard shows live curves).
    """

    def __init__(self, trial: optuna.Trial, resumed: Resumed | None) -> None:
        super().__init__()
        self.trial = trial
        self.history: dict[str, list[float]] = dict(resumed.history) if resumed else {}
        self.epoch_seconds: list[float] = list(resumed.epoch_seconds) if resumed else []
        self._started = 0.0

    @property
    def epochs_done(self) -> int:
        return len(self.epoch_seconds)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch_seconds.append(time.perf_counter() - self._started)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self.trial.set_user_attr(HISTORY_ATTR, self.history)
        self.trial.set_user_attr(EPOCH_SECONDS_ATTR, self.epoch_seconds)
        loss = self.history.get("loss", [0.0])[-1]
        if loss_diverged(loss):
            raise TrialDiverged(f"diverged at epoch {epoch + 1} (training loss {loss})")


class StopAtSafePoint(keras.callbacks.Callback):
    """Ends the trial soon after a stop signal (see `stopping.py`), never in the middle of a write.

    The batch hook runs on Keras's asynchronous callback thread (it only reads a flag), so it
    costs no device synchronisation; it asks Keras to end the epoch early, and the epoch hooks,
    which run first among the trial's callbacks, raise before that partial epoch is recorded,
    reported to the pruner or checkpointed.
    """

    async_safe = True

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if stopping.stop_requested():
            self.model.stop_training = True

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        stopping.check()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        stopping.check()


class BestEpoch(keras.callbacks.Callback):
    """Remembers the epoch with the best validation metric and that epoch's weights.

    A trial is worth what it was at its best: a network that overfits after epoch 8 of 15 is
    judged, tested and exported as it was at epoch 8, not by its decline afterwards.
    """

    def __init__(self, metric: str, maximize: bool, resumed: Resumed | None = None) -> None:
        super().__init__()
        self.metric = metric
        self.maximize = maximize
        self.value: float | None = resumed.best_value if resumed else None
        self.epoch = resumed.best_epoch if resumed else 0  # 1-based; 0 until a comparable (non-NaN) value
        self.weights: list[Any] = resumed.best_weights if resumed else []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = float((logs or {})[self.metric])
        if np.isnan(value):
            return
        if self.value is None or (value > self.value if self.maximize else value < self.value):
            self.value, self.epoch = value, epoch + 1
            self.weights = self.model.get_weights()

    def restore(self) -> None:
        """Put the best epoch's weights back into the model."""
        if self.weights:
            self.model.set_weights(self.weights)


class TooCostly(optuna.TrialPruned):
    """A network whose full trial would take more of a time budget than a trial may (see
    `SearchSpec.max_trial_share`): stopped once its epoch time is known, not after the budget."""


class EpochPruning(keras.callbacks.Callback):
    """Reports the validation metric after every epoch and stops the trial when the pruner says so.

    optuna-integration's `KerasPruningCallback` reports 0-based epoch indices, so `min_resource = 1`
    would first prune after the second epoch, and it may prune after the final epoch, turning a
    fully trained network into a "pruned" one. Here steps are epochs counted from 1 (what the
    study file's `min_resource`, `warmup_epochs` and Hyperband's `max_resource` mean), and a
    trial that trained all its epochs always completes. Under a time budget it also stops a
    network too costly for it (`TooCostly`), whatever the pruner says. A starting point
    (`prunable=False`) still reports every epoch (the median pruner judges the draws against it;
    successive halving and Hyperband rank a rung's draws among themselves) but is never stopped:
    it is what the search is measured against. A draw near a starting point
    is not stopped while it keeps that start's `Pace`.
    """

    def __init__(self, trial: optuna.Trial, metric: str, epochs: int, monitor: TrialMonitor,
                 cost_cap_seconds: float | None, prunable: bool, pace: Pace | None = None) -> None:
        super().__init__()
        self.trial = trial
        self.metric = metric
        self.epochs = epochs
        self.monitor = monitor
        self.cost_cap_seconds = cost_cap_seconds
        self.prunable = prunable
        self.pace = pace

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = float((logs or {})[self.metric])
        self.trial.report(value, step=epoch + 1)
        if epoch + 1 >= self.epochs:
            return
        projected = too_costly(self.monitor.epoch_seconds, self.epochs, self.cost_cap_seconds)
        if projected is not None:
            self.trial.set_user_attr(TOO_COSTLY_ATTR, projected)
            # Infeasible to TPE and the GP (a positive constraint), so they leave costly regions of
            # the space rather than only learning that these networks' first epochs scored low.
            self.trial.set_constraint("cost", projected - float(self.cost_cap_seconds or 0.0))
            raise TooCostly(f"too costly: {projected / 60:.0f} min a full trial, over the "
                            f"{self.cost_cap_seconds / 60:.0f} min a trial may take of the time budget")
        if not self.prunable:
            return
        # Asked even of a draw that keeps pace, so successive halving records it at this rung.
        if self.trial.should_prune() and not (self.pace and self.pace.kept(epoch + 1, value)):
            raise optuna.TrialPruned(f"pruned at epoch {epoch + 1}")


class Pace:
    """The learning curve of the starting point a trial was drawn near (`search/near_starts.py`):
    while the trial is level with it or ahead at the same epoch, the pruner does not stop it. Such
    a draw is a small change to a network that trains in full, and the early rungs misjudge that
    kind of network: on the CIFAR-10 development problem the recipe start ranked 8th or 9th of
    nine at epoch 9 and first at epoch 27 (BENCHMARKS.md §3e)."""

    def __init__(self, curve: dict[int, float], maximize: bool) -> None:
        self.curve, self.maximize = curve, maximize

    @classmethod
    def of_start_near(cls, trial: optuna.Trial, maximize: bool) -> Pace | None:
        """The pace of the starting point `trial` was drawn near; None for any other trial."""
        number = trial.study._storage.get_trial_system_attrs(trial._trial_id).get(NEAR_START_ATTR)
        if number is None:
            return None
        return cls(dict(trial_numbered(trial.study, int(number)).intermediate_values), maximize)

    def kept(self, epoch: int, value: float) -> bool:
        reference = self.curve.get(epoch)
        return reference is not None and (value >= reference if self.maximize else value <= reference)


class SaveCheckpoint(keras.callbacks.Callback):
    """Saves the trial after each epoch but its last (see `checkpoints.py`). It runs before the
    pruning callback, whose storage reads would otherwise widen the window in which a killed
    worker has finished an epoch that its checkpoint lacks; a pruned trial removes it anyway."""

    def __init__(self, checkpoint: TrialCheckpoint, monitor: TrialMonitor, best: BestEpoch, epochs: int) -> None:
        super().__init__()
        self.checkpoint, self.monitor, self.best, self.epochs = checkpoint, monitor, best, epochs

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if epoch + 1 < self.epochs:
            self.checkpoint.save(self.model, epoch + 1, self.monitor.history, self.monitor.epoch_seconds,
                                 self.best.epoch, self.best.value, self.best.weights)


def _starting_point(trial: optuna.Trial) -> bool:
    """A baseline, its proven-recipe version or a warm start: trained in full, never pruned and
    never cut by the time budget's cost cap, since the study's own networks are what the search
    is measured against. Early rungs misjudge them too: on the CIFAR-10 development problem
    successive halving cut the recipe start at epoch 9 of 27 (BENCHMARKS.md §3e)."""
    return TrialRecord(trial).baseline is not None


class Objective:
    """The function Optuna calls once per trial, holding the data a worker loaded once."""

    def __init__(self, spec: StudySpec, splits: Splits, checkpoints: Path) -> None:
        self.spec = spec
        self.splits = splits
        self.checkpoints = checkpoints
        self.pipeline = InputPipeline(splits)  # the images become tensors once per worker
        self.data_fingerprint = str(splits.fingerprint()["sha256"])
        self.current_trial: int | None = None  # the number of the trial being (or last) trained
        self.study_uid: str | None = None  # read from the study at the first trial

    def _checkpoint(self, trial: optuna.Trial, epochs: int) -> TrialCheckpoint:
        """The trial's own checkpoint (see `checkpoints.py`); other studies' of the same name in
        the directory are reported at the first trial, and never resumed."""
        if self.study_uid is None:
            self.study_uid = str(trial.study.user_attrs.get(STUDY_UID_ATTR, ""))
            for folder in foreign_checkpoints(self.checkpoints, self.spec.name, self.study_uid):
                print(f"note: {folder} holds checkpoints of another study named {self.spec.name} "
                      "(created earlier, or in another storage); this study never resumes them", file=sys.stderr)
        owner = CheckpointOwner(self.spec.name, self.study_uid, TrialRecord(trial).checkpoint_key,
                                dict(trial.params), self.data_fingerprint, epochs)
        return TrialCheckpoint(self.checkpoints, owner)

    def _is_surplus(self, trial: optuna.Trial) -> bool:
        """Finished trials plus those started earlier elsewhere already make the target."""
        trials = trial.study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.RUNNING))
        ahead = [t for t in trials if t.state != TrialState.RUNNING or t.number < trial.number]
        return len(ahead) >= self.spec.search.trials

    def _cost_cap(self, trial: optuna.Trial) -> float | None:
        """The time budget's cap on this trial; none on a starting point (see `EpochPruning`)."""
        return None if _starting_point(trial) else self.spec.search.cost_cap_seconds()

    def __call__(self, trial: optuna.Trial) -> float:
        spec, splits = self.spec, self.splits
        self.current_trial = trial.number
        trial.set_user_attr(WORKER_ATTR, worker_identity())
        trial.set_user_attr(BACKEND_ATTR, keras.backend.backend())
        if stopping.stop_requested():  # asked for while Optuna created the trial
            trial.set_user_attr(END_REASON_ATTR, INTERRUPTED)
            stopping.check()
        if self._is_surplus(trial):
            trial.set_user_attr(END_REASON_ATTR, SURPLUS)
            raise SurplusTrial(SURPLUS)
        values = sample(trial, spec.space)
        setup = setup_from_values(values, splits.input_shape, splits.num_classes, **spec.training.trial_settings())
        trial.set_user_attr(ARCHITECTURE_ATTR, setup.architecture.to_dict())
        trial.set_user_attr(TRAINING_ATTR, setup.training.to_dict())

        keras.utils.clear_session(free_memory=True)  # drop the previous trial's graph and weights
        keras.utils.set_random_seed(spec.search.seed + trial.number)
        checkpoint = self._checkpoint(trial, setup.training.epochs)
        resumed = checkpoint.load()
        monitor = TrialMonitor(trial, resumed)
        best = BestEpoch(spec.search.metric, maximize=spec.search.direction == "maximize", resumed=resumed)
        end_reason = "complete"
        try:
            batches = steps_per_epoch(len(splits.x_train), setup.training.batch_size)
            model = resumed.model if resumed else compile_model(setup.architecture, setup.training, batches)
            trial.set_user_attr(PARAMS_ATTR, int(model.count_params()))
            if resumed:
                trial.set_user_attr(RESUMED_EPOCHS_ATTR, resumed.epoch)
                for step, value in enumerate(monitor.history[spec.search.metric], start=1):
                    trial.report(value, step)  # the pruner judges the retry on its whole curve
            epochs = setup.training.epochs
            model.fit(
                self.pipeline.training(setup.training.batch_size, seed=spec.search.seed + trial.number),
                epochs=epochs,
                initial_epoch=resumed.epoch if resumed else 0,
                validation_data=self.pipeline.validation,
                callbacks=[StopAtSafePoint(), monitor, best, SaveCheckpoint(checkpoint, monitor, best, epochs),
                           EpochPruning(trial, spec.search.metric, epochs, monitor, self._cost_cap(trial),
                                        prunable=not _starting_point(trial),
                                        pace=Pace.of_start_near(trial, spec.search.direction == "maximize"))],
                shuffle=False,  # the pipeline reshuffles every epoch itself
                verbose=0,
            )
            best.restore()
            _, test_accuracy = model.evaluate(self.pipeline.test, verbose=0)
            trial.set_user_attr(TEST_ACCURACY_ATTR, float(test_accuracy))
            trial.set_user_attr(BEST_EPOCH_ATTR, best.epoch or setup.training.epochs)
        except TooCostly as error:
            end_reason = f"pruned at epoch {monitor.epochs_done}, {error}"
            raise
        except optuna.TrialPruned:
            end_reason = f"pruned at epoch {monitor.epochs_done}"
            raise
        except TrialDiverged as error:
            end_reason = str(error)
            raise
        except (stopping.StopRequested, KeyboardInterrupt):
            end_reason = INTERRUPTED
            raise
        except SQLAlchemyError as error:
            end_reason = f"{LOST_PREFIX}storage error: {type(error).__name__}"
            raise
        except Exception as error:  # MemoryError included
            if stopping.stop_requested() and not out_of_memory(error):
                # The backend failed while a stop was ending its training loop (seen on JAX under
                # load: "Buffer has been deleted or donated" from inside `fit`): the trial was being
                # stopped, so it is handed back as any stopped trial is, its checkpoint of the last
                # whole epoch kept, rather than failed for good.
                end_reason = INTERRUPTED
                raise stopping.StopRequested(f"stopped; the backend then failed: {error}") from error
            end_reason = OUT_OF_MEMORY if out_of_memory(error) else \
                f"error: {type(error).__name__}: {error}".splitlines()[0][:500]
            raise
        finally:
            self._record(trial, monitor, end_reason)
            forget_traced_gradients()  # also after a resumed trial, which built no model
            if not EndReason.of(end_reason).retried:
                checkpoint.remove()  # the trial ended for a reason of its own: no retry will want it
        return monitor.history[spec.search.metric][-1] if best.value is None else best.value

    def _record(self, trial: optuna.Trial, monitor: TrialMonitor, end_reason: str) -> None:
        trial.set_user_attr(END_REASON_ATTR, end_reason)
        trial.set_user_attr(HISTORY_ATTR, monitor.history)
        trial.set_user_attr(EPOCH_SECONDS_ATTR, monitor.epoch_seconds)
        per_epoch = seconds_per_epoch(monitor.epoch_seconds)
        if per_epoch:
            trial.set_user_attr(IMAGES_PER_SECOND_ATTR, len(self.splits.x_train) / per_epoch)
