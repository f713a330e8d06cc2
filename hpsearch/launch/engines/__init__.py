"""The engines a study's workers run on, by name (`hpsearch run --engine NAME`). A new engine is a
module in this package that builds an `Engine` from an `EngineRequest`, and its line in ENGINES."""

from __future__ import annotations

from collections.abc import Callable

from hpsearch.errors import USAGE_ERROR, LaunchError
from hpsearch.launch.engines.base import Engine, EngineRequest, RunContext, Workers, WorkerTask
from hpsearch.launch.engines.local import LocalEngine
from hpsearch.launch.engines.ray_cluster import RayEngine
from hpsearch.launch.engines.slurm import SlurmEngine

ENGINES: dict[str, Callable[[EngineRequest], Engine]] = {
    "local": LocalEngine,
    "ray": RayEngine,
    "slurm": SlurmEngine,
}
DEFAULT_ENGINE = "local"
# Flags that mean something to one engine only: request field -> (flag, what it does, engine).
ENGINE_FLAGS = {
    "address": ("--ray", "names a Ray cluster", "ray"),
    "sbatch": ("--sbatch", "passes options to sbatch", "slurm"),
}

__all__ = ["ENGINES", "Engine", "EngineRequest", "RunContext", "WorkerTask", "Workers", "engine_for"]


def engine_for(name: str | None, request: EngineRequest) -> Engine:
    """The engine `name` made for `request` (checked, nothing opened yet); without a name, `ray`
    when a Ray address is given, else `local`."""
    for flag, count in (("workers", request.workers), ("workers_per_gpu", request.workers_per_gpu)):
        if count is not None and count < 1:
            raise LaunchError(f"{flag} must be at least 1 (got {count})", USAGE_ERROR)
    chosen = name or ("ray" if request.address is not None else DEFAULT_ENGINE)
    if chosen not in ENGINES:
        raise LaunchError(f"no engine named {chosen!r}: choose {', '.join(ENGINES)}", USAGE_ERROR)
    for field, (flag, what, engine) in ENGINE_FLAGS.items():
        if getattr(request, field) is not None and chosen != engine:
            raise LaunchError(f"{flag} {what}, for --engine {engine}, not --engine {chosen}", USAGE_ERROR)
    return ENGINES[chosen](request)
