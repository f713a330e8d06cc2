"""`hpsearch run --ray`: the study's workers as actors on a real local Ray cluster.

The module starts its own cluster with `ray start --head --num-cpus 4 --num-gpus 2`: two logical
GPUs on a machine without any, so Ray's placement (and the CUDA_VISIBLE_DEVICES it gives each
actor) is real while TensorFlow trains on the CPU. The studies live in the suite's PostgreSQL.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from optuna.trial import TrialState

from hpsearch.cli import _ray_alone_means_local
from hpsearch.records import BACKEND_ATTR, RETRY_OF_ATTR, WORKER_ATTR
from tests.helpers import (
    FINISHED,
    alive,
    count,
    run_cli,
    start_cli,
    stored_trials,
    training_now,
    wait_until,
)
from tests.interruptions import digits_study
from tests.postgres import free_port
from tests.ray_head import RayHead

# One Ray cluster at a time on this machine: with pytest-xdist the module runs on one worker.
pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group("ray")]
PLACED = re.compile(r"worker (\d+): node \S+ \((\S+)\), (GPU \S+|CPU), pid (\d+)")


@pytest.fixture(scope="module")
def ray_head() -> Iterator[RayHead]:
    """A local Ray head with 4 CPUs and 2 logical GPUs, as a user starts one. Its actors keep
    hpsearch's default heartbeats: a dead actor's trial is released by the driver, not by staleness."""
    head = RayHead(cpus=4, gpus=2)
    try:
        yield head
    finally:
        head.close()


@pytest.fixture
def ray_address(ray_head: RayHead) -> str:
    return ray_head.address


def _study(directory: Path, epochs: int, trials: int) -> Path:
    return digits_study(directory, "ray", epochs, trials, space="base_filters = { choices = [4, 8] }\n")


def _placements(output: str) -> dict[int, tuple[str, str, int]]:
    """worker index -> (host, where: `GPU 0` or `CPU`, pid), as the launcher printed them."""
    return {int(m[1]): (m[2], m[3], int(m[4])) for m in PLACED.finditer(output)}


def test_packed_actors_share_each_logical_gpu_and_end_at_the_target(
    tmp_path: Path, database: str, ray_address: str
) -> None:
    path = _study(tmp_path, epochs=2, trials=6)
    result = run_cli("run", str(path), "--ray", ray_address, "--workers-per-gpu", "2", "--storage", database)
    assert result.returncode == 0, result.stdout + result.stderr
    placed = _placements(result.stdout)
    assert sorted(where for _, where, _ in placed.values()) == ["GPU 0", "GPU 0", "GPU 1", "GPU 1"]
    trials = stored_trials(database, path.stem)
    assert count(trials, *FINISHED) == 6
    # An actor that asked for a trial as another finished the sixth steps back ("not needed"), as
    # in the process pool (test_workers.py); nothing is left running or queued.
    assert count(trials, TrialState.RUNNING, TrialState.WAITING) == 0
    assert all(t.user_attrs["end_reason"].startswith("not needed") for t in trials if t.state == TrialState.FAIL)
    actors = {f"{host}:{pid}" for host, _, pid in placed.values()}
    assert {t.user_attrs[WORKER_ATTR] for t in trials} <= actors  # the actors trained them, nobody else
    assert "Done: 6 of 6 trials finished" in result.stdout


def test_a_killed_actor_comes_back_and_its_trial_is_retried(
    tmp_path: Path, database: str, ray_address: str
) -> None:
    path = _study(tmp_path, epochs=30, trials=4)  # trials of several seconds: the victim is still training
    log = tmp_path / "run.log"
    driver = start_cli("run", str(path), "--ray", ray_address, "--storage", database, log=log)
    wait_until(lambda: len(_placements(log.read_text())) == 2, 120, "both actors to be placed")
    placed = _placements(log.read_text())
    wait_until(lambda: training_now(database, path.stem, 1), 180, "an actor to train a trial")
    victim = min((t for t in stored_trials(database, path.stem) if t.state == TrialState.RUNNING),
                 key=lambda t: len(t.intermediate_values))  # the one furthest from its end
    host, pid = victim.user_attrs[WORKER_ATTR].split(":")
    assert (host, int(pid)) in {(h, p) for h, _, p in placed.values()}
    os.kill(int(pid), signal.SIGKILL)
    assert driver.wait(timeout=240) == 0, log.read_text()
    output = log.read_text()
    assert "died" in output and "Ray restarts it" in output
    trials = stored_trials(database, path.stem)
    killed = next(t for t in trials if t.number == victim.number)
    assert killed.state == TrialState.FAIL
    assert any(t.user_attrs.get(RETRY_OF_ATTR) == victim.number and t.state in FINISHED for t in trials)
    assert count(trials, *FINISHED) == 4
    assert count(trials, TrialState.RUNNING, TrialState.WAITING) == 0


def test_ctrl_c_on_the_driver_leaves_no_actor_behind(tmp_path: Path, database: str, ray_address: str) -> None:
    path = _study(tmp_path, epochs=20, trials=8)
    log = tmp_path / "run.log"
    driver = start_cli("run", str(path), "--ray", ray_address, "--storage", database, log=log)
    wait_until(lambda: training_now(database, path.stem, 2), 180, "both actors to train")
    pids = [pid for _, _, pid in _placements(log.read_text()).values()]
    driver.send_signal(signal.SIGINT)
    assert driver.wait(timeout=120) == 130, log.read_text()
    wait_until(lambda: not any(alive(pid) for pid in pids), 60, "the actors' processes to end")
    trials = stored_trials(database, path.stem)
    assert count(trials, TrialState.RUNNING) == 0
    # Every trial the stop interrupted (one per actor that was training then) is queued again.
    interrupted = {t.number for t in trials if t.state == TrialState.FAIL}
    queued = {t.user_attrs.get(RETRY_OF_ATTR) for t in trials if t.state == TrialState.WAITING}
    assert interrupted and queued == interrupted, (interrupted, queued)


def test_a_driver_off_the_cluster_connects_through_ray_client(
    tmp_path: Path, database: str, ray_head: RayHead
) -> None:
    path = _study(tmp_path, epochs=1, trials=2)
    result = run_cli("run", str(path), "--ray", ray_head.client_address, "--storage", database)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(_placements(result.stdout)) == 2 and "Done: 2 of 2 trials finished" in result.stdout


def test_actors_train_on_the_backend_the_run_names(tmp_path: Path, database: str, ray_address: str) -> None:
    path = _study(tmp_path, epochs=1, trials=2)
    result = run_cli("run", str(path), "--ray", ray_address, "--backend", "torch", "--storage", database)
    assert result.returncode == 0 and ", Keras on torch" in result.stdout, result.stdout + result.stderr
    trained = [t for t in stored_trials(database, path.stem) if t.state in FINISHED]
    assert len(trained) == 2 and {t.user_attrs[BACKEND_ATTR] for t in trained} == {"torch"}


def test_bad_ray_requests_get_one_sentence(tmp_path: Path, ray_address: str) -> None:
    path = _study(tmp_path, epochs=1, trials=1)
    storage = f"sqlite:///{tmp_path}/ray.db"
    for args, code, words in (
        (["--ray", ray_address, "--workers", "9"], 2, "need 9 GPUs; the Ray cluster has 2 "),
        (["--ray", ray_address, "--gpus", "0"], 2, "with --ray, Ray places the workers"),
        (["--ray", f"127.0.0.1:{free_port()}"], 1, "no Ray cluster answers at 127.0.0.1:"),
    ):
        result = run_cli("run", str(path), *args, "--storage", storage, timeout=120)
        assert result.returncode == code, result.stdout + result.stderr
        assert words in result.stderr and "Traceback" not in result.stderr


def test_ray_alone_means_a_cluster_started_here() -> None:
    assert _ray_alone_means_local(["run", "s", "--ray"]) == ["run", "s", "--ray", "local"]
    assert _ray_alone_means_local(["run", "--ray", "s"]) == ["run", "--ray", "local", "s"]
    assert _ray_alone_means_local(["run", "s", "--ray", "--trials", "2"])[3] == "local"
    for address in ("auto", "10.0.0.2:6379", "ray://head:10001"):
        assert _ray_alone_means_local(["run", "s", "--ray", address]) == ["run", "s", "--ray", address]
