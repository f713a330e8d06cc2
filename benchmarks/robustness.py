"""Robustness under stop signals and kills, counted over many rounds with real processes.

    python -m benchmarks.robustness --rounds 10 --kill-at 1 5 9 --epochs 12

Two tables for BENCHMARKS.md:
- stop rounds: `hpsearch run` stopped by SIGINT or SIGTERM at seeded random moments (0-25 s after
  start: start-up, study creation, mid-epoch, between trials), one worker on SQLite and two worker
  processes on PostgreSQL. Trials left RUNNING, interrupted trials not queued again, processes
  outliving the run and tracebacks must all be 0.
- checkpoint resume: a worker SIGKILLed once its trial reported epoch k of N, the trial retried
  by a second worker: the epochs it resumed from, and the finished epochs it trained again.
"""

from __future__ import annotations

import argparse
import random
import signal
import tempfile
from pathlib import Path

from tests.interruptions import kill_and_retry, stop_run
from tests.postgres import PostgresServer

SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Start-up (Python, TensorFlow, the data) takes 5-15 s on 2 loaded cores: the moments span it and
# the first trials' training.
MAX_DELAY = 25.0


def stop_rounds(url: str, workers: int, rounds: int, seed: int, directory: Path) -> list[str]:
    """One table row: `rounds` runs stopped at seeded random moments."""
    chooser = random.Random(seed)
    outcomes = [
        stop_run(directory, url, workers, SIGNALS[index % 2], moment=None, delay=chooser.uniform(0, MAX_DELAY))
        for index in range(rounds)
    ]
    storage = url.split(":", 1)[0]
    return [
        storage, str(workers), str(rounds),
        str(sum(o.exit_code == 130 for o in outcomes)),
        str(sum(o.held_nothing for o in outcomes)),
        str(sum(o.interrupted for o in outcomes)),
        str(sum(o.running_left for o in outcomes)),
        str(sum(len(o.not_requeued) for o in outcomes)),
        str(sum(len(o.survivors) for o in outcomes)),
        str(sum("Traceback" in o.output or "Exception ignored" in o.output for o in outcomes)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="stop rounds per storage")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random moments")
    parser.add_argument("--epochs", type=int, default=12,
                        help="epochs of the checkpointed trial; leave a few after the last --kill-at, or "
                             "the trial may end between two polls")
    parser.add_argument("--kill-at", type=int, nargs="+", default=[1, 5, 9], help="epochs to SIGKILL after")
    args = parser.parse_args()

    with PostgresServer() as server, tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        rows = [
            stop_rounds(f"sqlite:///{directory}/stop.db", 1, args.rounds, args.seed, directory),
            stop_rounds(server.create_database("stop_rounds"), 2, args.rounds, args.seed + 1, directory),
        ]
        print("| storage | workers | rounds | exit 130 | killed before start-up | trials interrupted "
              "| left RUNNING | not queued again | processes left | tracebacks |")
        print("| --- " * 10 + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")

        print("\n| SIGKILL after epoch | of | epochs the killed attempt finished | retry resumed from epoch "
              "| finished epochs trained again | retry |")
        print("| --- " * 6 + "|")
        for kill_at in args.kill_at:
            database = server.create_database(f"resume_{kill_at}")
            outcome = kill_and_retry(directory, database, directory / "checkpoints", args.epochs, kill_at)
            print(f"| {kill_at} | {args.epochs} | {outcome.epochs_finished} "
                  f"| {outcome.retry.user_attrs.get('resumed_epochs', 0)} | {outcome.epochs_trained_again} "
                  f"| {outcome.retry.state.name.lower()} |")


if __name__ == "__main__":
    main()
