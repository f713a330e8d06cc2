"""Stop signals at many different moments never leave a trial RUNNING or lose one.

Each round starts a real `hpsearch run` (one worker in the process, or a pool of worker
processes) on SQLite or a real PostgreSQL, waits for a moment in its life (the study being
created, a trial being asked for, mid-epoch, between trials, or a seeded random delay), sends
SIGTERM or SIGINT, and checks: the run exits 130 (or was killed by the signal before it held
anything), nothing is left RUNNING, every interrupted trial is queued again with the same
parameters, no worker outlives the run, and no traceback is printed.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from hpsearch.lifecycle.retries import MAX_RETRIES
from tests.helpers import REPO, count, signals_at_default, start_cli, stored_trials, training_now, wait_until
from tests.interruptions import MOMENTS, StopOutcome, digits_study, stop_run

pytestmark = pytest.mark.timeout(600)
ROUNDS_SEED = 12  # the random moments are drawn from this seed, so a failure can be replayed


def _rounds(tmp_path: Path, url: str, workers: int, signals: list[signal.Signals]) -> None:
    """One round per moment, then three at seeded random delays; each on a fresh study."""
    chooser = random.Random(ROUNDS_SEED + workers)
    plans = [(moment, 0.0) for moment in MOMENTS] + [(None, chooser.uniform(0, 8)) for _ in range(3)]
    for index, (moment, delay) in enumerate(plans):
        _check(stop_run(tmp_path, url, workers, signals[index % len(signals)], moment, delay))


def _check(round_: StopOutcome) -> None:
    assert round_.exit_code == 130 or round_.held_nothing, f"{round_.what}: exit {round_.exit_code}\n{round_.output}"
    assert "Traceback" not in round_.output and "Exception ignored" not in round_.output, round_.output
    assert not round_.survivors, f"{round_.what}: processes outlived the run"
    assert round_.running_left == 0, f"{round_.what}: a trial left RUNNING\n{round_.output}"
    assert not round_.other_failures, f"{round_.what}: {round_.other_failures}"
    assert not round_.not_requeued, f"{round_.what}: interrupted trials {round_.not_requeued} not queued again"


def test_one_worker_stopped_at_any_moment_on_sqlite(tmp_path: Path) -> None:
    _rounds(tmp_path, f"sqlite:///{tmp_path}/stop.db", 1, [signal.SIGINT, signal.SIGTERM])


def test_a_worker_on_jax_stopped_mid_epoch_queues_its_trial_again(tmp_path: Path) -> None:
    round_ = stop_run(tmp_path, f"sqlite:///{tmp_path}/stop.db", 1, signal.SIGINT, "mid-epoch", backend="jax")
    _check(round_)
    assert round_.exit_code == 130 and round_.interrupted == 1, round_.output


def test_worker_pool_stopped_at_any_moment_on_postgres(tmp_path: Path, database: str) -> None:
    _rounds(tmp_path, database, 2, [signal.SIGTERM, signal.SIGINT])


def test_signal_tests_pass_when_the_suite_is_started_with_sigint_ignored(tmp_path: Path) -> None:
    """A suite run from a shell's background job starts with SIGINT ignored, and so would every
    process it starts; the tests that send Ctrl-C reset it in their children (`helpers.start_cli`),
    so they test hpsearch rather than how the suite was started. Here one of them runs in a pytest
    that ignores SIGINT, as `nohup pytest &` would start it."""
    ignoring = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "inner"),
         "tests/test_confirm.py::test_ctrl_c_during_a_confirm_round_queues_the_winner_again"],
        cwd=REPO, capture_output=True, text=True, timeout=500,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert ignoring.returncode == 0, ignoring.stdout[-3000:] + ignoring.stderr[-3000:]


# One network, epochs of about half a second (digits padded to 32x32): signals land mid-training.
ONE_NETWORK = "base_filters = 8\nbatch_size = 32\n"
SLOW_EPOCHS = "pad_to = 32\n"


def _interrupt(study: Path, url: str, command: str, log: Path, gap: float | None = None,
               sent: signal.Signals = signal.SIGINT) -> tuple[int, str]:
    """Start `hpsearch COMMAND STUDY`, Ctrl-C it (or send `sent`) once a trial trains (twice,
    `gap` seconds apart, when given), and return its exit code and output."""
    process = start_cli(command, str(study), "--storage", url, log=log)
    try:
        wait_until(lambda: training_now(url, study.stem, 1), 180, "a trial to train")
        process.send_signal(sent)
        if gap is not None:
            time.sleep(gap)
            process.send_signal(sent)
        code = process.wait(timeout=120)
    finally:
        process.kill()
    return code, log.read_text(errors="replace")


def _assert_handed_back(url: str, study: Path, output: str) -> None:
    """No traceback, nothing left RUNNING, and every failed trial queued again."""
    assert "Traceback" not in output and "Exception ignored" not in output, output
    trials = stored_trials(url, study.stem)
    assert count(trials, TrialState.RUNNING) == 0
    failed = [t.number for t in trials if t.state == TrialState.FAIL]
    queued = [t.system_attrs.get("failed_trial") for t in trials if t.state == TrialState.WAITING]
    assert failed and sorted(queued) == failed, [(t.number, t.state.name, t.system_attrs) for t in trials]


@pytest.mark.parametrize("gap", [0.2, 0.6, 1.5])
def test_a_second_ctrl_c_still_queues_the_trial_again(tmp_path: Path, gap: float) -> None:
    """The second Ctrl-C means "now": wherever it lands (before the trial is failed, between its
    failure and its retry being queued, in a finalizer), the trial is queued again as promised."""
    url = f"sqlite:///{tmp_path}/twice.db"
    study = digits_study(tmp_path, "twice", epochs=25, trials=2, space=ONE_NETWORK, data=SLOW_EPOCHS)
    code, output = _interrupt(study, url, "run", tmp_path / "run.log", gap)
    # A second Ctrl-C after the work is handed back ends the exiting process by SIGINT itself,
    # which a shell reports as 130 too.
    assert code in (130, -signal.SIGINT), output
    _assert_handed_back(url, study, output)


def test_a_launcher_lost_again_and_again_is_still_a_stop_at_a_safe_point(tmp_path: Path) -> None:
    """A worker hears of its launcher's death once per launcher thread that exits (the kernel's
    parent-death signal follows each handover), and a second SIGTERM would mean "now": it once
    left a trial RUNNING, cut off inside Optuna's write. The launcher's death is its own signal,
    which only ever asks for a stop, however often it comes."""
    from hpsearch.lifecycle.stopping import LAUNCHER_GONE

    url = f"sqlite:///{tmp_path}/orphan.db"
    study = digits_study(tmp_path, "orphan", epochs=25, trials=2, space=ONE_NETWORK, data=SLOW_EPOCHS)
    code, output = _interrupt(study, url, "run", tmp_path / "run.log", 0.05, sent=LAUNCHER_GONE)
    assert code == 130, output
    _assert_handed_back(url, study, output)


def test_the_launchers_death_signalled_again_and_again_never_kills_a_process_on_its_way_out() -> None:
    """Python puts its handled signals back to their default action as it shuts down; a
    `LAUNCHER_GONE` then (the test above saw it once, exit -1 for 130) would kill a process that
    was exiting with its stop. Here it is sent every half millisecond until the process is gone."""
    from hpsearch.lifecycle.stopping import LAUNCHER_GONE

    exiting = "import sys, time\nfrom hpsearch.lifecycle import stopping\nstopping.stop_gracefully()\nprint('ready', flush=True)\ntime.sleep(0.3)\nsys.exit(130)\n"
    process = subprocess.Popen([sys.executable, "-c", exiting], cwd=REPO, stdout=subprocess.PIPE,
                               preexec_fn=signals_at_default)
    assert process.stdout is not None and process.stdout.readline() == b"ready\n"
    while process.poll() is None:
        process.send_signal(LAUNCHER_GONE)
        time.sleep(0.0005)
    assert process.returncode == 130


def test_a_trial_stopped_in_every_resume_is_never_dropped(tmp_path: Path) -> None:
    """Deliberate stops are not crashes: a trial stopped by Ctrl-C in one run and in every resume
    after it (more times than crashes are retried) is still queued, and the study keeps it."""
    url = f"sqlite:///{tmp_path}/again.db"
    study = digits_study(tmp_path, "again", epochs=60, trials=1, space=ONE_NETWORK, data=SLOW_EPOCHS)
    rounds = MAX_RETRIES + 2
    for round_ in range(rounds):
        code, output = _interrupt(study, url, "resume" if round_ else "run", tmp_path / f"round-{round_}.log")
        assert code == 130, output
    trials = stored_trials(url, study.stem)
    assert [t.state for t in trials] == [TrialState.FAIL] * rounds + [TrialState.WAITING]
    assert trials[-1].params == trials[0].params and trials[-1].system_attrs["failed_trial"] == 0


def test_a_backend_failing_while_its_trial_is_stopped_hands_the_trial_back(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen once on JAX in a loaded suite run: a Ctrl-C mid-epoch, then "Buffer has been deleted
    or donated" from inside `fit`. The trial was being stopped, so it ends interrupted (queued
    again, its checkpoint kept), as any stopped trial, not failed for good with its work deleted.
    Here a real training's second epoch asks for the stop and then fails the way JAX did."""
    import optuna

    from hpsearch.data.sources import load_splits
    from hpsearch.lifecycle import stopping
    from hpsearch.records import INTERRUPTED, TrialRecord
    from hpsearch.space.study_files import load_spec
    from hpsearch.train import objective

    monkeypatch.setattr(stopping, "_received", None)  # and back to no stop afterwards
    epoch_end = objective.EpochPruning.on_epoch_end

    def stopped_then_failing(self: objective.EpochPruning, epoch: int, logs: dict | None = None) -> None:
        if epoch == 1:
            stopping.request_stop()
            raise ValueError("INVALID_ARGUMENT: Invalid buffer passed to Execute(): Buffer has been deleted or donated.")
        epoch_end(self, epoch, logs)

    monkeypatch.setattr(objective.EpochPruning, "on_epoch_end", stopped_then_failing)
    spec = load_spec("digits-quick").with_overrides(epochs=3, trials=1)
    splits = load_splits(spec.data.dataset, seed=0, **spec.data.split_settings())
    study = optuna.create_study(direction="maximize")
    with pytest.raises(stopping.StopRequested, match="Buffer has been deleted or donated"):
        study.optimize(objective.Objective(spec, splits, tmp_path / "checkpoints"), n_trials=1)

    trial = study.trials[0]
    assert trial.state == TrialState.FAIL and TrialRecord(trial).recorded_end == INTERRUPTED
    assert TrialRecord(trial).epochs_done == 2
    assert list((tmp_path / "checkpoints").rglob("*")), "the checkpoint of its last whole epoch is kept"
