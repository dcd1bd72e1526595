"""`python -m bench.leaderboard`: the leaderboard's costs, each against a reference measured in the same run.

1. Rebuild: 100k score events of 1,000 teams replayed into an empty projection and the board computed,
   against a raw JetStream ordered consumer merely reading the same stream.
2. `GET /api/v1/leaderboards/{task}` from the gateway process, against a bare Litestar hello-world served the
   same way (uvicorn, one process each), under the same client load.
3. Fan-out: one board change (a KV put) to 1,000 WebSocket clients following the task: latency p50/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import msgspec
import nats
import websockets
from websockets.typing import Subprotocol

from deploy.run import own_user
from deploy.stack import EmbeddedStack, StackPorts, free_port, http_ok, spawn, stop_all, wait_until
from leaderboard_service import projection
from leaderboard_service.rebuild import rebuild
from podium_runtime.connections import create_pg_pool, ensure_kv_buckets, ensure_streams
from podium_runtime.migrations import apply_migrations, service_migrations
from proto import codec
from proto.competition import Competition, Task
from proto.events import ScoreComputed, TeamCreated
from proto.streams import LEADERBOARDS

TASK = Task(id="bench", title="bench", kind="cpu", metric="psnr", shape=(1,),
            ground_truth="x")
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def seed(js, teams: int, events: int) -> None:  # noqa: ANN001
    async def publish(event) -> None:  # noqa: ANN001
        await js.publish(event.subject(), codec.encode(event), headers={"Nats-Msg-Id": event.msg_id()})

    await asyncio.gather(*(publish(TeamCreated(team_id=str(t), name=f"team-{t}")) for t in range(teams)))
    chunk = 2000
    for start in range(0, events, chunk):
        await asyncio.gather(*(publish(ScoreComputed(
            submission_id=str(n), team_id=str(n % teams), task_id=TASK.id, scorer_version=TASK.scorer_version,
            public_score=(n * 7919 % 10007) / 100, private_score=(n * 104729 % 10007) / 100,
            submitted_at=T0 + timedelta(seconds=n))) for n in range(start, min(start + chunk, events))))


async def raw_read(nc, events: int) -> float:  # noqa: ANN001
    js = nc.jetstream()
    started = time.perf_counter()
    subscription = await js.subscribe("score.>", ordered_consumer=True)
    for _ in range(events):
        await subscription.next_msg(timeout=10)
    elapsed = time.perf_counter() - started
    await subscription.unsubscribe()
    return elapsed


async def load(url: str, seconds: float, concurrency: int) -> float:
    """Requests per second one asyncio client sustains against `url` with `concurrency` in flight."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            response = await client.get(url)
            assert response.status_code == 200, response.text[:200]
            done += 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return done / (time.perf_counter() - started)


async def fan_out(gateway: str, token: str, kv, board: bytes, clients: int) -> list[float]:  # noqa: ANN001
    url = f"{gateway.replace('http://', 'ws://')}/ws"
    protocols = [Subprotocol("podium"), Subprotocol(f"bearer.{token}")]  # the token never in the URL
    sockets = []
    for _ in range(clients):
        socket = await websockets.connect(url, max_queue=None, subprotocols=protocols)
        await socket.send('{"follow": ["bench"]}')
        sockets.append(socket)
    for socket in sockets:  # the current board, at once
        await socket.recv()
    put_at = time.perf_counter()
    await kv.put(TASK.id, board)  # one rank change: every follower is sent it

    async def receive(socket) -> float:  # noqa: ANN001
        await socket.recv()
        return time.perf_counter() - put_at

    latencies = await asyncio.gather(*(receive(socket) for socket in sockets))
    await asyncio.gather(*(socket.close() for socket in sockets))
    return list(latencies)


async def run(args: argparse.Namespace, stack: EmbeddedStack, folder: Path) -> None:
    env = {**os.environ, **stack.env(), "PYTHONUNBUFFERED": "1"}
    settings = stack.settings()
    nc = await nats.connect(env["PODIUM_NATS_URL"], **settings.nats_auth)
    js = nc.jetstream()
    await ensure_streams(js)
    await ensure_kv_buckets(js)
    print(f"seeding {args.events:,} score events of {args.teams:,} teams …", flush=True)
    await seed(js, args.teams, args.events)

    raw = await raw_read(nc, args.events)
    pool = await create_pg_pool(settings, max_size=4)
    async with pool.acquire() as conn:
        await apply_migrations(conn, projection.SCHEMA, service_migrations("leaderboard_service"))
    started = time.perf_counter()
    report = await rebuild(pool, js, Competition(tasks=(TASK,)))
    async with pool.acquire() as conn:
        board = await projection.board(conn, TASK)
    ours = time.perf_counter() - started
    kv = await js.key_value(LEADERBOARDS.name)
    encoded = msgspec.json.encode(board)
    await kv.put(TASK.id, encoded)
    await pool.close()

    # Services for the HTTP and WebSocket parts: auth (tokens), the gateway, and the hello-world reference.
    servers = []
    try:
        auth_port, gateway_port, hello_port = free_port(), free_port(), free_port()
        servers.append(spawn("auth_service", [sys.executable, "-m", "auth_service"], folder / "auth.log",
                             signal.SIGTERM, env={**own_user(stack, "auth_service", env),
                                                  "PODIUM_AUTH_SERVICE_HTTP_PORT": str(auth_port)}))
        wait_until(lambda: http_ok(f"http://127.0.0.1:{auth_port}/readiness"), "auth_service", 60,
                   servers[-1].proc, servers[-1].log)
        servers.append(spawn("gateway", [sys.executable, "-m", "gateway"], folder / "gateway.log", signal.SIGTERM,
                             env={**own_user(stack, "gateway", env), "PODIUM_GATEWAY_HTTP_PORT": str(gateway_port),
                                  "PODIUM_RATE_LIMIT_PER_MINUTE": "100000000", "PODIUM_LOG_LEVEL": "WARNING"}))
        wait_until(lambda: http_ok(f"http://127.0.0.1:{gateway_port}/readiness"), "gateway", 60,
                   servers[-1].proc, servers[-1].log)
        servers.append(spawn("hello", [sys.executable, "-m", "uvicorn", "bench.hello:app", "--host", "127.0.0.1",
                                       "--port", str(hello_port), "--log-level", "warning"], folder / "hello.log",
                             signal.SIGTERM, env=env))
        wait_until(lambda: http_ok(f"http://127.0.0.1:{hello_port}/hello"), "hello", 30, servers[-1].proc,
                   servers[-1].log)
        board_url = f"http://127.0.0.1:{gateway_port}/api/v1/leaderboards/{TASK.id}"
        hello_url = f"http://127.0.0.1:{hello_port}/hello"
        ours_rps = await load(board_url, args.seconds, args.concurrency)
        hello_rps = await load(hello_url, args.seconds, args.concurrency)
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "auth_service", "create-admin", "--name", "bench", "--password", "bench-password"],
            env=env, capture_output=True, text=True, timeout=60, check=True)
        async with httpx.AsyncClient() as client:
            token = (await client.post(f"http://127.0.0.1:{gateway_port}/auth/login",
                                       json={"name": "bench", "password": "bench-password"})).json()["access_token"]
        # One rank change: the second team overtakes the first.
        first, second = board.public[0], board.public[1]
        changed = msgspec.structs.replace(board, public=[
            msgspec.structs.replace(second, rank=1, score=first.score + 1, rank_change=1),
            msgspec.structs.replace(first, rank=2, rank_change=-1), *board.public[2:]])
        latencies = await fan_out(f"http://127.0.0.1:{gateway_port}", token, kv, msgspec.json.encode(changed),
                                  args.clients)
    finally:
        stop_all(servers, timeout_s=15)
        await nc.close()

    board_kib = len(encoded) / 1024
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    rows = [
        ("rebuild (events/s)", args.events / ours, "raw ordered consumer", args.events / raw, raw / ours, "≥ 0.5×"),
        (f"GET board (req/s, {board_kib:.0f} KiB)", ours_rps, "bare Litestar hello", hello_rps,
         ours_rps / hello_rps, "≥ 0.7×"),
    ]
    print(f"\nLeaderboard, {args.events:,} score events of {args.teams:,} teams; {os.cpu_count()} CPUs, one machine")
    print(f"{'part':34s} {'ours':>10s}   {'reference':22s} {'ref':>10s}   {'ratio':>7s}   target")
    for part, value, reference, ref_value, ratio, target in rows:
        print(f"{part:34s} {value:>10,.0f}   {reference:22s} {ref_value:>10,.0f}   {ratio:>6.2f}×   {target}")
    print(f"fan-out of one change to {args.clients:,} sockets: p50 {p50:.3f} s, p99 {p99:.3f} s, "
          f"max {max(latencies):.3f} s (target p99 ≤ 1 s)")
    print(f"rebuild: {report.events:,} events replayed, {report.scores:,} scores copied, board of "
          f"{len(board.public)} teams; load: {args.concurrency} concurrent requests for {args.seconds:.0f} s "
          "from one asyncio client on the same machine")


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.leaderboard", description=(__doc__ or "").partition("\n")[0]
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--teams", type=int, default=1_000)
    parser.add_argument("--clients", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="podium-bench-"))
    with EmbeddedStack(folder / "stack", StackPorts.free(), durable=False) as stack:
        asyncio.run(run(args, stack, folder))


if __name__ == "__main__":
    main()
