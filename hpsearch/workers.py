"""Starting, pinning, watching and stopping worker processes (`hpsearch run --workers N`).

Each worker is a separate `hpsearch worker` process: its own TensorFlow, pinned to one GPU with
CUDA_VISIBLE_DEVICES (several may share one), or on the CPU with its share of the cores. They
meet only in the storage. The storage URL travels in the environment, not on the command line,
so its password never shows in `ps`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from hpsearch.urls import STORAGE_ENV

STOP_SECONDS = 10.0  # how long workers get to record their interrupted trial before SIGKILL


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """Let SIGTERM (from `hpsearch run --workers`, a container stop, a scheduler) stop this
    process the way Ctrl-C does: a worker records its trial as interrupted and queues it again."""
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)


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
    env = {**os.environ, STORAGE_ENV: storage_url, "TF_FORCE_GPU_ALLOW_GROWTH": "true"}
    if slot.gpu is None:
        env["CUDA_VISIBLE_DEVICES"] = ""  # keep CPU workers off any GPU
        threads = str(max(1, (os.cpu_count() or 1) // max(1, cpu_workers)))
        env["TF_NUM_INTRAOP_THREADS"] = env["TF_NUM_INTEROP_THREADS"] = threads
    else:
        env["CUDA_VISIBLE_DEVICES"] = slot.gpu
    return env


class WorkerPool:
    """Worker processes for one study, each logging to its own file in `log_dir`."""

    def __init__(self, slots: list[WorkerSlot], worker_args: list[str], storage_url: str, log_dir: Path):
        self.slots = slots
        self.worker_args = worker_args
        self.storage_url = storage_url
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen[bytes]] = []

    def log_of(self, slot: WorkerSlot) -> Path:
        return self.log_dir / f"worker-{slot.index}.log"

    def start(self, seed: int) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        cpu_workers = sum(slot.gpu is None for slot in self.slots)
        for slot in self.slots:
            command = [sys.executable, "-m", "hpsearch", "worker", *self.worker_args,
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
                    )
                )

    def running(self) -> bool:
        return any(process.poll() is None for process in self.processes)

    def exit_codes(self) -> list[int | None]:
        return [process.poll() for process in self.processes]

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """SIGTERM every worker (each records and re-queues its trial), SIGKILL what remains."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def last_error(self) -> str:
        """The last line a failed worker wrote, for the parent's one-sentence message."""
        for slot, code in zip(self.slots, self.exit_codes()):
            if code:
                lines = self.log_of(slot).read_text(errors="replace").strip().splitlines()
                return lines[-1] if lines else f"worker {slot.index} exited with code {code}"
        return ""
