"""Keras, imported with Python's cyclic garbage collector paused, and what it loaded then frozen.

Importing Keras loads its backend (TensorFlow, JAX or PyTorch): some 400,000 Python objects that
live as long as the process. While they are created, the collector's full passes walk the growing
heap again and again (about a second of CPU per process on TensorFlow); afterwards each full pass
(`keras.utils.clear_session(free_memory=True)` and Optuna's `gc_after_trial`, twice a trial) walks
them all again, about 0.2 s each. Paused for the import and frozen after it (`gc.freeze`), they
are never walked: a worker starts sooner and each trial costs less. Garbage made later is
collected as before. Every module of this package that uses Keras imports it from here, so that
whichever comes first imports it this way.
"""

from __future__ import annotations

import gc

_collecting = gc.isenabled()
gc.disable()
try:
    import keras
finally:
    if _collecting:
        gc.enable()
gc.freeze()

__all__ = ["keras"]
