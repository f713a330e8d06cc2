"""The Keras backend a run will train on (`KERAS_BACKEND`, TensorFlow by default), checked
before Keras is imported: Keras would otherwise fail with a traceback from deep inside its import
when the backend is misspelled or not installed."""

from __future__ import annotations

import importlib.util
import os

from hpsearch.launch.errors import USAGE_ERROR, LaunchError

BACKEND_ENV = "KERAS_BACKEND"
DEFAULT_BACKEND = "tensorflow"
# Each backend hpsearch trains on, and what installs it.
INSTALLS = {"tensorflow": "pip install 'hpsearch'", "jax": "pip install 'hpsearch[jax]'",
            "torch": "pip install 'hpsearch[torch]'"}


def chosen_backend() -> str:
    """The backend `KERAS_BACKEND` names; LaunchError when it is none hpsearch trains on, or is
    not installed in this environment."""
    backend = os.environ.get(BACKEND_ENV, DEFAULT_BACKEND).strip().lower() or DEFAULT_BACKEND
    if backend not in INSTALLS:
        raise LaunchError(f"{BACKEND_ENV}={backend} is not a backend hpsearch trains on "
                          f"(choose {', '.join(INSTALLS)})", USAGE_ERROR)
    if importlib.util.find_spec(backend) is None:
        raise LaunchError(f"{BACKEND_ENV}={backend}, but {backend} is not installed here: "
                          f"{INSTALLS[backend]}", USAGE_ERROR)
    return backend
