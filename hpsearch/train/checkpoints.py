"""Trial checkpoints: a retried trial resumes from its last finished epoch, not from scratch.

After every epoch but the last, the trial's model (weights and optimizer state), its curves, epoch
timings and best epoch so far are written to `<directory>/<study>/<study id>/trial-<n>/`, where the
study id is drawn when the study is created (`records.STUDY_UID_ATTR`) and n is the number of the
trial's first attempt, which every retry carries (`records.RETRY_OF_ATTR`). A checkpoint belongs
to exactly one trial: the state names its owner (study, study id, trial, parameters, data
fingerprint and length), and a retry resumes only from a checkpoint whose owner is its own and
whose record is whole (an epoch inside the trial's length, curves and timings of that many
epochs). A study made anew under the same name (a deleted SQLite file, another storage) has
another id, so it never resumes the old one's checkpoints; they are left alone and reported once.
So a worker killed at epoch 9 of 10 costs one epoch, and nothing else's epochs are ever resumed.
A trial that ends for a reason of its own (complete, pruned, diverged, error) removes its
checkpoint; an interrupted or lost one keeps it for its retry. The directory must be shared by
workers on several machines for a retry elsewhere to find it (`--checkpoints`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hpsearch.train.keras_import import keras
import numpy as np

STATE_FILE = "state.json"


@dataclass
class Resumed:
    """What a checkpoint restores: the compiled model and the trial's record up to `epoch`."""

    model: keras.Model
    epoch: int
    history: dict[str, list[float]]
    epoch_seconds: list[float]
    best_epoch: int
    best_value: float | None
    best_weights: list[np.ndarray]


@dataclass(frozen=True)
class CheckpointOwner:
    """The one trial a checkpoint may be resumed by."""

    study: str
    study_uid: str  # drawn when the study was created: a study made anew under its name is another
    trial: int  # the number of the trial's first attempt
    params: dict[str, Any]
    data: str  # the data's fingerprint (`Splits.fingerprint()["sha256"]`)
    epochs: int  # the trial's length


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]", "_", name)


def foreign_checkpoints(root: Path, study: str, study_uid: str) -> list[Path]:
    """Checkpoint folders under `root` of other studies named `study` (made earlier under that
    name, or in another storage sharing the directory): never resumed here, only reported."""
    folder = root / _safe(study)
    return sorted(p for p in folder.iterdir() if p.name != study_uid) if folder.is_dir() else []


def whole_record(state: dict[str, Any], epochs: int) -> bool:
    """Whether a saved state describes `state["epoch"]` finished epochs of a trial of `epochs`:
    a checkpoint is written after every epoch but the last, and its curves and timings hold one
    entry per epoch (a state claiming epoch 999 of 30 would record the trial as complete)."""
    epoch = state["epoch"]
    return (isinstance(epoch, int) and 1 <= epoch < epochs
            and len(state["epoch_seconds"]) == epoch
            and all(len(curve) == epoch for curve in state["history"].values())
            and isinstance(state["best_epoch"], int) and 0 <= state["best_epoch"] <= epoch)


class TrialCheckpoint:
    """The checkpoint of one trial (all its attempts)."""

    def __init__(self, root: Path, owner: CheckpointOwner) -> None:
        self.study_folder = root / _safe(owner.study)
        self.directory = self.study_folder / _safe(owner.study_uid) / f"trial-{owner.trial}"
        self.owner = owner

    def save(self, model: keras.Model, epoch: int, history: dict[str, list[float]],
             epoch_seconds: list[float], best_epoch: int, best_value: float | None,
             best_weights: list[np.ndarray]) -> None:
        """Write the state after `epoch` (1-based). The state file, written last and renamed into
        place, names the model files, so a crash mid-write leaves the previous checkpoint whole."""
        self.directory.mkdir(parents=True, exist_ok=True)
        model_file, best_file = f"model-{epoch}.keras", f"best-{epoch}.npz"
        model.save(self.directory / model_file)
        np.savez(self.directory / best_file, *best_weights)
        state = {
            "owner": asdict(self.owner), "epoch": epoch, "model": model_file, "best_weights": best_file,
            "history": history, "epoch_seconds": epoch_seconds, "best_epoch": best_epoch, "best_value": best_value,
        }
        partial = self.directory / (STATE_FILE + ".partial")
        partial.write_text(json.dumps(state), encoding="utf-8")
        os.replace(partial, self.directory / STATE_FILE)
        for older in self.directory.iterdir():
            if older.name not in (STATE_FILE, model_file, best_file):
                older.unlink(missing_ok=True)

    def load(self) -> Resumed | None:
        """The saved state, or None when there is none usable (the trial then starts afresh):
        missing, unreadable, another trial's, or not a whole record of this trial's epochs; each
        but the first is said once on stderr."""
        if not (self.directory / STATE_FILE).exists():
            return None  # no checkpoint yet: the usual case
        try:
            state = json.loads((self.directory / STATE_FILE).read_text(encoding="utf-8"))
            problem = ("was made for another trial" if state.get("owner") != asdict(self.owner)
                       else "" if whole_record(state, self.owner.epochs) else "is not a whole record of its epochs")
            if problem:
                print(f"note: the checkpoint in {self.directory} {problem}; it is ignored and the trial "
                      "trains afresh", file=sys.stderr)
                return None
            model = keras.models.load_model(self.directory / state["model"])
            with np.load(self.directory / state["best_weights"]) as saved:
                best_weights = [saved[f"arr_{i}"] for i in range(len(saved.files))]
            return Resumed(
                model=model, epoch=state["epoch"], history=state["history"],
                epoch_seconds=state["epoch_seconds"], best_epoch=state["best_epoch"],
                best_value=state["best_value"], best_weights=best_weights,
            )
        except Exception as error:  # half-written by an old version, corrupt, truncated: start afresh
            print(f"note: the checkpoint in {self.directory} cannot be read ({type(error).__name__}); it is "
                  "ignored and the trial trains afresh", file=sys.stderr)
            return None

    def remove(self) -> None:
        """Delete the checkpoint, and the study's folders once they hold no other trial's."""
        shutil.rmtree(self.directory, ignore_errors=True)
        for folder in (self.directory.parent, self.study_folder):
            try:
                folder.rmdir()
            except OSError:
                return  # other trials' checkpoints are still there
