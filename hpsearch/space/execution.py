"""Execution settings: how a trial's training runs on the machine it is on (the Keras backend,
numeric precision, XLA, batches per compiled call). They change speed, not the network, so each run or worker may
choose its own. Declared once here for the study file, the command line and the trial."""

from __future__ import annotations

from typing import Any

BACKENDS = ("tensorflow", "jax", "torch")  # the Keras backends hpsearch trains on; TensorFlow by default
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")  # mixed: GPUs with tensor cores
EXECUTION_DEFAULTS: dict[str, Any] = {"precision": "float32", "jit_compile": False, "steps_per_execution": 1}
