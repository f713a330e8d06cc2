"""The `local` engine: one worker in the launcher's process, or worker processes on this machine
(`hpsearch run --workers N`, or one per GPU) started, pinned, watched and stopped here.

Each worker is a separate `hpsearch worker` process: its own TensorFlow, pinned to one GPU with
CUDA_VISIBLE_DEVICES (several may share one), or on the CPU with its share of the cores. They
meet only in the storage. The storage URL travels in the environment, not on the command line,
so its password never shows in `ps`.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hpsearch.errors import USAGE_ERROR, LaunchError
from hpsearch.launch.data_check import check_data_here
from hpsearch.launch.engines.base import (
    GPU_SHARING,
    STOP_SECONDS,
    EngineRequest,
    RunContext,
    WorkerTask,
    worker_failure,
)
from hpsearch.lifecycle import stopping
from hpsearch.records import worker_identity
from hpsearch.store.urls import STORAGE_ENV, writable_checkpoints

# More workers than this only thrash: each CPU worker trains with its share of the cores, and
# each GPU worker holds its own TensorFlow runtime in the GPU's memory.
MAX_WORKERS_PER_CORE = 4
MAX_WORKERS_PER_GPU = 8


class WorkerPlanError(ValueError):
    """A worker count or GPU list that cannot be honoured; the message is one sentence."""


def detect_gpus() -> list[str]:
    """The GPUs this machine offers: CUDA_VISIBLE_DEVICES when set, else what nvidia-smi lists."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [gpu.strip() for gpu in visible.split(",") if gpu.strip() and gpu.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listed = subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout
    except (subprocess.SubprocessError, OSError):
        return []
    return [line.strip() for line in listed.splitlines() if line.strip()]


def choose_gpus(requested: str | None, found: list[str]) -> list[str]:
    """The GPUs to train on: those `--gpus` names (each must exist), else all found."""
    if requested is None:
        return found
    chosen = [gpu.strip() for gpu in requested.split(",") if gpu.strip()]
    missing = [gpu for gpu in chosen if gpu not in found]
    if missing:
        offered = ", ".join(found) if found else "none"
        raise WorkerPlanError(f"no GPU {', '.join(missing)} on this machine (GPUs found: {offered})")
    return chosen


def check_worker_count(workers: int, gpus: list[str]) -> None:
    """Refuse more workers than the machine can usefully run (see MAX_WORKERS_PER_*)."""
    cores = os.cpu_count() or 1
    limit = len(gpus) * MAX_WORKERS_PER_GPU if gpus else cores * MAX_WORKERS_PER_CORE
    where = f"{len(gpus)} GPU(s)" if gpus else f"{cores} CPU core(s)"
    if workers > limit:
        raise WorkerPlanError(f"--workers {workers} is more than this machine's {where} can run "
                              f"(at most {limit}); start workers on other machines with `hpsearch worker`")


@dataclass(frozen=True)
class WorkerSlot:
    index: int
    gpu: str | None  # None: the CPU


def plan_workers(workers: int | None, gpus: list[str], per_gpu: int) -> list[WorkerSlot]:
    """Which worker runs where: `per_gpu` workers on each GPU unless a count is given (then
    round-robin over the GPUs); on a machine without GPUs, `workers` CPU workers (default 1)."""
    if not gpus:
        return [WorkerSlot(i, None) for i in range(workers or 1)]
    count = workers or len(gpus) * per_gpu
    return [WorkerSlot(i, gpus[i % len(gpus)]) for i in range(count)]


def worker_environment(slot: WorkerSlot, cpu_workers: int, storage_url: str) -> dict[str, str]:
    env = {**os.environ, STORAGE_ENV: storage_url, **GPU_SHARING}
    if slot.gpu is None:
        env["CUDA_VISIBLE_DEVICES"] = ""  # keep CPU workers off any GPU
        threads = str(max(1, (os.cpu_count() or 1) // max(1, cpu_workers)))
        env["TF_NUM_INTRAOP_THREADS"] = env["TF_NUM_INTEROP_THREADS"] = threads
    else:
        env["CUDA_VISIBLE_DEVICES"] = slot.gpu
    return env


PR_SET_PDEATHSIG = 1  # Linux's prctl option: a signal for the child when its parent dies


def die_with(launcher: int) -> Callable[[], None]:
    """What a worker process runs before it starts (Popen's `preexec_fn`): on Linux, the kernel
    sends it `stopping.LAUNCHER_GONE` when `launcher` dies, however it died (a SIGKILL, the OOM
    killer), so it stops at a safe point and queues its trial again instead of training
    unsupervised; a launcher that died before this took effect is caught by looking at the
    parent afterwards. The signal is set to its default first: `nohup` would have it ignored."""
    prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)  # looked up before the fork

    def arrange() -> None:
        if prctl is not None:
            signal.signal(stopping.LAUNCHER_GONE, signal.SIG_DFL)
            prctl(PR_SET_PDEATHSIG, stopping.LAUNCHER_GONE)
            if os.getppid() != launcher:
                os.kill(os.getpid(), stopping.LAUNCHER_GONE)

    return arrange


class WorkerPool:
    """Worker processes for one study, each logging to its own file in `log_dir`."""

    def __init__(self, slots: list[WorkerSlot], task: WorkerTask, storage_url: str, log_dir: Path):
        self.slots = slots
        self.task = task
        self.storage_url = storage_url
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen[bytes]] = []
        self.reported: set[int] = set()  # pids of killed workers already handed to `lost`

    def log_of(self, slot: WorkerSlot) -> Path:
        return self.log_dir / f"worker-{slot.index}.log"

    def start(self, seed: int) -> None:
        """Start the workers; a stop signal meanwhile starts no more (`stop` ends those started)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        cpu_workers = sum(slot.gpu is None for slot in self.slots)
        arrange = die_with(os.getpid())
        for slot in self.slots:
            if stopping.stop_requested():
                return
            command = [sys.executable, "-m", "hpsearch", "worker", *self.task.flags(),
                       "--sampler-seed", str(seed + slot.index)]
            with self.log_of(slot).open("wb") as log:
                self.processes.append(
                    subprocess.Popen(
                        command,
                        env=worker_environment(slot, cpu_workers, self.storage_url),
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # a terminal's Ctrl-C reaches only the parent
                        preexec_fn=arrange,
                    )
                )

    def describe(self) -> list[str]:
        places = ", ".join(f"GPU {slot.gpu}" if slot.gpu is not None else "CPU" for slot in self.slots)
        return [f"Workers: {len(self.slots)} ({places}); logs in {self.log_dir}"]

    def running(self) -> bool:
        return any(process.poll() is None for process in self.processes)

    def state(self) -> str:
        alive = sum(process.poll() is None for process in self.processes)
        return f"{alive} of {len(self.processes)} workers alive"

    def identities(self) -> set[str]:
        """The workers as their trials record them (`records.worker_identity`)."""
        return {worker_identity(process.pid) for process in self.processes}

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """SIGTERM every worker (each records and re-queues its trial), SIGKILL what remains;
        a second Ctrl-C skips the wait, never the kill."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        try:
            for process in self.processes:
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
        except KeyboardInterrupt:
            pass  # a second Ctrl-C: no more waiting, but still no worker left behind
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    def failures(self) -> list[tuple[int, str]]:
        """Each failed worker's exit code and the last line it wrote (its one-sentence error)."""
        return [worker_failure(slot.index, code, self.log_of(slot))
                for slot, process in zip(self.slots, self.processes) if (code := process.poll()) and code > 0]

    def lost(self) -> set[str]:
        """Workers killed by a signal (a SIGKILL, the kernel's OOM killer) since the last call."""
        killed = {process.pid for process in self.processes
                  if (process.poll() or 0) < 0 and process.pid not in self.reported}
        self.reported |= killed
        return {worker_identity(pid) for pid in killed}

    def close(self) -> None:
        if self.running():  # only when the launcher itself failed: it stops them when interrupted
            self.stop()


class LocalEngine:
    """Workers on this machine: in this process when there is one on the CPU, else processes."""

    def __init__(self, request: EngineRequest) -> None:
        try:
            chosen = choose_gpus(request.gpus, detect_gpus())
            self.slots = plan_workers(request.workers, chosen, request.workers_per_gpu)
            check_worker_count(len(self.slots), chosen)
        except WorkerPlanError as error:
            raise LaunchError(str(error), USAGE_ERROR) from None

    def in_this_process(self) -> bool:
        return len(self.slots) == 1 and self.slots[0].gpu is None

    def checkpoints(self, url: str, flag: str | None) -> Path:
        return writable_checkpoints(url, flag)

    @contextmanager
    def workers(self, run: RunContext) -> Iterator[WorkerPool]:
        """Worker processes, each logging into a fresh directory; data that is not the stored
        study's is refused here first (the workers would each refuse it)."""
        import tempfile

        check_data_here(run.spec, run.storage, run.task.options.force, run.console)
        yield WorkerPool(self.slots, run.task, run.url, Path(tempfile.mkdtemp(prefix=f"hpsearch-{run.spec.name}-")))
