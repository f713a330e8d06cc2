"""What every engine gives the launcher: a run's workers (`Workers`), what each of them is told
(`WorkerTask`), and how an engine is asked for them (`Engine`, made from an `EngineRequest`).

An engine is one module in this package plus its line in the registry (`engines/__init__.py`):
it refuses what it cannot place before the storage is opened, says where checkpoints go, and
starts and supervises the workers through `Workers`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hpsearch.launch.run_options import JoinOptions

if TYPE_CHECKING:
    from optuna.storages import BaseStorage
    from rich.console import Console

    from hpsearch.space.spec import StudySpec

# How long workers get to reach a safe point (the end of a training batch) and record their
# interrupted trial before SIGKILL; a killed worker's trial is then released by the launcher.
STOP_SECONDS = 30.0
# Each backend takes GPU memory as it needs it rather than all at once, so workers share a GPU.
GPU_SHARING = {"TF_FORCE_GPU_ALLOW_GROWTH": "true", "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
               "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}


class Workers(Protocol):
    """What the launcher asks of a run's workers: processes on this machine (`local.WorkerPool`),
    Ray actors on a cluster (`ray_cluster.RayWorkers`) or a Slurm job array (`slurm.SlurmArray`)."""

    def start(self, seed: int) -> None:
        """Start them; worker i seeds its sampler with `seed + i`."""

    def describe(self) -> list[str]:
        """Where each worker runs and where its log is, for the user."""

    def running(self) -> bool:
        """Whether any is still at work (restarting the ones that died, where the engine can)."""

    def state(self) -> str:
        """Where the workers stand, shown beside the study's progress (e.g. "2 running, 1 pending")."""

    def stop(self) -> None:
        """Ask each to stop at a safe point; kill what has not stopped in time."""

    def identities(self) -> set[str]:
        """Every worker as its trials record it (host:pid), so their trials can be released."""

    def lost(self) -> set[str]:
        """Workers that died (their trials to release) since the last call."""

    def failures(self) -> list[tuple[int, str]]:
        """Each failed worker's exit code and one-sentence error."""

    def close(self) -> None:
        """Make sure no worker is left once the run is over."""


@dataclass(frozen=True)
class WorkerTask:
    """What every worker of a run is told: the study, and this run's own settings (the rest the
    workers read from the study stored in the storage)."""

    study: str
    options: JoinOptions

    @property
    def checkpoints(self) -> str:
        return str(self.options.checkpoints)

    def join_arguments(self) -> dict[str, Any]:
        """Keyword arguments for `launcher.join` (a worker in this process, a Ray actor)."""
        return self.options.given()

    def flags(self) -> list[str]:
        """The same as `hpsearch worker` arguments (a worker process)."""
        return [self.study, *self.options.flags()]


def worker_failure(index: int, code: int, log: Path, noise: tuple[str, ...] = ()) -> tuple[int, str]:
    """A failed worker's exit code and its one-sentence error: the last line it wrote to `log`
    (lines starting with `noise`, an engine's own, left out)."""
    written = log.read_text(errors="replace").splitlines() if log.exists() else []
    lines = [line for line in written if line.strip() and not (noise and line.startswith(noise))]
    return code, lines[-1].removeprefix("error: ") if lines else f"worker {index} exited with code {code}"


@dataclass(frozen=True)
class EngineRequest:
    """Where the user asked the workers to run (`hpsearch run` flags), before anything is opened."""

    workers: int | None  # None: the engine's default (one per GPU, else one)
    gpus: str | None  # `--gpus`: this machine's GPUs to use
    workers_per_gpu: int
    address: str | None = None  # `--ray`: the cluster's address
    sbatch: str | None = None  # `--sbatch`: more sbatch options (partition, time limit, GPUs per task...)


@dataclass(frozen=True)
class RunContext:
    """What an engine's workers need from the launcher once the study is settled."""

    spec: StudySpec
    storage: BaseStorage
    url: str
    task: WorkerTask
    join: Callable[..., object]  # the launcher's `join`, which a remote worker runs
    console: Console


class Engine(Protocol):
    """One way of running a study's workers, made from an `EngineRequest` (which it checks, raising
    LaunchError, before the storage is opened)."""

    def in_this_process(self) -> bool:
        """Whether the one worker trains here, in the launcher's own process (no `workers`)."""

    def checkpoints(self, url: str, flag: str | None) -> Path:
        """The checkpoint directory the workers write to."""

    def workers(self, run: RunContext) -> AbstractContextManager[Workers]:
        """The run's workers, not started yet; what they need (a connection) lasts as long as this."""
