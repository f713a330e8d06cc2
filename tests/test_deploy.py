"""The cluster deployment files under deploy/ without a cluster and without Slurm.

Every Kubernetes manifest is validated against the Kubernetes JSON schemas shipped by
`kubernetes-validate` (strict: an unknown or misspelt field fails); the KubeRay custom resource,
which those schemas do not cover, is checked by hand. The Slurm script is parsed by bash and run
for real up to the point where it needs Slurm or a GPU.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.helpers import REPO

DEPLOY = REPO / "deploy"
KUBE = DEPLOY / "kubernetes"
KUSTOMIZATION = KUBE / "kustomization.yaml"
RAY = KUBE / "ray" / "raycluster.yaml"
SBATCH = DEPLOY / "slurm" / "hpsearch-workers.sbatch"
# The oldest Kubernetes the manifests support: the Job's backoffLimitPerIndex needs 1.29.
KUBERNETES_VERSION = "1.29"
MANIFESTS = sorted(path for path in KUBE.glob("*.yaml") if path != KUSTOMIZATION)
SECRET = "hpsearch-postgres"
PLACEHOLDER = "change-me"


def _documents(path: Path) -> list[dict[str, Any]]:
    documents = [document for document in yaml.safe_load_all(path.read_text(encoding="utf-8")) if document]
    assert documents, f"{path} holds no YAML document"
    return documents


def _only(kind: str) -> dict[str, Any]:
    """The one document of `kind` among the applied manifests."""
    found = [doc for path in MANIFESTS for doc in _documents(path) if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def _containers(node: Any) -> Iterator[dict[str, Any]]:
    """Every container spec anywhere in a document (pod templates nest at different depths)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers"):
                yield from value
            else:
                yield from _containers(value)
    elif isinstance(node, list):
        for item in node:
            yield from _containers(item)


def _worker() -> dict[str, Any]:
    (container,) = _only("Job")["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_manifest_is_valid_kubernetes(path: Path) -> None:
    for document in _documents(path):
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_every_yaml_file_is_checked() -> None:
    """A manifest added elsewhere under deploy/kubernetes would escape the schema check above."""
    every = set(KUBE.rglob("*.yaml")) | set(KUBE.rglob("*.yml"))
    assert every == {*MANIFESTS, KUSTOMIZATION, RAY}


def test_kustomization_applies_every_manifest_but_the_example_secret() -> None:
    """`kubectl apply -k` must create everything, yet never overwrite the user's real Secret."""
    kustomization = _documents(KUSTOMIZATION)[0]
    applied = sorted(path.name for path in MANIFESTS if not path.name.endswith(".example.yaml"))
    assert sorted(kustomization["resources"]) == applied
    assert [image["name"] for image in kustomization["images"]] == [_worker()["image"]]


def test_worker_job_is_indexed_on_gpus() -> None:
    spec = _only("Job")["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["parallelism"] == spec["completions"] >= 1  # every worker runs until the study is done
    assert spec["backoffLimitPerIndex"] >= 1
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["terminationGracePeriodSeconds"] >= 60
    worker = _worker()
    assert worker["command"][:2] == ["hpsearch", "worker"]
    assert str(worker["resources"]["limits"]["nvidia.com/gpu"]) == "1"


def test_worker_environment_comes_from_the_secret_in_order() -> None:
    """`$(VAR)` expands only variables defined earlier in the list; the password only from the Secret."""
    worker = _worker()
    names = [entry["name"] for entry in worker["env"]]
    env = {entry["name"]: entry for entry in worker["env"]}
    storage = env["HPSEARCH_STORAGE"]["value"]
    assert storage.startswith("postgresql://") and "@postgres:5432/" in storage
    used = re.findall(r"\$\((\w+)\)", storage)
    assert "POSTGRES_PASSWORD" in used
    for name in used:
        assert names.index(name) < names.index("HPSEARCH_STORAGE")
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == SECRET
    for name in re.findall(r"\$\((\w+)\)", " ".join(worker["command"])):
        assert "value" in env[name], f"the command uses $({name}), which the env list does not set"
    for name in ("HPSEARCH_CHECKPOINTS", "HPSEARCH_HEARTBEAT_SECONDS", "HPSEARCH_GRACE_SECONDS"):
        assert env[name]["value"]


def test_worker_volumes_are_the_shared_claims() -> None:
    pod = _only("Job")["spec"]["template"]["spec"]
    claims = {volume["name"]: volume["persistentVolumeClaim"]["claimName"]
              for volume in pod["volumes"] if "persistentVolumeClaim" in volume}
    mounts = {mount["mountPath"]: mount for mount in _worker()["volumeMounts"]}
    checkpoints = mounts[{e["name"]: e for e in _worker()["env"]}["HPSEARCH_CHECKPOINTS"]["value"]]
    assert claims[checkpoints["name"]] == "hpsearch-checkpoints" and not checkpoints.get("readOnly")
    assert claims[mounts["/data"]["name"]] == "hpsearch-data" and mounts["/data"]["readOnly"]
    shared = {doc["metadata"]["name"]: doc for doc in _documents(KUBE / "volumes.yaml")}
    assert all(shared[name]["spec"]["accessModes"] == ["ReadWriteMany"] for name in claims.values())


def test_postgres_keeps_its_data_and_is_probed() -> None:
    statefulset = _only("StatefulSet")
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "postgres:16"  # as in docker-compose.yml
    assert "pg_isready" in " ".join(container["readinessProbe"]["exec"]["command"])
    assert container["envFrom"] == [{"secretRef": {"name": SECRET}}]
    assert statefulset["spec"]["volumeClaimTemplates"]
    services = {doc["metadata"]["name"] for doc in _documents(KUBE / "postgres.yaml")
                if doc["kind"] == "Service"}
    assert statefulset["spec"]["serviceName"] == "postgres" and services == {"postgres"}  # the URLs' host


def test_dashboard_listens_on_8080_behind_a_cluster_ip() -> None:
    (container,) = _only("Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["hpsearch", "dashboard", "--host", "0.0.0.0", "--port", "8080"]
    assert container["image"] == _worker()["image"]
    (service,) = [doc for doc in _documents(KUBE / "dashboard.yaml") if doc["kind"] == "Service"]
    assert service["metadata"]["name"] == "hpsearch-dashboard" and service["spec"]["type"] == "ClusterIP"
    assert [port["port"] for port in service["spec"]["ports"]] == [8080]


def test_raycluster_has_a_head_and_gpu_workers_on_the_same_image() -> None:
    (ray,) = _documents(RAY)
    assert (ray["apiVersion"], ray["kind"]) == ("ray.io/v1", "RayCluster")
    assert list(_containers(ray["spec"]["headGroupSpec"]))
    gpu = [container for group in ray["spec"]["workerGroupSpecs"] for container in _containers(group)
           if "nvidia.com/gpu" in container.get("resources", {}).get("limits", {})]
    assert gpu
    assert {container["image"] for container in _containers(ray)} == {_worker()["image"]}
    # KubeRay needs the image's Ray to be the version the cluster declares; the driver on the head
    # and the actors on the GPU workers both need the storage URL.
    pinned = re.search(r'"ray\[default\]==([\d.]+)"', (REPO / "Dockerfile").read_text())
    assert pinned and ray["spec"]["rayVersion"] == pinned[1]
    for container in _containers(ray):
        assert "HPSEARCH_STORAGE" in {variable["name"] for variable in container["env"]}


def test_no_password_in_deploy_but_the_placeholder() -> None:
    """Every URL's password is a $(VAR) / ${VAR} reference or the word PASSWORD; every Secret is
    an example."""
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            for password in re.findall(r"postgresql://[^:/@\s]+:([^@\s]+)@", text):
                assert re.fullmatch(r"PASSWORD|\$\(\w+\)|\$\{\w+\}", password), f"{path}: a password literal"
            assert PLACEHOLDER not in text or path.name == "secret.example.yaml", f"{path}: the placeholder"
    for path in [*MANIFESTS, RAY]:
        for document in _documents(path):
            for container in _containers(document):
                for entry in container.get("env", []):
                    assert "PASSWORD" not in entry["name"] or "valueFrom" in entry, f"{path}: {entry['name']}"
            if document["kind"] == "Secret":
                assert path.name.endswith(".example.yaml")
                assert document["stringData"]["POSTGRES_PASSWORD"] == PLACEHOLDER


def test_slurm_script_parses_and_asks_slurm_for_what_it_needs() -> None:
    subprocess.run(["bash", "-n", str(SBATCH)], check=True)
    lines = SBATCH.read_text(encoding="utf-8").splitlines()
    # sbatch reads #SBATCH lines only up to the first command.
    first_command = next(n for n, line in enumerate(lines) if n and line.strip() and not line.startswith("#"))
    directives = [line.split()[1] for line in lines[:first_command] if line.startswith("#SBATCH ")]
    assert any(re.fullmatch(r"--array=\d+-\d+", directive) for directive in directives)
    assert "--gres=gpu:1" in directives
    assert any(re.fullmatch(r"--signal=B:TERM@\d+", directive) for directive in directives)
    assert lines[first_command] == "set -euo pipefail"
    assert any(re.match(r'exec hpsearch worker "\$HPSEARCH_STUDY"', line) for line in lines)


def _sbatch(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The script run as Slurm would run it, with only the given hpsearch settings and the
    project's `hpsearch` on PATH."""
    base = {key: value for key, value in os.environ.items() if not key.startswith("HPSEARCH_")}
    base["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{base['PATH']}"
    return subprocess.run(["bash", str(SBATCH)], cwd=tmp_path, env={**base, **env},
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("missing", ["HPSEARCH_STORAGE", "HPSEARCH_STUDY"])
def test_slurm_script_refuses_to_start_without_its_settings(tmp_path: Path, missing: str) -> None:
    settings = {"HPSEARCH_STORAGE": f"sqlite:///{tmp_path}/hpsearch.db", "HPSEARCH_STUDY": "cifar-dropout"}
    del settings[missing]
    result = _sbatch(tmp_path, **settings)
    assert result.returncode != 0 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert missing in line and "Traceback" not in line


def test_slurm_script_runs_the_real_worker(tmp_path: Path) -> None:
    """Past its checks the script hands over to `hpsearch worker`, whose own check answers."""
    storage = f"sqlite:///{tmp_path}/hpsearch.db"
    result = _sbatch(tmp_path, HPSEARCH_STORAGE=storage, HPSEARCH_STUDY="no-such-study")
    assert result.returncode == 2, result.stderr
    assert "no study named 'no-such-study'" in result.stderr and "Traceback" not in result.stderr
