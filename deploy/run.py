"""`make run`: the whole platform on one machine, no Docker.

Starts the embedded stack (NATS, PostgreSQL, S3) under `.podium-data/`, then every service as its own
process pointed at it, waits until each answers its readiness route, prints where the gateway listens,
and on Ctrl-C (or SIGTERM) stops the services, then the stack — leaving no process behind.

    python -m deploy.run [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from auth_service.admin_cli import DEMO_ADMIN, DEMO_TEAM
from deploy.demo import seed_ground_truth
from deploy.stack import (
    HOST,
    EmbeddedStack,
    Server,
    StackError,
    StackPorts,
    free_port,
    http_ok,
    spawn,
    stop_all,
    wait_until,
)
from podium_runtime.connections import create_s3
from proto.competition import parse_competition


@dataclass(frozen=True)
class ServiceProcess:
    module: str
    port: int

    @property
    def port_variable(self) -> str:
        return f"PODIUM_{self.module.upper()}_HTTP_PORT"


# Started in this order; the gateway last, so it is ready when its URL is printed.
SERVICES = (
    ServiceProcess("auth_service", 8101),
    ServiceProcess("submission_service", 8102),
    ServiceProcess("cpu_scorer", 8103),
    ServiceProcess("gpu_scorer", 8104),
    ServiceProcess("leaderboard_service", 8105),
    ServiceProcess("gateway", 8000),
)


def service_env(stack: EmbeddedStack, free_ports: bool) -> dict[str, str]:
    """The services' shared environment: the stack's connection settings and each service's HTTP port."""
    env = {**os.environ, **stack.env(), "PYTHONUNBUFFERED": "1"}
    # The local platform is a development one: any CORS origin unless PODIUM_CORS_ALLOW_ORIGINS says otherwise.
    env.setdefault("PODIUM_ENVIRONMENT", "development")
    # The gateway as one process per core, all on its port (podium_runtime.workers), unless told otherwise.
    env.setdefault("PODIUM_GATEWAY_WORKERS", str(os.cpu_count() or 1))
    for service in SERVICES:
        if free_ports:
            env[service.port_variable] = str(free_port())
        else:
            env.setdefault(service.port_variable, str(service.port))
    return env


def own_user(stack: EmbeddedStack, module: str, env: dict[str, str]) -> dict[str, str]:
    """`env` with the service's own NATS user in place of the stack's admin (which tools and seeding use)."""
    own = stack.service_env(module)
    return {**env, "PODIUM_NATS_USER": own["PODIUM_NATS_USER"], "PODIUM_NATS_PASSWORD": own["PODIUM_NATS_PASSWORD"]}


def start_services(stack: EmbeddedStack, env: dict[str, str]) -> list[Server]:
    """Start each service and wait for its readiness; on failure stop those already started."""
    started: list[Server] = []
    try:
        for service in SERVICES:
            port = int(env[service.port_variable])
            server = spawn(
                service.module,
                [sys.executable, "-m", service.module],
                stack.data_dir / "logs" / f"{service.module}.log",
                signal.SIGTERM,
                env=own_user(stack, service.module, env),
            )
            started.append(server)
            ready = f"http://{HOST}:{port}/readiness"
            wait_until(lambda url=ready: http_ok(url), service.module, 60, server.proc, server.log)
    except BaseException:
        stop_all(started, timeout_s=15)
        raise
    return started


def seed_competition(stack: EmbeddedStack, env: dict[str, str]) -> None:
    """Generated ground truth for the demo competition's tasks, where missing (submission_service records each
    task's digest when it applies the seed, or the file a host keeps in PODIUM_COMPETITION_FILE)."""
    competition_file = Path(env.get("PODIUM_COMPETITION_FILE") or env.get("PODIUM_COMPETITION_SEED")
                            or "deploy/competition.toml")
    seed_ground_truth(create_s3(stack.settings()), parse_competition(competition_file.read_bytes()))


def seed_demo(env: dict[str, str]) -> str:
    """Create the demo admin and team (if missing) and return what the command printed."""
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "auth_service", "seed-demo"], env=env, capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise StackError(f"seeding the demo accounts failed: {result.stderr.strip()[-2000:]}")
    return result.stdout


class StopRequest:
    """Ctrl-C or SIGTERM asks the supervisor to stop: it then stops the services, then the stack, and exits."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGINT, self._request)
        signal.signal(signal.SIGTERM, self._request)

    def _request(self, *_: object) -> None:
        self.requested = True


def start_platform(stack: EmbeddedStack, free_ports: bool) -> tuple[dict[str, str], list[Server]]:
    """The stack, the demo competition's ground truth, every service (ready), the demo accounts: the services'
    environment and processes. On a StackError nothing is left running."""
    services: list[Server] = []
    try:
        stack.start()
        env = service_env(stack, free_ports)
        seed_competition(stack, env)
        services = start_services(stack, env)
        seed_demo(env)
    except StackError:
        stop_all(services, timeout_s=15)
        stack.stop()
        raise
    return env, services


def banner(stack: EmbeddedStack, env: dict[str, str], started_s: float) -> str:
    """Where everything listens and the demo credentials, printed once the platform is ready."""
    gateway_port = env["PODIUM_GATEWAY_HTTP_PORT"]
    stack_env = stack.env()
    return f"""
Podium is running (started in {started_s:.1f} s).
  gateway      http://{HOST}:{gateway_port}/
  API docs     http://{HOST}:{gateway_port}/docs
  health       http://{HOST}:{gateway_port}/api/v1/health
  NATS         {stack_env["PODIUM_NATS_URL"]}  (tools: user "{stack_env["PODIUM_NATS_USER"]}", password in \
{stack.data_dir / "nats" / "auth.conf"})
  PostgreSQL   {stack_env["PODIUM_POSTGRES_DSN"]}
  S3           http://{stack_env["PODIUM_S3_ENDPOINT"]}  (access key {stack.s3_access_key})
  logs         {stack.data_dir / "logs"}/
Demo credentials (local only; change them for anything shared):
  admin        name "{DEMO_ADMIN[0]}"  password "{DEMO_ADMIN[1]}"
  team         name "{DEMO_TEAM[0]}"  password "{DEMO_TEAM[1]}"
  log in:      curl -s -X POST http://{HOST}:{gateway_port}/auth/login -H 'content-type: application/json' \\
                 -d '{{"name": "{DEMO_TEAM[0]}", "password": "{DEMO_TEAM[1]}"}}'
Press Ctrl-C to stop everything."""


def supervise(services: list[Server], stop: StopRequest) -> int:
    """Watch the services until a stop is requested (0) or one of them exits by itself (1, with its log named)."""
    while not stop.requested:
        crashed = [s for s in services if s.proc.poll() is not None]
        if crashed:
            for server in crashed:
                print(f"podium: {server.name} exited with {server.proc.returncode}; see {server.log}", file=sys.stderr)
            return 1
        time.sleep(0.2)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.run", description="Run the whole platform locally.")
    parser.add_argument("--data-dir", type=Path, default=Path(".podium-data"), help="where the stack keeps its data")
    parser.add_argument("--free-ports", action="store_true", help="pick free ports instead of the defaults")
    args = parser.parse_args(argv)

    stop = StopRequest()
    started_at = time.monotonic()
    stack = EmbeddedStack(args.data_dir.resolve(), StackPorts.free() if args.free_ports else StackPorts())
    try:
        env, services = start_platform(stack, args.free_ports)
    except StackError as exc:
        print(f"podium: could not start: {exc}", file=sys.stderr)
        return 1
    print(banner(stack, env, time.monotonic() - started_at), flush=True)

    exit_code = supervise(services, stop)
    print("podium: stopping services…", flush=True)
    stop_all(services, timeout_s=15)
    stack.stop()
    print("podium: stopped.", flush=True)
    return exit_code


if __name__ == "__main__":
    raise SystemExit(main())
