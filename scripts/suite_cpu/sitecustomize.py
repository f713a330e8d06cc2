"""Loaded by every Python process `scripts/suite-cpu` starts (it is first on their PYTHONPATH):
at exit, the process appends one JSON line to $SUITE_CPU_LOG with its CPU seconds, its command,
the test that started it and whether it loaded Keras. A process killed by a signal writes nothing."""

import atexit
import json
import os
import resource
import sys


def _record() -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    line = {"pid": os.getpid(), "argv": sys.argv[:4],
            "test": os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0],
            "keras": sys.modules.get("keras") is not None,
            "cpu": round(usage.ru_utime + usage.ru_stime, 2)}
    with open(os.environ["SUITE_CPU_LOG"], "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


if os.environ.get("SUITE_CPU_LOG"):
    atexit.register(_record)
