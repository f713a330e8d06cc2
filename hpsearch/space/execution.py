"""Execution settings: how a trial's training runs on the machine it is on (the Keras backend,
numeric precision, XLA, batches per compiled call). They change speed, not the network, so each run or worker may
choose its own. Declared once here for the study file, the command line and the trial."""

from __future__ import annotations

from typing import Any

BACKENDS = ("tensorflow", "jax", "torch")  # the Keras backends hpsearch trains on; TensorFlow by default
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")  # mixed: GPUs with tensor cores
# Each setting's type and default. `jit_compile` unset (None) is Keras's own choice per backend:
# JAX compiles every step with jax.jit, TensorFlow uses XLA on GPUs only, PyTorch runs eagerly.
# (False would make JAX run every step op by op, many times slower.)
EXECUTION_SETTINGS: dict[str, tuple[Any, Any]] = {
    "precision": (str, "float32"), "jit_compile": (bool | None, None), "steps_per_execution": (int, 1),
}
EXECUTION_DEFAULTS: dict[str, Any] = {name: default for name, (_, default) in EXECUTION_SETTINGS.items()}
