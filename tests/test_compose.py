"""The container setup (Dockerfile, docker-compose.yml, .env.example) without a Docker engine.

docker-compose.yml is read with PyYAML and its `${...}` references are interpolated here the way
Compose does it; every hpsearch command it runs is checked against the real CLI (`--help`).
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import pytest
import yaml

from tests.helpers import REPO, run_cli

COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
ENV_EXAMPLE = REPO / ".env.example"

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}, ${NAME:+alt}; $$ escapes $.
REFERENCE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")


def _interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable substitution over a whole string."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        value = env.get(name)
        unset = value is None or (value == "" and op is not None and op.startswith(":"))
        if op in ("-", ":-"):
            return arg if unset else value  # type: ignore[return-value]
        if op in ("?", ":?"):
            if unset:
                raise KeyError(f"{name}: {arg}")
            return value  # type: ignore[return-value]
        if op in ("+", ":+"):
            return "" if unset else arg
        return value or ""

    return REFERENCE.sub(replace, text)


def _resolve(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, str):
        return _interpolate(node, env)
    if isinstance(node, list):
        return [_resolve(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _resolve(value, env) for key, value in node.items()}
    return node


def _env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    """docker-compose.yml as written, before interpolation."""
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(document, dict) and isinstance(document.get("services"), dict)
    return document


@pytest.fixture(scope="module")
def services(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services as Compose would see them with only the variables .env.example sets."""
    return _resolve(raw, _env_example())["services"]


def _hpsearch_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The services built from this project's Dockerfile (their entrypoint is `hpsearch`)."""
    return {name: service for name, service in services.items() if "build" in service}


def _command(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def _published(port: str | dict[str, Any]) -> tuple[str | None, str | None, str]:
    """(host_ip, published, target) of one `ports` entry, short or long syntax."""
    if isinstance(port, dict):
        return port.get("host_ip"), str(port.get("published", "")) or None, str(port["target"])
    parts = str(port).rsplit(":", 2)
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return None, parts[0], parts[1]
    return None, None, parts[0]


def test_compose_file_has_the_three_services(raw: dict[str, Any]) -> None:
    assert {"postgres", "worker", "dashboard"} <= set(raw["services"])
    assert raw["services"]["postgres"]["image"].startswith("postgres:16")


def test_compose_file_fails_without_credentials(raw: dict[str, Any]) -> None:
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        _resolve(raw, {"POSTGRES_USER": "hpsearch"})


def test_no_password_literal_in_the_compose_file(raw: dict[str, Any]) -> None:
    # Every user:password@ of a URL in a value (comments aside) is made of references, never literals.
    def strings(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [s for key, value in node.items() for s in strings(key) + strings(value)]
        if isinstance(node, list):
            return [s for item in node for s in strings(item)]
        return [node] if isinstance(node, str) else []

    urls = [value for value in strings(raw) if "://" in value]
    assert urls
    for url in urls:
        for userinfo in re.findall(r"://([^/]*)@", REFERENCE.sub("\x00", url)):
            assert re.fullmatch(r"\x00(:\x00)?", userinfo), f"literal credentials in {url}"
    # Every *PASSWORD* setting of every service is one ${...} reference.
    for name, service in raw["services"].items():
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        for key, value in environment.items():
            if "PASSWORD" in key.upper():
                assert re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*(:?[-?][^}]*)?\}", str(value)), (name, key)
                assert not re.search(r":-", str(value)), f"{name}.{key} has a default password"


def test_the_example_password_is_only_a_placeholder() -> None:
    assert _env_example()["POSTGRES_PASSWORD"] == "change-me"
    assert ".env" in (REPO / ".gitignore").read_text(encoding="utf-8").split()


def test_every_required_variable_is_in_the_env_example(raw: dict[str, Any]) -> None:
    required = {m.group("name") for m in REFERENCE.finditer(COMPOSE.read_text(encoding="utf-8"))
                if m.group("name") and m.group("op") in ("?", ":?")}
    assert required >= {"POSTGRES_USER", "POSTGRES_PASSWORD"}
    assert required <= set(_env_example())


def test_postgres_is_healthchecked_and_keeps_its_data(services: dict[str, dict[str, Any]]) -> None:
    postgres = services["postgres"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert any(str(volume).endswith(":/var/lib/postgresql/data") for volume in postgres["volumes"])


@pytest.mark.parametrize("name", ["postgres", "dashboard"])
def test_published_ports_are_on_loopback_only(services: dict[str, dict[str, Any]], name: str) -> None:
    ports = services[name]["ports"]
    assert ports
    for port in ports:
        host_ip, _, _ = _published(port)
        assert host_ip == "127.0.0.1", f"{name} publishes {port!r} beyond 127.0.0.1"


def test_dashboard_is_on_8080(services: dict[str, dict[str, Any]]) -> None:
    assert [_published(port) for port in services["dashboard"]["ports"]] == [("127.0.0.1", "8080", "8080")]
    command = _command(services["dashboard"])
    assert command[0] == "dashboard"
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert command[command.index("--port") + 1] == "8080"


def test_worker_reserves_a_gpu_and_scales(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) and d.get("count") == 1
               for d in devices)
    # `--scale worker=N` needs no fixed name and no fixed host port.
    assert "container_name" not in worker
    assert "ports" not in worker
    assert worker["restart"].startswith("on-failure")
    assert any(str(volume).endswith(":/home/hpsearch/.keras") for volume in worker["volumes"])


def test_hpsearch_services_use_the_postgres_service(services: dict[str, dict[str, Any]]) -> None:
    env = _env_example()
    hpsearch = _hpsearch_services(services)
    assert {"worker", "dashboard"} <= set(hpsearch)
    expected = (f"postgresql://{env['POSTGRES_USER']}:{env['POSTGRES_PASSWORD']}"
                f"@postgres:5432/{env['POSTGRES_DB']}")
    postgres = services["postgres"]["environment"]
    assert (postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"], postgres["POSTGRES_DB"]) == (
        env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DB"])
    for name, service in hpsearch.items():
        assert service["environment"]["HPSEARCH_STORAGE"] == expected, name
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy", name
        assert service["image"] == "hpsearch", name


def test_worker_runs_the_default_study(raw: dict[str, Any]) -> None:
    # With no HPSEARCH_STUDY set at all, the worker runs cifar-dropout.
    resolved = _resolve(raw, {"POSTGRES_USER": "u", "POSTGRES_PASSWORD": "p"})
    assert _command(resolved["services"]["worker"]) == ["worker", "cifar-dropout"]


@pytest.mark.parametrize("name", ["worker", "dashboard"])
def test_compose_commands_are_real_hpsearch_commands(services: dict[str, dict[str, Any]], name: str) -> None:
    """The image's entrypoint is `hpsearch`, so a service's command is `hpsearch COMMAND ...`.

    `--help` is eager: it is answered after the whole line is parsed (so an unknown subcommand or
    option fails with exit code 2) and before anything runs.
    """
    service = _hpsearch_services(services)[name]
    command = _command(service)
    result = run_cli(*command, "--help", timeout=120)
    assert result.returncode == 0, (
        f"`hpsearch {shlex.join(command)} --help` exited {result.returncode}:\n{result.stdout}{result.stderr}")
    assert "Usage:" in result.stdout


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def test_dockerfile_is_a_tensorflow_gpu_image_running_hpsearch() -> None:
    instructions = _dockerfile_instructions()
    froms = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert len(froms) == 1 and re.fullmatch(r"tensorflow/tensorflow:2\.21\.\d+-gpu", froms[0]), froms
    entrypoints = [rest for keyword, rest in instructions if keyword == "ENTRYPOINT"]
    assert [json.loads(rest) for rest in entrypoints][-1] == ["hpsearch"]


def test_dockerfile_installs_the_project_and_its_studies_as_a_non_root_user() -> None:
    instructions = _dockerfile_instructions()
    runs = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert re.search(r"pip install --no-cache-dir \"\.\[ray\]\"", runs)  # the Ray route needs Ray in the image
    copies = [rest.split() for keyword, rest in instructions if keyword == "COPY"]
    sources = {source.rstrip("/") for copy in copies for source in copy[:-1]}
    assert {"pyproject.toml", "README.md", "hpsearch"} <= sources  # the shipped studies are package data
    # The installed package finds a shipped study by name from the working directory, and
    # ./studies is there, empty, for the user's own (where `hpsearch` looks names up first).
    workdir = [rest for keyword, rest in instructions if keyword == "WORKDIR"][-1]
    after_workdir = [rest for keyword, rest in instructions[[k for k, _ in instructions].index("WORKDIR"):]
                     if keyword == "RUN"]
    assert any("hpsearch show cifar-dropout" in rest for rest in after_workdir)
    assert f"{workdir}/studies" in runs
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    # The user that keras-cache is mounted for in docker-compose.yml.
    assert any(re.search(rf"useradd\b[^&]*\b{re.escape(users[-1])}\b", rest)
               for keyword, rest in instructions if keyword == "RUN")
    assert not re.search(r"(?i)password|secret|token", " ".join(rest for keyword, rest in instructions
                                                                   if keyword in ("ENV", "ARG")))


def test_dockerignore_keeps_the_build_context_small_and_secret_free() -> None:
    patterns = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")}
    assert {".venv", ".git", "*.db", "tests", ".env", ".pytest_cache"} <= patterns
    assert not {"pyproject.toml", "README.md", "hpsearch", "studies"} & patterns
