"""The service images and the platform's compose file, checked as files (no Docker engine here): one
multi-stage, non-root image per service installing only its own extra; compose builds each of them beside
NATS with JetStream, Postgres and MinIO, and only the gateway is published."""

from __future__ import annotations

import ast
import json
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
SERVICES = ("gateway", "auth_service", "submission_service", "cpu_scorer", "gpu_scorer", "leaderboard_service")
USES_POSTGRES = {"auth_service", "submission_service", "leaderboard_service"}
USES_S3 = {"submission_service", "cpu_scorer", "gpu_scorer"}


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    return [(line.split(maxsplit=1)[0].upper(), line.split(maxsplit=1)[1]) for line in joined.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def dockerfile(module: str) -> list[tuple[str, str]]:
    return instructions((DEPLOY / "docker" / f"{module}.Dockerfile").read_text())


def extra_closure(extra: str) -> set[str]:
    """The distributions `pip install ".[extra]"` brings: the project's and the extra's requirements as
    pyproject.toml lists them, then each one's own as installed here (the dev environment holds every extra)."""
    project = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    found: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [Requirement(text) for text in (*project["dependencies"], *extras[extra])]
    while todo:
        requirement = todo.pop()
        name, wanted = canonicalize_name(requirement.name), frozenset(requirement.extras)
        if (name, wanted) in seen:
            continue
        seen.add((name, wanted))
        if name == "podium":
            todo += [Requirement(text) for sub_extra in wanted for text in extras[sub_extra]]
            continue
        found.add(name)
        for text in metadata.requires(name) or []:
            dependency = Requirement(text)
            marker = dependency.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in ("", *wanted)):
                todo.append(dependency)
    return found


def _imports(path: Path) -> set[str]:
    """The absolute module names a file imports (`from a.b import c` also names `a.b.c`, which may be a module)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return names


def _source(module: str) -> Path | None:
    """Our own module's file (a package's __init__), None for a third-party or standard one."""
    base = DEPLOY.parent / module.replace(".", "/")
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def third_party_imports(service: str) -> set[str]:
    """The third-party top-level names a service's code imports, following its imports into proto and the shared
    runtime (the image copies both whole, but a runtime module the service never imports is never loaded)."""
    names: set[str] = set()
    todo = [path for path in (DEPLOY.parent / service).rglob("*.py")]
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imports(path):
            top = name.split(".")[0]
            if top in {"proto", "podium_runtime", *SERVICES}:
                if (own := _source(name)) is not None:
                    todo.append(own)
                    todo += [own.parent / "__init__.py"] if own.name != "__init__.py" else []
            else:
                names.add(top)
    return {name for name in names if name not in sys.stdlib_module_names and name != "__future__"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yml").read_text())


@pytest.mark.parametrize("module", SERVICES)
def test_each_image_is_multi_stage_and_installs_only_its_extra(module: str) -> None:
    steps = dockerfile(module)
    stages = [args for op, args in steps if op == "FROM"]
    assert stages == ["python:3.11-slim AS build", "python:3.11-slim"]
    runs = " ".join(args for op, args in steps if op == "RUN")
    # Exactly the lock's versions of the service's extra: exported frozen, installed without resolving again.
    assert re.findall(r"uv export --frozen --no-emit-project --extra (\w+)", runs) == [module]
    assert runs.count("--no-deps") == 2 and "pip install ." not in runs
    copied = {args.split()[0] for op, args in steps if op == "COPY" and "--from" not in args}
    assert copied == {"pyproject.toml", "proto", "podium_runtime", module}  # no other service's code
    assert ("COPY", "--from=build /venv /venv") in steps


@pytest.mark.parametrize("module", SERVICES)
def test_each_image_runs_its_module_unprivileged_on_its_port(module: str, services: dict) -> None:
    steps = dockerfile(module)
    runtime = steps[[op for op, _ in steps].index("FROM", 1):]  # the final stage
    assert ("RUN", "useradd --system --uid 10001 --no-create-home podium") in runtime
    assert [args for op, args in runtime if op == "USER"] == ["podium"]
    assert [op for op, _ in runtime].index("USER") < [op for op, _ in runtime].index("CMD")
    assert json.loads(dict(runtime)["CMD"]) == ["python", "-m", module]
    port = services[module].port
    assert dict(runtime)["EXPOSE"] == str(port)
    assert f"http://127.0.0.1:{port}/liveness" in dict(runtime)["HEALTHCHECK"]


@pytest.mark.parametrize("module", SERVICES)
def test_each_extra_brings_everything_its_image_imports(module: str) -> None:
    """An image installs its service's extra and nothing else: every library the service imports (following its
    imports through proto and the shared runtime) must come with that extra."""
    installed = extra_closure(module)
    providers = metadata.packages_distributions()
    missing = {name for name in third_party_imports(module)
               if not {canonicalize_name(d) for d in providers.get(name, [])} & installed}
    assert missing == set(), f"pyproject's {module} extra lacks the distributions of {sorted(missing)}"


def test_the_cpu_scorer_takes_torch_from_the_cpu_index() -> None:
    runs = " ".join(args for op, args in dockerfile("cpu_scorer") if op == "RUN")
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in runs


def test_compose_builds_every_service_from_its_dockerfile(compose: dict) -> None:
    for module in SERVICES:
        build = compose["services"][module]["build"]
        assert (DEPLOY / build["context"]).resolve() == DEPLOY.parent
        assert build["dockerfile"] == f"deploy/docker/{module}.Dockerfile"
        assert (DEPLOY.parent / build["dockerfile"]).exists()


def test_compose_runs_nats_with_jetstream_postgres_and_minio(compose: dict) -> None:
    nats, postgres, minio = (compose["services"][name] for name in ("nats", "postgres", "minio"))
    assert nats["image"].startswith("nats:2.11")
    assert "-js" in nats["command"] and "8222" in nats["command"]
    store = nats["command"][nats["command"].index("-sd") + 1]
    assert any(volume.endswith(f":{store}") for volume in nats["volumes"])
    assert postgres["image"] == "postgres:17" and postgres["environment"]["POSTGRES_DB"] == "podium"
    assert minio["command"][0] == "server"
    for name in ("nats", "postgres", "minio"):
        assert compose["services"][name]["healthcheck"]["test"]


def test_only_the_gateway_is_published(compose: dict) -> None:
    published = {name for name, service in compose["services"].items() if service.get("ports")}
    assert published == {"gateway"}
    assert compose["services"]["gateway"]["ports"] == ["${PODIUM_GATEWAY_PORT:-8000}:8000"]


@pytest.mark.parametrize("module", SERVICES)
def test_each_service_gets_its_settings_and_waits_for_what_it_uses(module: str, compose: dict,
                                                                    services: dict) -> None:
    service = compose["services"][module]
    env = service["environment"]
    assert env["PODIUM_NATS_URL"] == "nats://nats:4222" and env["PODIUM_HTTP_HOST"] == "0.0.0.0"
    needs = {"nats"} | ({"postgres"} if module in USES_POSTGRES else set()) | (
        {"minio"} if module in USES_S3 else set())
    assert needs <= set(service["depends_on"])
    assert all(service["depends_on"][name]["condition"] == "service_healthy" for name in needs)
    assert ("PODIUM_POSTGRES_DSN" in env) == (module in USES_POSTGRES)
    assert ({"PODIUM_S3_ENDPOINT", "PODIUM_S3_ACCESS_KEY", "PODIUM_S3_SECRET_KEY"} <= set(env)) == (module in USES_S3)
    if services[module].reads_competition_file:
        assert env["PODIUM_COMPETITION_SEED"] == "/etc/podium/competition.toml"
        assert "./competition.toml:/etc/podium/competition.toml:ro" in service["volumes"]
    else:
        assert "PODIUM_COMPETITION_SEED" not in env and "PODIUM_COMPETITION_FILE" not in env
    # Compose's healthcheck asks for readiness, not just liveness as the image's does.
    assert env["READINESS_URL"] == f"http://127.0.0.1:{services[module].port}/readiness"
    assert "READINESS_URL" in " ".join(service["healthcheck"]["test"])


def test_compose_holds_no_secret(compose: dict) -> None:
    """Every secret is demanded from the environment (`${VAR:?…}`), never given a default."""
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET_KEY|ACCESS_KEY|ROOT_USER", key):
                assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", value), (name, key)
            if key == "PODIUM_POSTGRES_DSN":
                assert "${PODIUM_POSTGRES_PASSWORD:?" in value
