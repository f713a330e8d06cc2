"""The Keras backend a run trains on, settled and checked before Keras is imported: `--backend`,
else `KERAS_BACKEND`, else the study's `[training] backend`, else TensorFlow. Keras would
otherwise fail with a traceback from deep inside its import when the backend is misspelled or not
installed, and it reads the backend once per process, so it must be set before the first import."""

from __future__ import annotations

import importlib.util
import os
import sys

from hpsearch.errors import USAGE_ERROR, LaunchError
from hpsearch.space.execution import BACKENDS

BACKEND_ENV = "KERAS_BACKEND"
DEFAULT_BACKEND = BACKENDS[0]
# What installs each backend hpsearch trains on.
INSTALLS = {"tensorflow": "pip install 'hpsearch'", "jax": "pip install 'hpsearch[jax]'",
            "torch": "pip install 'hpsearch[torch]'"}


def stated_backend(flag: str | None = None) -> str | None:
    """The backend this command was told, `--backend` before `KERAS_BACKEND`; None when neither
    says one (the study's own, else TensorFlow). LaunchError when it is no backend hpsearch trains
    on, or is not installed here."""
    named = flag if flag is not None else os.environ.get(BACKEND_ENV, "").strip().lower()
    if not named:
        return None
    said = f"--backend {named}" if flag is not None else f"{BACKEND_ENV}={named}"
    if named not in BACKENDS:
        raise LaunchError(f"{said} is not a backend hpsearch trains on (choose {', '.join(BACKENDS)})", USAGE_ERROR)
    return _installed(named, said)


def use_backend(backend: str | None) -> str:
    """Make `backend` (None: TensorFlow) the one Keras loads in this process and in the worker
    processes it starts; returns it. LaunchError when it is not installed, or when Keras is already
    loaded here on another backend (Keras cannot switch within a process)."""
    backend = _installed(backend or DEFAULT_BACKEND, f"the study's backend {backend}")
    keras = sys.modules.get("keras")
    loaded = keras.backend.backend() if keras is not None and hasattr(keras, "backend") else None
    if loaded is not None and loaded != backend:
        raise LaunchError(f"Keras is already loaded on {loaded} in this process, and it cannot switch to {backend}: "
                          f"set {BACKEND_ENV}={backend} before importing keras, or run hpsearch in a process "
                          "of its own", USAGE_ERROR)
    os.environ[BACKEND_ENV] = backend
    return backend


def _installed(backend: str, said: str) -> str:
    if importlib.util.find_spec(backend) is None:
        raise LaunchError(f"{said}, but {backend} is not installed here: {INSTALLS[backend]}", USAGE_ERROR)
    return backend
