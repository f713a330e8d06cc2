"""The `ray` engine: a study's workers as Ray actors (`hpsearch run STUDY --ray [ADDRESS]`), for
teams whose GPUs are a Ray cluster (KubeRay included).

Ray places the workers and restarts them; the study itself stays coordinated through the Optuna
storage, as with worker processes. Each actor is a fresh process of its own that sets TensorFlow's
GPU memory growth before TensorFlow loads (the driver's settings never reach it), and trains trials
with the same code as `hpsearch worker`. An actor that dies (a SIGKILL, a lost node) is restarted
by Ray; its trial in flight is released here at once (failed and queued again, resuming from its
checkpoint), not only once its heartbeat goes stale.

This is Ray Core, not Ray Tune: Tune's Optuna searcher drives trials itself and gives up Optuna's
pruners and shared-storage retries, which are the point of hpsearch.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpsearch.lifecycle import stopping
from hpsearch.errors import RUN_ERROR, USAGE_ERROR, LaunchError
from hpsearch.launch.engines.base import GPU_SHARING, STOP_SECONDS, EngineRequest, RunContext, WorkerTask
from hpsearch.launch.engines.ray_connection import LOCAL, connected, first_line
from hpsearch.records import worker_identity

# A worker that keeps dying (out of host memory, a bad node) is restarted this often, then given up.
MAX_RESTARTS = 3
PLACEMENT_PATIENCE_SECONDS = 30.0  # then a worker still waiting for Ray to place it is mentioned


@dataclass(frozen=True)
class Placement:
    """Where one actor landed, as it reports it from inside."""

    node: str  # the node's IP address
    host: str
    pid: int
    gpus: str  # CUDA_VISIBLE_DEVICES as Ray set it; "" on a CPU worker
    log: str  # the file its output goes to, on that node

    @property
    def identity(self) -> str:
        """As the trials this actor trains record it."""
        return worker_identity(self.pid, self.host)


class StudyWorker:
    """One worker as a Ray actor. Two calls may run at once, so that `stop` reaches a `work`
    in progress (signals cannot: an actor's calls run outside its main thread)."""

    def __init__(self, intra_op_threads: int | None) -> None:
        import ray

        os.environ.update(GPU_SHARING)  # before a backend loads in this process
        if not ray.get_gpu_ids():
            os.environ["CUDA_VISIBLE_DEVICES"] = ""  # Ray leaves a CPU actor the node's GPUs
        if intra_op_threads:
            os.environ["TF_NUM_INTRAOP_THREADS"] = os.environ["TF_NUM_INTEROP_THREADS"] = str(intra_op_threads)

    def where(self) -> Placement:
        import ray

        return Placement(node=ray.util.get_node_ip_address(), host=socket.gethostname(), pid=os.getpid(),
                         gpus=os.environ.get("CUDA_VISIBLE_DEVICES", ""), log=_output_file())

    def work(self, join: Callable[..., object], task: WorkerTask, storage_url: str, sampler_seed: int,
             directory: str) -> tuple[int, str]:
        """Train trials with `join` (the launcher's, sent by reference) until the study is done;
        (exit code, one-sentence error) as `hpsearch worker`."""
        from rich.console import Console

        from hpsearch.store.urls import mask

        if os.path.isdir(directory):  # the driver's, where relative data and SQLite paths point
            os.chdir(directory)
        console = Console(file=sys.stdout, force_terminal=False, width=120)
        try:
            join(task.study, storage=storage_url, sampler_seed=sampler_seed, console=console,
                 **task.join_arguments())
        except LaunchError as error:
            console.print(f"error: {mask(error.message)}", highlight=False)
            return error.exit_code, mask(error.message)
        except Exception as error:  # a bug or a broken node: the traceback in this actor's log, one line back
            traceback.print_exc()
            return RUN_ERROR, mask(f"{type(error).__name__}: {first_line(error)} (traceback in the worker's log)")
        return 0, ""

    def stop(self) -> None:
        stopping.request_stop()


def _output_file() -> str:
    """Where this process's output goes: Ray sends an actor's stdout to a file on its node."""
    try:
        return os.readlink("/proc/self/fd/1")
    except OSError:
        return "the node's Ray log directory (session_latest/logs)"


@dataclass(frozen=True)
class ActorShape:
    """How many actors and what each asks Ray for."""

    count: int
    gpus: float  # per actor: 1/K when K share a GPU; 0 on a cluster without GPUs
    cpus: float

    @property
    def describe(self) -> str:
        each = f"{self.gpus:g} GPU" if self.gpus else f"{self.cpus:g} CPU"
        return f"{self.count} worker(s) of {each} each"


def plan(workers: int | None, per_gpu: int, patience: float = 30.0) -> ActorShape:
    """One actor per GPU of the cluster (K per GPU with `--workers-per-gpu K`), or `workers` of
    them; on a cluster without GPUs, `workers` CPU actors (default 1) with an equal share of
    the CPUs each (as much as one node holds). Refuses more than the cluster has, which Ray
    would otherwise leave waiting for ever, and waits up to `patience` seconds for what another
    run is still giving back."""
    import ray

    total = ray.cluster_resources()
    gpus, cpus = int(total.get("GPU", 0)), int(total.get("CPU", 0))
    if gpus:
        shape = ActorShape(workers or gpus * per_gpu, 1 / per_gpu, 1)
        if shape.count * shape.gpus > gpus + 1e-9:
            raise LaunchError(f"{shape.describe} need {shape.count * shape.gpus:g} GPUs; the Ray cluster has "
                              f"{gpus} (fewer --workers, or more --workers-per-gpu)", USAGE_ERROR)
    else:  # CPU actors share the cores as pool workers do, each within one node
        count = workers or 1
        largest_node = max(int(node["Resources"].get("CPU", 0)) for node in ray.nodes() if node.get("Alive"))
        shape = ActorShape(count, 0, max(1, min(cpus // count, largest_node)))
    if shape.count * shape.cpus > cpus:
        raise LaunchError(f"{shape.describe} need {shape.count * shape.cpus:g} CPUs; the Ray cluster has {cpus}",
                          USAGE_ERROR)
    deadline = time.monotonic() + patience
    while not _free_for(shape) and time.monotonic() < deadline and not stopping.stop_requested():
        stopping.pause(0.5)
    if not _free_for(shape):
        raise LaunchError(f"{shape.describe} do not fit in what the Ray cluster has free now "
                          f"({_describe_free()}): other jobs hold the rest", RUN_ERROR)
    return shape


def _free_for(shape: ActorShape) -> bool:
    import ray

    free = ray.available_resources()
    return (shape.count * shape.gpus <= free.get("GPU", 0) + 1e-9
            and shape.count * shape.cpus <= free.get("CPU", 0) + 1e-9)


def _describe_free() -> str:
    import ray

    free = ray.available_resources()
    return f"{free.get('GPU', 0):g} GPUs, {free.get('CPU', 0):g} CPUs"


def check_shared_storage(url: str, address: str) -> None:
    """An SQLite file is reachable from this machine only: refuse it on a cluster of several nodes,
    or one this machine is not part of (Ray Client)."""
    import ray

    if not url.startswith("sqlite"):
        return
    nodes = [node for node in ray.nodes() if node.get("Alive")]
    if len(nodes) > 1 or address.startswith("ray://"):
        where = f"has {len(nodes)} nodes" if len(nodes) > 1 else "is reached through Ray Client"
        raise LaunchError(f"the Ray cluster {where}, and an SQLite file is reachable from this machine only: "
                          "give --storage a PostgreSQL URL every node can reach", USAGE_ERROR)


class RayWorkers:
    """The actors of one run (the launcher's `Workers`): started, watched, restarted, stopped."""

    def __init__(self, shape: ActorShape, task: WorkerTask, storage_url: str, join: Callable[..., object]) -> None:
        self.shape = shape
        self.join = join  # what each actor runs: the launcher's `join`, which this module cannot import
        self.task = task
        self.storage_url = storage_url
        self.actors: list[Any] = []
        self.calls: list[Any] = []  # each actor's `work` in progress (None once it returned)
        self.results: list[tuple[int, str] | None] = []
        self.placements: list[Placement | None] = []
        self.seen: set[str] = set()  # every identity any actor had, restarts included
        self.died: set[str] = set()  # identities of actors that died, not yet handed to `lost`
        self.restarts: list[int] = []
        self.seed = 0
        self.closed = False

    def start(self, seed: int) -> None:
        import ray

        self.seed = seed
        actor_class = ray.remote(StudyWorker)
        threads = int(self.shape.cpus) if not self.shape.gpus else None
        for _ in range(self.shape.count):
            if stopping.stop_requested():
                return
            self.actors.append(actor_class.options(
                num_gpus=self.shape.gpus, num_cpus=self.shape.cpus, max_restarts=MAX_RESTARTS,
                max_task_retries=0, max_concurrency=2,
            ).remote(threads))
            self.placements.append(None)
            self.restarts.append(0)
            self.results.append(None)
            self.calls.append(None)
        for index in range(len(self.actors)):
            self._start_work(index)

    def _start_work(self, index: int) -> None:
        """Ask actor `index` where it is (it may be a restarted process) and set it to work."""
        import ray
        from ray.exceptions import RayError

        actor = self.actors[index]
        asked, since = actor.where.remote(), time.monotonic()
        while not ray.wait([asked], timeout=0.5)[0]:  # a new actor's process is starting
            if stopping.stop_requested():
                return
            if since and time.monotonic() - since > PLACEMENT_PATIENCE_SECONDS:
                print(f"note: waiting for Ray to place worker {index} (a node lost, or the cluster short of "
                      "resources?)", file=sys.stderr)
                since = 0.0
        try:
            place = self.placements[index] = ray.get(asked)
        except RayError as error:
            self.results[index] = (RUN_ERROR, f"worker {index} could not start: {first_line(error)}")
            return
        self.seen.add(place.identity)
        sampler_seed = self.seed + index + len(self.actors) * self.restarts[index]
        self.calls[index] = actor.work.remote(self.join, self.task, self.storage_url, sampler_seed, os.getcwd())

    def describe(self) -> list[str]:
        lines = [f"Ray: {self.shape.describe}; logs are on each node, in the file named below"]
        for index, place in enumerate(self.placements):
            if place is not None:
                lines.append(f"  worker {index}: node {place.node} ({place.host}), "
                             f"{'GPU ' + place.gpus if place.gpus else 'CPU'}, pid {place.pid}, log {place.log}")
        return lines

    def running(self) -> bool:
        """Collect the actors that returned; set to work again those that died and Ray restarted,
        noting the dead ones for `lost` (their trials are released now, not once their heartbeat
        goes stale)."""
        import ray
        from ray.exceptions import RayActorError, RayError

        for index, call in enumerate(self.calls):
            if call is None or not ray.wait([call], timeout=0)[0]:
                continue
            self.calls[index] = None
            try:
                self.results[index] = ray.get(call)
            except RayActorError as error:
                place = self.placements[index]
                if place is not None:
                    self.died.add(place.identity)
                if self.restarts[index] >= MAX_RESTARTS:
                    self.results[index] = (RUN_ERROR, f"worker {index} died {MAX_RESTARTS + 1} times; the "
                                                      f"last: {first_line(error)}")
                    continue
                self.restarts[index] += 1
                print(f"note: worker {index} died ({first_line(error)}); Ray restarts it, its trial is "
                      "queued again", file=sys.stderr)
                self._start_work(index)
            except RayError as error:
                self.results[index] = (RUN_ERROR, f"worker {index} failed: {first_line(error)}")
        return any(call is not None for call in self.calls)

    def state(self) -> str:
        working = sum(call is not None for call in self.calls)
        restarted = sum(self.restarts)
        return f"{working} of {len(self.calls)} actors at work" + (f", {restarted} restarted" if restarted else "")

    def lost(self) -> set[str]:
        died, self.died = self.died, set()
        return died

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Ask every actor to stop at a safe point (each hands back its trial), then kill them all;
        a second Ctrl-C skips the wait, never the kill."""
        import ray

        for actor, call in zip(self.actors, self.calls):
            if call is not None:
                actor.stop.remote()
        pending = [call for call in self.calls if call is not None]
        deadline = time.monotonic() + timeout
        try:
            while pending and time.monotonic() < deadline:
                pending = ray.wait(pending, num_returns=len(pending), timeout=0.5)[1]
        except KeyboardInterrupt:
            pass
        self.close()

    def close(self, timeout: float = STOP_SECONDS) -> None:
        """Kill every actor, restarts off, and wait until they are gone, so that no actor trains on
        (and holds its GPU) once the run is over, and trials are released after their actor ended."""
        import ray

        if self.closed:
            return
        self.closed = True
        from ray.exceptions import RayError

        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        alive, deadline = list(self.actors), time.monotonic() + timeout
        while alive and time.monotonic() < deadline:  # a kill takes effect a moment later
            pings = [actor.where.remote() for actor in alive]
            ray.wait(pings, num_returns=len(pings), timeout=max(0.1, deadline - time.monotonic()))
            answered = []
            for actor, ping in zip(alive, pings):
                try:
                    ray.get(ping, timeout=0)
                    answered.append(actor)
                except RayError:  # dead (or gone in some other way): not training any more
                    pass
            alive = answered
            if alive:
                time.sleep(0.2)

    def identities(self) -> set[str]:
        return set(self.seen)

    def failures(self) -> list[tuple[int, str]]:
        return [result for result in self.results if result and result[0]]


class RayEngine:
    """Workers as actors on the Ray cluster at the request's address (`local`: one started here)."""

    def __init__(self, request: EngineRequest) -> None:
        if request.gpus is not None:
            raise LaunchError("--gpus picks GPUs on this machine; with --ray, Ray places the workers on the "
                              "cluster's GPUs", USAGE_ERROR)
        self.address = request.address or LOCAL
        self.request = request

    def in_this_process(self) -> bool:
        return False

    def checkpoints(self, url: str, flag: str | None) -> Path:
        """The cluster's directory (shared by its nodes), not necessarily this machine's."""
        from hpsearch.store.urls import checkpoint_dir

        return checkpoint_dir(url, flag)

    @contextmanager
    def workers(self, run: RunContext) -> Iterator[RayWorkers]:
        """Connected to the cluster for as long as the actors run."""
        with connected(self.address):
            check_shared_storage(run.url, self.address)
            shape = plan(self.request.workers, self.request.workers_per_gpu)
            yield RayWorkers(shape, run.task, run.url, run.join)
