"""Session fixtures: the real embedded NATS, PostgreSQL and S3, started once on free ports in a
temporary folder and stopped (by PID) when the session ends."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import nats
import pytest
from litestar.testing import AsyncTestClient
from nats.aio.client import Client as NatsClient
from pydantic import SecretStr

from deploy.demo import seed_ground_truth
from deploy.stack import EmbeddedStack, StackPorts, free_port, http_ok, spawn, stop_all, wait_until
from gateway.app import GatewaySettings
from gateway.app import create_app as create_gateway
from podium_runtime.connections import create_s3, ensure_streams
from podium_runtime.settings import PlatformSettings, ServiceSettings
from proto.competition import Competition, Task, parse_competition


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    # durable=False: no fsync in PostgreSQL; the tests kill clients, not the machine.
    with EmbeddedStack(tmp_path_factory.mktemp("stack"), StackPorts.free(), durable=False) as running:
        yield running


@pytest.fixture(scope="session")
def settings(stack: EmbeddedStack) -> ServiceSettings:
    env = stack.env()
    return ServiceSettings(
        nats_url=env["PODIUM_NATS_URL"],
        # The stack's admin NATS user: the tests' own connections (`nc`) may do anything; each service runs as its own.
        nats_user=env["PODIUM_NATS_USER"],
        nats_password=SecretStr(env["PODIUM_NATS_PASSWORD"]),
        postgres_dsn=SecretStr(env["PODIUM_POSTGRES_DSN"]),
        s3_endpoint=env["PODIUM_S3_ENDPOINT"],
        s3_access_key=env["PODIUM_S3_ACCESS_KEY"],
        s3_secret_key=SecretStr(env["PODIUM_S3_SECRET_KEY"]),
        outbox_poll_s=0.2,
    )


@pytest.fixture(scope="session")
async def pg_pool(settings: ServiceSettings) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(settings.postgres_dsn.get_secret_value(), min_size=1, max_size=10)
    yield pool
    await pool.close()


@pytest.fixture
async def nc(settings: ServiceSettings) -> AsyncIterator[NatsClient]:
    client = await nats.connect(settings.nats_url, **settings.nats_auth)
    await ensure_streams(client.jetstream())
    yield client
    await client.drain()


@pytest.fixture
def unique() -> str:
    """A fresh token for names (schemas, tasks, durables) so tests sharing the servers never collide."""
    return uuid.uuid4().hex[:12]


# --- the identity service and the gateway -----------------------------------------------------------

ADMIN = ("root-admin", "root-admin-password")


def service_env(stack: EmbeddedStack, module: str, **extra: str) -> dict[str, str]:
    """A service's environment: the stack's, with the service's own NATS user (never the admin)."""
    return {**os.environ, **stack.service_env(module), "PYTHONUNBUFFERED": "1", **extra}


@contextmanager
def service_process(module: str, stack: EmbeddedStack, folder: Path, **env: str) -> Iterator[dict[str, str]]:
    """A back-end service as its own process on a free port, ready; yields the environment it runs with."""
    port = free_port()
    full_env = service_env(stack, module, **{f"PODIUM_{module.upper()}_HTTP_PORT": str(port)}, **env)
    log = folder / f"{module}.log"
    server = spawn(module, [sys.executable, "-m", module], log, signal.SIGTERM, env=full_env)
    try:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/readiness"), module, 60, server.proc, log)
        yield full_env
    finally:
        stop_all([server], timeout_s=15)


@pytest.fixture(scope="session")
def auth_service(stack: EmbeddedStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The real auth_service as its own process, with a first admin created by its CLI."""
    with service_process("auth_service", stack, tmp_path_factory.mktemp("auth"),
                         PODIUM_ACCESS_TOKEN_TTL_S="300") as env:
        created = subprocess.run(
            [sys.executable, "-m", "auth_service", "create-admin", "--name", ADMIN[0], "--password", ADMIN[1]],
            env=env, capture_output=True, text=True, timeout=60,
        )
        assert created.returncode == 0, created.stderr
        yield env


TEST_COMPETITION = """
[competition]
name = "Podium tests"

[[tasks]]
id = "recon"
title = "Reconstruction (tests)"
kind = "cpu"
metric = "psnr"
daily_quota = 5
max_upload_bytes = 2_000_000
aliases = ["task1"]
samples = 12
shape = [3, 16, 16]
ground_truth = "recon/ground_truth.zip"
split = { private_fraction = 0.5, seed = 7 }

[[tasks]]
id = "lab"
title = "Reconstruction with a generous quota (tests of refusals)"
kind = "cpu"
metric = "psnr"
daily_quota = 100
max_upload_bytes = 2_000_000
samples = 12
shape = [3, 16, 16]
ground_truth = "lab/ground_truth.zip"
split = { private_fraction = 0.5, seed = 11 }

[[tasks]]
id = "digits"
title = "Digits (tests)"
kind = "gpu"
metric = "accuracy"
daily_quota = 100
max_upload_bytes = 8_000_000
aliases = ["task2"]
shape = [64]
ground_truth = "digits/test_set.npz"
split = { private_fraction = 0.5, seed = 3 }
model = { batch_size = 64, timeout_s = 30 }

[[tasks]]
id = "digits-quick"
title = "Digits with a 1-second limit (tests of slow models)"
kind = "gpu"
metric = "accuracy"
daily_quota = 100
max_upload_bytes = 8_000_000
shape = [64]
ground_truth = "digits-quick/test_set.npz"
model = { batch_size = 64, timeout_s = 1 }

[[tasks]]
id = "closed"
title = "A task whose only phase is over"
kind = "cpu"
metric = "psnr"
samples = 2
shape = [2]
ground_truth = "closed/ground_truth.zip"
[[tasks.phases]]
id = "past"
opens_at = 2020-01-01T00:00:00Z
closes_at = 2020-02-01T00:00:00Z
"""


def task_of(competition: Competition | tuple[object, Competition], task_id: str) -> Task:
    """A task of the tests' competition (or of the `competition` fixture's), which has it."""
    task = (competition if isinstance(competition, Competition) else competition[1]).task(task_id)
    assert task is not None, f"the tests' competition has no task {task_id!r}"
    return task


@pytest.fixture(scope="session")
def competition(stack: EmbeddedStack, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Competition]:
    """The tests' competition file, with its generated ground truth in the stack's S3."""
    path = tmp_path_factory.mktemp("competition") / "competition.toml"
    path.write_text(TEST_COMPETITION)
    parsed = parse_competition(TEST_COMPETITION)
    seed_ground_truth(create_s3(stack.settings()), parsed)
    return path, parsed


@dataclass(frozen=True)
class ScoringServices:
    """Where each scoring process listens (`/metrics` included) and where it logs."""

    ports: dict[str, int]
    folder: Path

    def log(self, module: str) -> str:
        return (self.folder / f"{module}.log").read_text()


@pytest.fixture(scope="session")
def scoring_services(
    stack: EmbeddedStack, competition: tuple[Path, Competition], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ScoringServices]:
    """submission_service, cpu_scorer, gpu_scorer and leaderboard_service as processes (the reconciler slowed down:
    tests drive it), refreshing their gauges every second and writing their spans to the console (their log)."""
    folder = tmp_path_factory.mktemp("scoring")
    common = {"PODIUM_COMPETITION_FILE": str(competition[0]), "PODIUM_METRICS_INTERVAL_S": "1",
              "PODIUM_TRACES_EXPORTER": "console"}
    with (
        service_process("submission_service", stack, folder, PODIUM_RECONCILE_INTERVAL_S="3600", **common) as subs,
        service_process("cpu_scorer", stack, folder, **common) as cpu,
        service_process("leaderboard_service", stack, folder, **common) as board,
        service_process("gpu_scorer", stack, folder, **common) as gpu,
    ):
        envs = {"submission_service": subs, "cpu_scorer": cpu, "leaderboard_service": board, "gpu_scorer": gpu}
        yield ScoringServices({m: int(env[f"PODIUM_{m.upper()}_HTTP_PORT"]) for m, env in envs.items()}, folder)


def gateway_settings(settings: PlatformSettings, **overrides: Any) -> GatewaySettings:
    fields = {k: v for k, v in settings.model_dump().items() if k in PlatformSettings.model_fields}
    return GatewaySettings(**{**fields, "http_port": 0, **overrides})


@asynccontextmanager
async def running_gateway(settings: GatewaySettings) -> AsyncIterator[AsyncTestClient]:
    app = create_gateway(settings)
    async with AsyncTestClient(app=app, timeout=30) as client:
        async with asyncio.timeout(30):
            while not app.state.identity.ready:  # noqa: ASYNC110 — two conditions (keys, versions) to wait for
                await asyncio.sleep(0.05)
        yield client


@pytest.fixture(scope="session")
async def gateway(
    stack: EmbeddedStack, settings: ServiceSettings, auth_service: dict[str, str], scoring_services: None
) -> AsyncIterator[AsyncTestClient]:
    """The gateway app in-process (its real middleware, NATS and auth_service), as an HTTP client."""
    gateway_user = {"nats_user": "gateway", "nats_password": stack.nats_passwords["gateway"]}
    async with running_gateway(gateway_settings(settings, **gateway_user)) as client:
        yield client


async def admin_login(gateway: AsyncTestClient) -> str:
    """A fresh admin access token (a new login: the session's servers and admin, never a kept token)."""
    response = await gateway.post("/auth/login", json={"name": ADMIN[0], "password": ADMIN[1]})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.fixture
async def admin_token(gateway: AsyncTestClient) -> str:
    """Each test's own admin token, minted when the test starts: access tokens live PODIUM_ACCESS_TOKEN_TTL_S (300 s
    under `auth_service` here), so one kept for the whole session would expire under any run longer than that."""
    return await admin_login(gateway)


@pytest.fixture(scope="session")
def gateway_url(
    stack: EmbeddedStack, auth_service: dict[str, str], scoring_services: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The gateway as its own process (uvicorn, real sockets): for WebSockets and what a browser sees."""
    with service_process("gateway", stack, tmp_path_factory.mktemp("gateway")) as env:
        yield f"http://127.0.0.1:{env['PODIUM_GATEWAY_HTTP_PORT']}"
