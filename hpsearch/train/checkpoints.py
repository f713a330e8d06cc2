"""Trial checkpoints: a retried trial resumes from its last finished epoch, not from scratch.

After every epoch but the last, the trial's model (weights and optimizer state), its curves, epoch
timings and best epoch so far are written to `<directory>/<study>/trial-<n>/`, where n is the
number of the trial's first attempt, which every retry carries (`records.RETRY_OF_ATTR`). A retry
that finds a checkpoint for its parameters loads it and trains only the epochs left, so a worker
killed at epoch 9 of 10 costs one epoch. A checkpoint that is missing, unreadable or made for
other parameters is ignored and the trial starts afresh. A trial that ends for a reason of its
own (complete, pruned, diverged, error) removes its checkpoint; an interrupted or lost one keeps
it for its retry. The directory must be shared by workers on several machines for a retry
elsewhere to find it (`--checkpoints`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
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


class TrialCheckpoint:
    """The checkpoint of one trial (all its attempts), for parameters `params`."""

    def __init__(self, root: Path, study: str, first_number: int, params: dict[str, Any]) -> None:
        self.directory = root / re.sub(r"[^\w.-]", "_", study) / f"trial-{first_number}"
        self.params = params

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
            "params": self.params, "epoch": epoch, "model": model_file, "best_weights": best_file,
            "history": history, "epoch_seconds": epoch_seconds, "best_epoch": best_epoch, "best_value": best_value,
        }
        partial = self.directory / (STATE_FILE + ".partial")
        partial.write_text(json.dumps(state), encoding="utf-8")
        os.replace(partial, self.directory / STATE_FILE)
        for older in self.directory.iterdir():
            if older.name not in (STATE_FILE, model_file, best_file):
                older.unlink(missing_ok=True)

    def load(self) -> Resumed | None:
        """The saved state, or None when there is none usable (the trial then starts afresh)."""
        try:
            state = json.loads((self.directory / STATE_FILE).read_text(encoding="utf-8"))
            if state["params"] != self.params:
                return None
            model = keras.models.load_model(self.directory / state["model"])
            with np.load(self.directory / state["best_weights"]) as saved:
                best_weights = [saved[f"arr_{i}"] for i in range(len(saved.files))]
            return Resumed(
                model=model, epoch=int(state["epoch"]), history=state["history"],
                epoch_seconds=state["epoch_seconds"], best_epoch=int(state["best_epoch"]),
                best_value=state["best_value"], best_weights=best_weights,
            )
        except Exception:  # missing, half-written by an old version, corrupt: start afresh
            return None

    def remove(self) -> None:
        """Delete the checkpoint, and the study's folder once it holds no other trial's."""
        shutil.rmtree(self.directory, ignore_errors=True)
        try:
            self.directory.parent.rmdir()
        except OSError:
            pass  # other trials' checkpoints are still there
