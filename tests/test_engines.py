"""Engines: the launcher runs a study's workers on the engine the registry names, so a new engine
is its class plus its line in ENGINES; a name no engine has, or flags for another engine, are
refused before anything is opened."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import hpsearch
from hpsearch.launch.engines import ENGINES, EngineRequest
from hpsearch.launch.engines.local import LocalEngine
from hpsearch.records import WORKER_ATTR
from hpsearch.space.study_files import load_spec
from tests.helpers import run_cli


class TwoProcesses(LocalEngine):
    """What a new engine looks like to the launcher: this one always starts two worker processes."""

    def __init__(self, request: EngineRequest) -> None:
        super().__init__(EngineRequest(2, request.gpus, request.workers_per_gpu, request.address))


def test_a_new_engine_is_its_class_and_its_line_in_the_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(ENGINES, "two-processes", TwoProcesses)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # CPU workers, whatever the machine has
    monkeypatch.chdir(tmp_path)
    spec = load_spec("digits-quick").with_overrides(trials=3, epochs=1, subset=200)
    storage = f"sqlite:///{tmp_path}/engine.db"
    progress = hpsearch.run(spec, storage=storage, engine="two-processes")
    assert progress.done and progress.finished == 3
    trained_by = {trial.user_attrs[WORKER_ATTR] for trial in hpsearch.load("digits-quick", storage=storage).trials}
    assert trained_by and not any(worker.endswith(f":{os.getpid()}") for worker in trained_by)  # not in here


@pytest.mark.parametrize(("arguments", "message"), [
    ({"engine": "nowhere"}, "no engine named 'nowhere': choose local, ray, slurm"),
    ({"engine": "local", "ray": "auto"}, "--ray names a Ray cluster, for --engine ray, not --engine local"),
    ({"engine": "ray", "gpus": "0"}, "--gpus picks GPUs on this machine"),
    ({"workers_per_gpu": 0}, "workers_per_gpu must be at least 1"),
    ({"engine": "slurm", "gpus": "0"}, "on Slurm, --workers sets the tasks and SBATCH_GRES"),
    ({"sbatch": "--partition=gpu"}, "--sbatch passes options to sbatch, for --engine slurm, not --engine local"),
    ({"engine": "slurm", "sbatch": "--time=10 --array=0-3"}, "--sbatch cannot set --array: the slurm engine sets it"),
    ({"engine": "slurm", "sbatch": "-o%j.log"}, "--sbatch cannot set -o"),
    ({"engine": "slurm", "sbatch": "--arr=0-1"}, "--sbatch cannot set --array"),  # sbatch reads --arr as --array
    ({"engine": "slurm", "sbatch": "--comment='unclosed"}, "cannot be read as sbatch options"),
    ({"engine": "slurm", "sbatch": "gpu"}, "--sbatch takes sbatch's options (e.g. --partition=gpu), not 'gpu'"),
])
def test_engine_choices_are_refused_before_anything_is_opened(
    tmp_path: Path, arguments: dict[str, object], message: str
) -> None:
    database = tmp_path / "refused.db"
    with pytest.raises(hpsearch.LaunchError) as refused:
        hpsearch.run("digits-quick", storage=f"sqlite:///{database}", **arguments)  # type: ignore[arg-type]
    assert refused.value.exit_code == 2 and message in refused.value.message
    assert not database.exists()


def test_the_cli_offers_the_registered_engines(tmp_path: Path) -> None:
    result = run_cli("run", "digits-quick", "--engine", "nowhere", "--storage", f"sqlite:///{tmp_path}/c.db")
    assert result.returncode == 2 and "'local', 'ray', 'slurm'" in result.stderr and "Traceback" not in result.stderr
    result = run_cli("run", "digits-quick", "--engine", "local", "--ray", "auto", "--storage",
                     f"sqlite:///{tmp_path}/c.db")
    assert result.returncode == 2 and "for --engine ray, not --engine local" in result.stderr
    assert not (tmp_path / "c.db").exists()


def test_the_slurm_engine_needs_slurms_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without Slurm
    database = tmp_path / "none.db"
    with pytest.raises(hpsearch.LaunchError) as refused:
        hpsearch.run("digits-quick", storage=f"sqlite:///{database}", engine="slurm", workers=2)
    assert "needs Slurm's sbatch, squeue, scancel on PATH" in refused.value.message
    assert refused.value.exit_code == 2 and not database.exists()
