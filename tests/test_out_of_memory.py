"""A network too big for the memory a worker has fails its trial as "out of memory"; the worker
goes on, and stops with one sentence after three such trials in a row.

The worker is a real `hpsearch worker` process under an address-space limit (RLIMIT_AS) set for
the test: what a process with a small network needs on that Keras backend, measured first, plus
a margin that a small network fits in and the oversized one (dense weights of about 2 GiB, plus
Adam's state) does not. Each backend says "out of memory" its own way (`train/backend.py`).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from optuna.trial import TrialState

from hpsearch.records import OUT_OF_MEMORY, end_reason
from tests.helpers import REPO, stored_trials, write_study

pytestmark = pytest.mark.timeout(300)
MARGIN = 3 * 2**30
SMALL = "blocks = 1\nconvs_per_block = 1\nbase_filters = 8\ndense_units = 16\nbatch_size = 64\n"
# 4x4x4096 features into 8192 units: 2 GiB of float32 weights, three times that with Adam's moments.
OVERSIZED = 'name = "too-big"\nbase_filters = 4096\nmax_filters = 4096\ndense_units = 8192\n'

MEASURE = """
import keras, numpy as np
import hpsearch.cli, hpsearch.train.objective
model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(8, 3), keras.layers.Flatten(),
                          keras.layers.Dense(10, activation="softmax")])
model.compile("adam", "sparse_categorical_crossentropy")
model.fit(np.zeros((256, 8, 8, 1)), np.zeros(256, dtype=int), verbose=0)
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmPeak:")))
"""


def _on(backend: str) -> dict[str, str]:
    return {**os.environ, "KERAS_BACKEND": backend}


def _address_space_needed(backend: str = "tensorflow") -> int:
    """Bytes of address space a worker process with a small network reaches on this machine."""
    measured = subprocess.run([sys.executable, "-c", MEASURE], capture_output=True, text=True, cwd=REPO,
                              env=_on(backend))
    assert measured.returncode == 0, measured.stderr
    return int(measured.stdout.split()[-1]) * 1024


def _worker_under_limit(study: Path, storage: str, limit: int,
                        backend: str = "tensorflow") -> subprocess.CompletedProcess[str]:
    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "hpsearch", "worker", str(study), "--storage", storage],
        cwd=REPO, capture_output=True, text=True, timeout=240, preexec_fn=limit_memory, env=_on(backend),
    )


def _study(directory: Path, name: str, baselines: list[str], trials: int) -> Path:
    return write_study(
        directory, name,
        f'[data]\ndataset = "digits"\n[training]\nepochs = 1\n[search]\ntrials = {trials}\n'
        f'[search.pruner]\ntype = "none"\n[space]\n{SMALL}'
        + "".join(f"[[baselines]]\n{baseline}" for baseline in baselines),
    )


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_out_of_memory_fails_the_trial_and_the_worker_goes_on(tmp_path: Path, backend: str) -> None:
    limit = _address_space_needed(backend) + MARGIN
    storage = f"sqlite:///{tmp_path}/oom.db"
    study = _study(tmp_path, "oom-once", [OVERSIZED, 'name = "fits"\n'], trials=2)
    result = _worker_under_limit(study, storage, limit, backend)
    assert result.returncode == 0, result.stdout + result.stderr
    trials = stored_trials(storage, "oom-once")
    assert trials[0].state == TrialState.FAIL and end_reason(trials[0]) == OUT_OF_MEMORY
    assert [t.state for t in trials[1:]] == [TrialState.COMPLETE] * 2  # the worker went on
    assert all("failed_trial" not in t.system_attrs for t in trials)  # it would not fit again: no retry


def test_three_trials_out_of_memory_in_a_row_stop_the_worker(tmp_path: Path) -> None:
    limit = _address_space_needed() + MARGIN
    storage = f"sqlite:///{tmp_path}/oom.db"
    study = _study(tmp_path, "oom-thrice", [OVERSIZED] * 3 + ['name = "fits"\n'], trials=4)
    result = _worker_under_limit(study, storage, limit)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "error: this worker stopped after 3 trials in a row failed, the last with: out of memory" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    trials = stored_trials(storage, "oom-thrice")
    assert [end_reason(t) for t in trials[:3]] == [OUT_OF_MEMORY] * 3
    assert [t.state for t in trials] == [TrialState.FAIL] * 3 + [TrialState.WAITING]  # the fourth never started
