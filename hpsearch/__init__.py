"""hpsearch: hyperparameter search for Keras CNNs, on Optuna storage shared by many workers."""

__version__ = "0.1.0"

import os

# TensorFlow prints C++ start-up chatter (CPU flags, missing CUDA) unless told before its import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from hpsearch.launch.engines.base import GPU_SHARING  # noqa: E402  (imports no backend)

for _name, _value in GPU_SHARING.items():  # GPU memory as needed, so several workers share one GPU
    os.environ.setdefault(_name, _value)

from hpsearch.launch.launcher import LaunchError, join, load, run  # noqa: E402  (after the settings above)
from hpsearch.launch.winners import confirm, export  # noqa: E402

__all__ = ["LaunchError", "confirm", "export", "join", "load", "run"]
