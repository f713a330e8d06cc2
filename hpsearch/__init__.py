"""hpsearch: hyperparameter search for Keras CNNs, on Optuna storage shared by many workers."""

__version__ = "0.1.0"

import os

# TensorFlow prints C++ start-up chatter (CPU flags, missing CUDA) unless told before its import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Claim GPU memory as needed rather than all at once, so several workers can share one GPU.
os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")

from hpsearch.launch.launcher import LaunchError, join, load, run  # noqa: E402  (after the settings above)
from hpsearch.launch.winners import confirm, export  # noqa: E402

__all__ = ["LaunchError", "confirm", "export", "join", "load", "run"]
