"""The `slurm` engine: a study's workers as the tasks of one Slurm job array
(`hpsearch run STUDY --engine slurm --workers N`), for GPUs that a Slurm cluster schedules.

Each array task runs `hpsearch worker` as a job step (`srun`), so that what Slurm sends a job
(`scancel`, the SIGTERM two minutes before the time limit) reaches the worker, which stops at a
safe point and queues its trial again. `sbatch` exports this process's environment to the tasks: the storage URL
travels there, never on a command line. Slurm's own settings (partition, time limit, GPUs per
task, account...) are sbatch's options, given as `--sbatch "--partition=gpu --time=8:00:00
--gpus-per-task=1"` or as its SBATCH_* variables; the options the engine sets itself are refused.
The tasks need this Python (`sys.executable`), the data and the checkpoint directory at the same
paths on every node, as a shared file system gives them; their logs go beside the checkpoints.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hpsearch.errors import RUN_ERROR, USAGE_ERROR, LaunchError
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
from hpsearch.store.urls import STORAGE_ENV, writable_checkpoints

# A task's script: the worker's identity (host:pid, as its trials record it) for the launcher,
# the worker itself as a job step, then its exit code. The trap keeps the script alive through a
# SIGTERM meant for the worker, so that the exit code is still written.
TASK_SCRIPT = """#!/bin/bash
trap 'true' TERM
export HPSEARCH_TASK_FILES={directory}/worker-$SLURM_ARRAY_TASK_ID
srun --ntasks=1 --cpus-per-task="${{SLURM_CPUS_PER_TASK:-1}}" \\
    bash -c 'echo "$(hostname):$$" > "$HPSEARCH_TASK_FILES.identity"; exec "$@"' \\
    hpsearch-worker {command} --sampler-seed $(( {seed} + SLURM_ARRAY_TASK_ID ))
echo $? > "$HPSEARCH_TASK_FILES.exit"
"""
SLURM_SAYS = ("srun:", "slurmstepd:")  # lines Slurm adds to a task's log after its worker's
SQUEUE_SECONDS = 2.0  # squeue at most this often: every query is work for the cluster's controller
# Unless SBATCH_SIGNAL says otherwise, the workers get SIGTERM this long before the time limit
# (sent to the job step only): one signal, a stop at a safe point, their trials handed back.
WARNING_SECONDS = 120
LIVE_STATES = "PD,CF,R,S,CG"  # pending, configuring, running, suspended, completing
# sbatch options the engine sets itself (one array of one-task workers, their environment and
# logs, whose last line is a failed worker's error): given in --sbatch, they would split or hide
# the run. sbatch also takes a long option by any unambiguous start of its name (--arr).
ENGINE_SETS = ("--array", "-a", "--export", "--output", "-o", "--error", "-e", "--ntasks", "-n", "--wrap",
               "--parsable")


class SlurmError(RuntimeError):
    """A Slurm command failed; the message is its one-sentence complaint."""


def slurm(*arguments: str, env: dict[str, str] | None = None) -> str:
    """The output of a Slurm command (sbatch, squeue, scancel), or SlurmError with its complaint.
    It runs in a session of its own, so a Ctrl-C meant for the launcher does not cut it off."""
    try:
        done = subprocess.run(arguments, capture_output=True, text=True, env=env, timeout=60, check=False,
                              start_new_session=True)
    except FileNotFoundError:
        raise SlurmError(f"{arguments[0]} not found: --engine slurm runs where Slurm's commands are") from None
    except subprocess.TimeoutExpired:
        raise SlurmError(f"{arguments[0]} did not answer within 60 s") from None
    if done.returncode != 0:
        complaint = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        complaint = complaint.removeprefix(f"{arguments[0]}: error: ")
        raise SlurmError(f"{arguments[0]} failed: {complaint}")
    return done.stdout


class SlurmArray:
    """The tasks of one job array (the launcher's `Workers`), each a worker."""

    def __init__(self, count: int, task: WorkerTask, storage_url: str, directory: Path, options: list[str]) -> None:
        self.count = count
        self.task = task
        self.storage_url = storage_url
        self.directory = directory
        self.options = options  # the user's own sbatch options
        self.job = ""
        self.listed: dict[str, str] = {}  # the tasks squeue last listed (pending or running): JOB_INDEX -> state
        self.asked = 0.0  # when squeue was last asked
        self.reported: set[str] = set()  # identities already handed to `lost`

    def start(self, seed: int) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        command = shlex.join([sys.executable, "-m", "hpsearch", "worker", *self.task.flags()])
        script = self.directory / "task.sh"
        script.write_text(TASK_SCRIPT.format(directory=shlex.quote(str(self.directory)), command=command, seed=seed))
        env = {**os.environ, STORAGE_ENV: self.storage_url, **GPU_SHARING}
        signal_given = os.environ.get("SBATCH_SIGNAL") or any(option.startswith("--signal") for option in self.options)
        warning = [] if signal_given else [f"--signal=TERM@{WARNING_SECONDS}"]
        if stopping.stop_requested():
            return
        try:
            self.job = slurm("sbatch", "--parsable", f"--array=0-{self.count - 1}", f"--job-name=hpsearch-{self.task.study}",
                             "--ntasks=1", "--export=ALL", *warning, f"--output={self.directory}/worker-%a.log",
                             *self.options, str(script), env=env).strip()
        except SlurmError as error:
            given = f" with --sbatch {shlex.join(self.options)!r}" if self.options else ""
            raise LaunchError(f"cannot submit the workers to Slurm{given} ({error})", RUN_ERROR) from None
        self.job = self.job.split(";")[0]  # `id;cluster` on a federation
        self.listed = {f"{self.job}_{index}": "PENDING" for index in range(self.count)}  # until squeue says otherwise

    def describe(self) -> list[str]:
        return [f"Slurm: job {self.job}, {self.count} task(s); logs in {self.directory}"]

    def running(self) -> bool:
        """Whether any task is pending or running, as squeue said at most SQUEUE_SECONDS ago (a
        squeue that cannot answer leaves the last answer standing)."""
        if not self.job:
            return False
        if time.monotonic() - self.asked >= SQUEUE_SECONDS:
            try:
                listing = slurm("squeue", "--noheader", "--array", "--jobs", self.job, f"--states={LIVE_STATES}",
                                "--format=%i %T")
                self.listed = dict(line.split() for line in listing.splitlines() if len(line.split()) == 2)
                self.asked = time.monotonic()
            except SlurmError as error:
                if "Invalid job id" in str(error):  # ended long enough ago for the controller to forget it
                    self.listed = {}
        return bool(self.listed)

    def state(self) -> str:
        """The array's tasks by state, as squeue last listed them: "job 12: 2 running, 1 pending"."""
        states = Counter(state.lower() for state in self.listed.values())
        return f"job {self.job}: " + (", ".join(f"{n} {state}" for state, n in states.most_common()) or "ended")

    def _exit_code(self, index: int) -> int | None:
        """Task `index`'s worker's exit code; None while it runs, or when it was killed with its script."""
        ended = self.directory / f"worker-{index}.exit"
        text = ended.read_text().strip() if ended.exists() else ""
        return int(text) if text.isdigit() else None

    def identities(self) -> set[str]:
        return {path.read_text().strip() for path in self.directory.glob("worker-*.identity")
                if path.read_text().strip()}

    def lost(self) -> set[str]:
        """Workers whose task left the queue without a clean exit (a `scancel`, a node lost, the
        time limit's SIGKILL), since the last call: their trials are released at once, not once
        their heartbeats go stale. Releasing the trials of a worker that stopped cleanly finds
        nothing left to release."""
        identities = set()
        for index in range(self.count):
            identity_file = self.directory / f"worker-{index}.identity"
            if f"{self.job}_{index}" in self.listed or self._exit_code(index) == 0 or not identity_file.exists():
                continue
            identity = identity_file.read_text().strip()
            if identity and identity not in self.reported:
                identities.add(identity)
        self.reported |= identities
        return identities

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Cancel the tasks not started yet, SIGTERM the running ones' workers (each records and
        re-queues its trial), then cancel the job; a second Ctrl-C skips the wait, never the cancel."""
        if not self.job:
            return
        try:
            for pending_then_running in (["--state=PENDING"], ["--state=RUNNING", "--signal=TERM"]):
                try:
                    slurm("scancel", *pending_then_running, self.job)
                except SlurmError:
                    pass  # none in that state
            self._wait_until_gone(timeout)
        except KeyboardInterrupt:
            pass
        self.close()

    def close(self) -> None:
        """Cancel whatever is left of the job (Slurm's SIGTERM, then SIGKILL after its KillWait),
        and wait until Slurm has ended it, so that no worker is released while it still trains."""
        if self.running():
            try:
                slurm("scancel", self.job)
            except SlurmError:
                pass
            self._wait_until_gone(4 * STOP_SECONDS)

    def _wait_until_gone(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.running() and time.monotonic() < deadline:
            time.sleep(SQUEUE_SECONDS / 4)

    def failures(self) -> list[tuple[int, str]]:
        """Each failed task's exit code and the last line its worker wrote (not Slurm's)."""
        return [worker_failure(index, code, self.directory / f"worker-{index}.log", noise=SLURM_SAYS)
                for index in range(self.count) if (code := self._exit_code(index))]


class SlurmEngine:
    """Workers as one Slurm job array of `--workers` tasks (default 1)."""

    def __init__(self, request: EngineRequest) -> None:
        if request.gpus is not None or request.workers_per_gpu != 1:
            raise LaunchError("--gpus and --workers-per-gpu place workers on this machine; on Slurm, --workers sets "
                              "the tasks and SBATCH_GRES or --sbatch (e.g. --gpus-per-task=1) what each gets",
                              USAGE_ERROR)
        self.options = sbatch_options(request.sbatch)
        missing = [command for command in ("sbatch", "squeue", "scancel") if shutil.which(command) is None]
        if missing:
            raise LaunchError(f"--engine slurm needs Slurm's {', '.join(missing)} on PATH: run it where jobs are "
                              "submitted (a login node)", USAGE_ERROR)
        self.count = request.workers or 1

    def in_this_process(self) -> bool:
        return False

    def checkpoints(self, url: str, flag: str | None) -> Path:
        return writable_checkpoints(url, flag)

    @contextmanager
    def workers(self, run: RunContext) -> Iterator[SlurmArray]:
        """The job array, its scripts and logs in a fresh directory beside the checkpoints."""
        check_data_here(run.spec, run.storage, run.task.options.force, run.console)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        directory = Path(run.task.checkpoints) / "slurm" / f"{run.spec.name}-{stamp}-{os.getpid()}"
        yield SlurmArray(self.count, run.task, run.url, directory, self.options)


def sbatch_options(given: str | None) -> list[str]:
    """`--sbatch`'s text as sbatch's arguments, refusing unbalanced quotes and the options the
    engine sets itself."""
    try:
        options = shlex.split(given or "")
    except ValueError as error:
        raise LaunchError(f"--sbatch {given!r} cannot be read as sbatch options ({error})", USAGE_ERROR) from None
    if options and not options[0].startswith("-"):
        raise LaunchError(f"--sbatch takes sbatch's options (e.g. --partition=gpu), not {options[0]!r}", USAGE_ERROR)
    for option in options:
        glued_short = option.startswith("-") and not option.startswith("--")  # -a0-3 is -a with its value
        name = option[:2] if glued_short else option.split("=", 1)[0]
        sets = [own for own in ENGINE_SETS if own == name or (len(name) > 3 and own.startswith(name))]
        if sets:
            raise LaunchError(f"--sbatch cannot set {sets[0]}: the slurm engine sets it (--workers sets the array)",
                              USAGE_ERROR)
    return options
