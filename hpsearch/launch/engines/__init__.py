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
    if request.address is not None and chosen != "ray":
        raise LaunchError(f"--ray names a Ray cluster, for --engine ray, not --engine {chosen}", USAGE_ERROR)
    return ENGINES[chosen](request)
