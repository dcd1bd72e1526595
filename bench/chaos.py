"""Faults while submissions flow, then the platform's invariants: `make chaos` (and, shorter, a system test).

A platform of its own (embedded NATS, PostgreSQL, S3 and every service as a process, on free ports) takes a
steady stream of PSNR submissions from several teams, each a client that retries what failed on the
platform's side (a connection refused, a 503). Meanwhile each fault happens in turn: `kill -9` of every
service (then a restart), a NATS restart, a PostgreSQL restart, object storage down for a few seconds
(scoring jobs fail on our side and are redelivered with backoff). Afterwards, with every fault healed:

- every accepted submission reaches a terminal state (nothing stuck);
- every scored submission is counted once on the board (one projection row each, the board's counts agree);
- the board equals a rebuild from the streams;
- no quota drift (each team's used quota = its submissions that took quota and were not refunded);
- and during the database outage, requests were answered 503 with `Retry-After`, never 500.

`--cluster` runs NATS as three nodes with R3 streams and kills nodes instead; `--wipe` restarts NATS with its
JetStream store deleted (twice, once with a scorer down): the services declare streams, buckets and consumers
again, in-flight submissions are republished from PostgreSQL, the board keeps every score, and a rebuild from
the now incomplete streams must be refused (and change nothing).

    python -m bench.chaos [--teams 8] [--settle 180] [--cluster | --wipe]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
from minio import Minio

from deploy.demo import make_ground_truth, noisy_submission, npy_zip, seed_ground_truth
from deploy.run import SERVICES, own_user, service_env
from deploy.stack import (
    HOST,
    EmbeddedStack,
    Server,
    StackPorts,
    free_port,
    http_ok,
    spawn,
    stop_all,
    venv_binary,
    wait_until,
)
from podium_runtime.connections import create_s3
from proto.competition import Competition, parse_competition
from proto.streams import CONSUMERS

TASK = "chaos"
COMPETITION = f"""
[competition]
name = "Chaos"

[[tasks]]
id = "{TASK}"
title = "PSNR under faults"
kind = "cpu"
metric = "psnr"
daily_quota = 10000
samples = 4
shape = [3, 8, 8]
ground_truth = "{TASK}/ground_truth.zip"
"""
ADMIN = ("chaos-admin", "chaos-admin-password")
TERMINAL = {"scored", "failed", "rejected", "expired", "cancelled"}
# What the clients retry: the platform's side failing for a moment (never a refusal of the submission).
RETRIED = {502, 503, 504}


@dataclass
class NatsCluster:
    """Three nats-server processes on loopback, clustered, with JetStream (streams get 3 replicas)."""

    folder: Path
    # The nats-server config with the users and their permissions (the stack's `write_nats_config`): every node
    # loads the same one, so a client's credentials hold on whichever node it reaches.
    config: Path | None = None
    ports: list[tuple[int, int, int]] = field(default_factory=list)  # (client, cluster, monitor) per node
    nodes: dict[int, Server] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ports = [(free_port(), free_port(), free_port()) for _ in range(3)]

    @property
    def url(self) -> str:
        return ",".join(f"nats://{HOST}:{client}" for client, _, _ in self.ports)

    def start_node(self, index: int) -> None:
        client, cluster, monitor = self.ports[index]
        store = self.folder / f"nats-{index}"
        store.mkdir(parents=True, exist_ok=True)
        routes = ",".join(f"nats://{HOST}:{c}" for i, (_, c, _) in enumerate(self.ports) if i != index)
        argv = [venv_binary("nats-server"), "-a", HOST, "-p", str(client), "-m", str(monitor), "-js", "-sd",
                str(store), "--server_name", f"podium-{index}", "--cluster_name", "podium",
                "--cluster", f"nats://{HOST}:{cluster}", "--routes", routes]
        if self.config is not None:
            argv += ["-c", str(self.config)]
        self.nodes[index] = spawn(f"nats-{index}", argv, self.folder / f"nats-{index}.log", signal.SIGTERM)

    def start(self) -> None:
        for index in range(3):
            self.start_node(index)
        for index, (_, _, monitor) in enumerate(self.ports):  # JetStream is ready once a meta leader is elected
            wait_until(lambda m=monitor: http_ok(f"http://{HOST}:{m}/healthz?js-enabled-only=true"),
                       f"nats-{index}", 60, self.nodes[index].proc, self.nodes[index].log)

    def kill(self, index: int) -> None:
        node = self.nodes.pop(index)
        node.proc.send_signal(signal.SIGKILL)
        node.proc.wait()

    def restart(self, index: int) -> None:
        """Start a killed node and wait until it has caught up (its streams and consumers current)."""
        self.start_node(index)
        _, _, monitor = self.ports[index]
        wait_until(lambda: http_ok(f"http://{HOST}:{monitor}/healthz"), f"nats-{index}", 60,
                   self.nodes[index].proc, self.nodes[index].log)

    def stop(self) -> None:
        stop_all(list(self.nodes.values()), timeout_s=15)
        self.nodes.clear()


@dataclass
class Platform:
    """The stack and the services as processes, each of which can be killed and started again; with
    `cluster`, NATS is a 3-node cluster with R3 streams instead of the stack's single server. The load generator
    runs the same platform with its own competition, a durable stack and the services' default settings."""

    folder: Path
    cluster: bool = False
    competition: str = COMPETITION
    admin: tuple[str, str] = ADMIN
    durable: bool = False
    # Faster reconciling and outbox polling than the defaults, so the chaos run settles within its bounds.
    extra_env: dict[str, str] = field(default_factory=lambda: {"PODIUM_RECONCILE_INTERVAL_S": "2",
                                                                "PODIUM_OUTBOX_POLL_S": "0.5"})
    # What puts the tasks' ground truth in object storage before the services start (and record its digests): the
    # demo's generated one; the replica bench brings a bigger solution of its own.
    seed: Callable[[Minio, Competition], object] = seed_ground_truth
    stack: EmbeddedStack = field(init=False)
    nats: NatsCluster | None = None
    env: dict[str, str] = field(default_factory=dict)
    services: dict[str, Server] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.stack = EmbeddedStack(self.folder / "stack", StackPorts.free(), durable=self.durable)

    @property
    def gateway_url(self) -> str:
        return f"http://{HOST}:{self.env['PODIUM_GATEWAY_HTTP_PORT']}"

    def start(self) -> None:
        if self.cluster:
            self.nats = NatsCluster(self.folder / "cluster", self.stack.write_nats_config(self.folder / "cluster"))
            self.nats.start()
            self.stack.data_dir.mkdir(parents=True, exist_ok=True)
            (self.stack.data_dir / "logs").mkdir(exist_ok=True)
            self.stack.start_postgres()
            self.stack.start_s3()
        else:
            self.stack.start()
        competition_file = self.folder / "competition.toml"
        competition_file.write_text(self.competition)
        self.seed(create_s3(self.stack.settings()), parse_competition(self.competition))
        self.env = {**service_env(self.stack, free_ports=True), "PODIUM_COMPETITION_FILE": str(competition_file),
                    **self.extra_env}
        if self.nats is not None:
            self.env |= {"PODIUM_NATS_URL": self.nats.url, "PODIUM_STREAM_REPLICAS": "3"}
        for service in SERVICES:
            self.start_service(service.module)
        subprocess.run([sys.executable, "-m", "auth_service", "create-admin", "--name", self.admin[0],  # noqa: S603
                        "--password", self.admin[1]], env=self.env, check=True, capture_output=True, timeout=60)

    def start_service(self, module: str) -> None:
        port = self.env[f"PODIUM_{module.upper()}_HTTP_PORT"]
        server = spawn(module, [sys.executable, "-m", module], self.folder / f"{module}.log", signal.SIGTERM,
                       env=own_user(self.stack, module, self.env))
        self.services[module] = server
        wait_until(lambda: http_ok(f"http://{HOST}:{port}/readiness"), module, 60, server.proc, server.log)

    def processes(self) -> dict[str, int]:
        """Name → PID of every process of the platform (the stack's servers and the services)."""
        servers = [*self.stack.servers, *self.services.values(), *(self.nats.nodes.values() if self.nats else ())]
        return {s.name: s.proc.pid for s in servers}

    def kill(self, module: str) -> None:
        server = self.services.pop(module)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()

    def restart_server(self, name: str, outage_s: float = 0.0, *, wipe: bool = False) -> None:
        """Stop one of the stack's servers (cleanly: it is a restart, not a crash), leave it down for
        `outage_s`, and start it again — with `wipe`, after deleting its data (for NATS: every stream, consumer
        and KV bucket)."""
        server = next(s for s in self.stack.servers if s.name == name)
        stop_all([server], timeout_s=15)
        self.stack.servers.remove(server)
        time.sleep(outage_s)
        if wipe:
            shutil.rmtree(self.stack.data_dir / name)
        {"nats": self.stack.start_nats, "postgres": self.stack.start_postgres, "s3": self.stack.start_s3}[name]()

    def stop(self) -> None:
        stop_all(list(self.services.values()), timeout_s=15)
        self.services.clear()
        self.stack.stop()
        if self.nats is not None:
            self.nats.stop()


@dataclass
class Tally:
    statuses: Counter = field(default_factory=Counter)
    retried: int = 0
    submitted: list[int] = field(default_factory=list)
    unavailable_with_retry_after: int = 0
    server_errors: list[str] = field(default_factory=list)


async def call(client: httpx.AsyncClient, tally: Tally, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request as a careful client makes it: retried while the platform's side is failing."""
    for _ in range(600):
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.TransportError:
            tally.retried += 1
            await asyncio.sleep(0.25)
            continue
        tally.statuses[response.status_code] += 1
        if response.status_code == 503 and "retry-after" in response.headers:
            tally.unavailable_with_retry_after += 1
        if response.status_code in RETRIED:
            tally.retried += 1
            await asyncio.sleep(0.25)
            continue
        if response.status_code >= 500:
            tally.server_errors.append(f"{method} {url}: {response.status_code} {response.text[:200]}")
        return response
    raise TimeoutError(f"{method} {url} kept failing")


async def team_loop(client: httpx.AsyncClient, tally: Tally, admin: str, index: int, stop: asyncio.Event,
                    truth: dict) -> None:
    name, password = f"chaos-team-{index}", f"chaos-password-{index}"
    await call(client, tally, "POST", "/api/v1/teams", json={"name": name, "password": password},
               headers={"Authorization": f"Bearer {admin}"})
    token = (await call(client, tally, "POST", "/auth/login", json={"name": name, "password": password})).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    seed = 0
    while not stop.is_set():
        seed += 1
        data = npy_zip(noisy_submission(truth, 0.02 + 0.01 * (index % 5), seed=index * 1000 + seed))
        response = await call(client, tally, "POST", f"/api/v1/tasks/{TASK}/submissions", headers=headers,
                              files={"file": ("s.zip", data, "application/zip")})
        if response.status_code == 200:
            tally.submitted.append(response.json()["id"])
        await call(client, tally, "GET", f"/api/v1/leaderboards/{TASK}", headers=headers)
        await asyncio.sleep(0.3)


async def faults(platform: Platform, log: list[tuple[str, float]], *, wipe: bool = False) -> None:
    """Each fault in turn, with submissions flowing before, during and after it."""
    if platform.nats is not None:
        await cluster_faults(platform, platform.nats, log)
        return
    if wipe:
        await wipe_faults(platform, log)
        return
    for module in ("cpu_scorer", "submission_service", "leaderboard_service", "gpu_scorer", "auth_service",
                   "gateway"):
        await asyncio.sleep(2)
        started = time.monotonic()
        platform.kill(module)
        await asyncio.sleep(1)
        await asyncio.to_thread(platform.start_service, module)
        log.append((f"kill -9 {module}, restart", time.monotonic() - started))
    for server, outage_s in (("nats", 0.0), ("postgres", 0.0), ("s3", 3.0)):
        await asyncio.sleep(2)
        started = time.monotonic()
        await asyncio.to_thread(platform.restart_server, server, outage_s)
        log.append((f"restart {server}" + (f" ({outage_s:.0f} s down)" if outage_s else ""),
                    time.monotonic() - started))
    await asyncio.sleep(3)


async def cluster_faults(platform: Platform, cluster: NatsCluster, log: list[tuple[str, float]]) -> None:
    """On a 3-node cluster: kill -9 one node, then (once it is back and current) another, then a scorer."""
    for index in (0, 1):
        await asyncio.sleep(2)
        started = time.monotonic()
        cluster.kill(index)
        await asyncio.sleep(5)  # submissions flow through the two other nodes meanwhile
        await asyncio.to_thread(cluster.restart, index)
        log.append((f"kill -9 NATS node {index} (5 s down), restart", time.monotonic() - started))
    await asyncio.sleep(2)
    started = time.monotonic()
    platform.kill("cpu_scorer")
    await asyncio.sleep(1)
    await asyncio.to_thread(platform.start_service, "cpu_scorer")
    log.append(("kill -9 cpu_scorer, restart", time.monotonic() - started))
    await asyncio.sleep(3)


async def wipe_faults(platform: Platform, log: list[tuple[str, float]]) -> None:
    """JetStream's store wiped twice (streams, consumers, KV buckets gone), once with a scorer down meanwhile."""
    await asyncio.sleep(4)
    started = time.monotonic()
    await asyncio.to_thread(platform.restart_server, "nats", wipe=True)
    log.append(("wipe the NATS store, restart", time.monotonic() - started))
    await asyncio.sleep(4)
    started = time.monotonic()
    platform.kill("cpu_scorer")
    await asyncio.to_thread(platform.restart_server, "nats", wipe=True)
    await asyncio.sleep(1)
    await asyncio.to_thread(platform.start_service, "cpu_scorer")
    log.append(("kill -9 cpu_scorer, wipe the store, restart both", time.monotonic() - started))
    await asyncio.sleep(4)


async def leaderboard_caught_up(env: dict[str, str], deadline: float) -> None:
    """Until every leaderboard consumer has nothing pending and nothing unacknowledged (or the deadline)."""
    client = await nats.connect(env["PODIUM_NATS_URL"].split(","), user=env["PODIUM_NATS_USER"],
                                password=env["PODIUM_NATS_PASSWORD"])
    try:
        js = client.jetstream()
        while time.monotonic() < deadline:
            infos = [await js.consumer_info(spec.stream, spec.durable) for spec in CONSUMERS
                     if spec.durable.startswith("leaderboard_service")]
            if all(info.num_pending == 0 and info.num_ack_pending == 0 for info in infos):
                return
            await asyncio.sleep(1)
    finally:
        await client.close()


async def invariants(platform: Platform, tally: Tally, settle_s: float, *, wiped: bool = False
                     ) -> dict[str, Any]:
    """Wait until nothing is in flight, then check what must hold; returns the figures (raises if one fails)."""
    dsn = platform.stack.env()["PODIUM_POSTGRES_DSN"]
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + settle_s
        while True:
            unfinished = await conn.fetchval(
                "SELECT count(*) FROM submissions.submissions WHERE status IN ('received', 'scoring')")
            if unfinished == 0 or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        rows = await conn.fetch("SELECT status, count(*) FROM submissions.submissions GROUP BY status")
        statuses = {row["status"]: row["count"] for row in rows}
        scored = await conn.fetchval(
            "SELECT count(*) FROM submissions.submissions WHERE status = 'scored' AND task_id = $1", TASK)
        # The last scores reach the projection: a message a killed leaderboard held comes back after AckWait.
        await leaderboard_caught_up(platform.env, deadline)
        projected = await conn.fetchval(
            "SELECT count(DISTINCT submission_id) FROM leaderboard.scores WHERE task_id = $1", TASK)
        duplicates = await conn.fetchval(
            "SELECT count(*) FROM (SELECT submission_id FROM leaderboard.scores GROUP BY submission_id, "
            "scorer_version HAVING count(*) > 1) d")
        drift = await conn.fetch(
            """SELECT q.team_id, q.used, count(s.id) FILTER (WHERE NOT s.quota_refunded) AS taken
               FROM submissions.quota_usage q LEFT JOIN submissions.submissions s
                 ON s.team_id = q.team_id AND s.task_id = q.task_id AND s.quota_day = q.day
               GROUP BY q.team_id, q.task_id, q.day, q.used
               HAVING q.used <> count(s.id) FILTER (WHERE NOT s.quota_refunded)""")
    finally:
        await conn.close()
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=30) as client:
        before = (await client.get(f"/api/v1/leaderboards/{TASK}")).json()
        rebuilt = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "leaderboard_service", "rebuild"], env=platform.env,
            capture_output=True, text=True, timeout=120)
        # After a wipe the streams lack what the board counts: the rebuild must refuse (and change nothing).
        refused = rebuilt.returncode != 0 and "JetStream's store was wiped" in rebuilt.stderr
        if not wiped:
            assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
        await asyncio.sleep(1)
        after = (await client.get(f"/api/v1/leaderboards/{TASK}")).json()
    counted = sum(entry["submissions"] for entry in before["public"])
    figures = {
        "submissions accepted": len(tally.submitted), "statuses": statuses, "stuck": unfinished,
        "scored": scored, "on the board (projection rows)": projected, "counted by the board": counted,
        "duplicate score rows": duplicates, "quota drift (teams)": len(drift),
        "board = rebuild": before["public"] == after["public"],
        **({"rebuild refused (history lost)": refused} if wiped else {}),
        "503 + Retry-After answers": tally.unavailable_with_retry_after, "client retries": tally.retried,
        "5xx not retried": len(tally.server_errors),
    }
    return figures


async def run(folder: Path, teams: int, settle_s: float, *, cluster: bool = False, wipe: bool = False
              ) -> tuple[dict[str, Any], list[tuple[str, float]]]:
    platform = Platform(folder, cluster=cluster)
    await asyncio.to_thread(platform.start)
    tally, log, stop = Tally(), [], asyncio.Event()
    try:
        truth = make_ground_truth(parse_competition(COMPETITION).tasks[0])
        async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=30) as client:
            admin = (await call(client, tally, "POST", "/auth/login",
                                json={"name": ADMIN[0], "password": ADMIN[1]})).json()["access_token"]
            loops = [asyncio.create_task(team_loop(client, tally, admin, i, stop, truth)) for i in range(teams)]
            await faults(platform, log, wipe=wipe)
            stop.set()
            await asyncio.gather(*loops)
        figures = await invariants(platform, tally, settle_s, wiped=wipe)
        figures["server errors"] = tally.server_errors[:5]
        return figures, log
    finally:
        await asyncio.to_thread(platform.stop)


def print_table(figures: dict[str, object], log: list[tuple[str, float]]) -> None:
    print("\nfault                                   healed in")
    for fault, seconds in log:
        print(f"  {fault:<38}{seconds:6.1f} s")
    print("\ninvariant / figure                      value")
    for name, value in figures.items():
        print(f"  {name:<38}{value}")


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos", description=(__doc__ or "").partition("\n")[0]
    )
    parser.add_argument("--teams", type=int, default=8)
    parser.add_argument("--settle", type=float, default=180, help="seconds allowed for the last jobs to finish")
    parser.add_argument("--cluster", action="store_true", help="NATS as a 3-node cluster (R3 streams); kill nodes")
    parser.add_argument("--wipe", action="store_true", help="wipe NATS's JetStream store (twice) instead")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="podium-chaos-"))  # a fresh platform every time
    figures, log = asyncio.run(run(folder, args.teams, args.settle, cluster=args.cluster, wipe=args.wipe))
    print_table(figures, log)
    failed = (figures["stuck"] or figures["duplicate score rows"] or figures["quota drift (teams)"]
              or not figures["board = rebuild"] or figures["scored"] != figures["on the board (projection rows)"]
              or figures.get("rebuild refused (history lost)") is False
              or figures["5xx not retried"])
    if failed:
        print(f"\nFAILED: the services' logs are in {folder}")
        sys.exit(1)
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
