"""Keep TensorFlow's native start-up chatter out of the terminal and the worker logs.

TensorFlow's C++ side writes about seven lines to file descriptor 2 on every start ("All log
messages before absl::InitializeLog()", oneDNN and CPU-feature notes, "failed call to cuInit" on
machines without a GPU), before TF_CPP_MIN_LOG_LEVEL is read, so no environment variable hides
them. Here descriptor 2 becomes a pipe whose lines are passed on unless they are that known
noise; Python's own stderr (hpsearch's messages, warnings, tracebacks) writes straight to the
real descriptor. Warnings and errors from the C++ side still come through. `hpsearch --verbose`
(or HPSEARCH_VERBOSE=1) leaves stderr alone.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading

VERBOSE_ENV = "HPSEARCH_VERBOSE"
NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\)"
    rb"|I\d{4} "  # absl INFO lines: oneDNN, CUDA stubs, CPU features
    rb"|To enable the following instructions"
    rb"|E\d{4} .*(failed call to cuInit|Unable to register cu\w+ factory))"
)
_filtering = False


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def filter_native_stderr() -> None:
    """Drop the known start-up noise from what native code writes to stderr (once per process)."""
    global _filtering
    if _filtering or verbose():
        return
    _filtering = True
    sys.stderr.flush()
    real = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    sys.stderr = open(real, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False)
    forwarder = threading.Thread(target=_forward, args=(read_end, real), daemon=True, name="native-stderr")
    forwarder.start()

    def drain() -> None:
        """At exit, close the pipe's last write end and let the forwarder pass on what is left."""
        os.dup2(real, 2)
        forwarder.join(timeout=2)

    atexit.register(drain)


def _forward(read_end: int, real: int) -> None:
    with open(read_end, "rb") as pipe:
        for line in pipe:
            if not NOISE.match(line):
                os.write(real, line)
