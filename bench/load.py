"""`make load`: teams submitting within their quotas and viewers following the board live, on this machine.

A platform of its own (the chaos harness's: embedded stack + every service as a process, free ports) serves, per
step, N teams that each submit a small PSNR archive every few seconds (direct upload, `?wait=` for the score), read
the board and their submissions, and M WebSocket viewers that follow the task (in a second process, so the
viewers' sockets and the teams' requests do not share one event loop). Figures per step:

- API latency p50/p95/p99 of the reads and of the upload itself (the scoring wait excluded), against the same
  figures for `GET /health` measured under the same load (the reference);
- errors (any 5xx, refused connection or timeout), submissions scored, time from upload to score;
- push latency: from the moment the submitting team holds its score to the moment each viewer sees the team's
  new submission count on the board (p50/p99 over every viewer and every score).

    python -m bench.load [--quick] [--duration 300]
Steps: LUNA's 24 teams / 100 viewers, then 200 teams / 1,000 viewers."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import websockets

from bench.chaos import ADMIN, COMPETITION, TASK, Platform
from deploy.demo import make_ground_truth, noisy_submission, npy_zip
from proto.competition import parse_competition


@dataclass
class Step:
    teams: int
    viewers: int
    duration_s: float


@dataclass
class Figures:
    reads: list[float] = field(default_factory=list)
    uploads: list[float] = field(default_factory=list)
    health: list[float] = field(default_factory=list)
    to_score: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    scored_at: dict[str, float] = field(default_factory=dict)  # "team:k" → when the team held its k-th score


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


async def timed(client: httpx.AsyncClient, figures: Figures, into: list[float], method: str, url: str,
                **kwargs: object) -> httpx.Response | None:
    started = time.perf_counter()
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        figures.errors.append(f"{method} {url}: {type(exc).__name__}")
        return None
    into.append(time.perf_counter() - started)
    if response.status_code >= 500:
        figures.errors.append(f"{method} {url}: {response.status_code}")
    return response


async def team(client: httpx.AsyncClient, figures: Figures, index: int, token: str, truth: dict, until: float,
               period_s: float) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    scored = 0
    await asyncio.sleep(period_s * (index % 20) / 20)  # spread the teams over one period
    while time.monotonic() < until:
        began = time.monotonic()
        data = npy_zip(noisy_submission(truth, 0.02 + 0.002 * (index % 50), seed=index * 10_000 + scored))
        started = time.perf_counter()
        try:
            response = await client.post(f"/api/v1/tasks/{TASK}/submissions?wait=60", headers=headers,
                                         files={"file": ("s.zip", data, "application/zip")})
        except httpx.HTTPError as exc:
            figures.errors.append(f"upload: {type(exc).__name__}")
            response = None
        if response is not None and response.status_code == 200 and response.json()["status"] == "scored":
            scored += 1
            figures.scored_at[f"{index}:{scored}"] = time.time()
            figures.to_score.append(time.perf_counter() - started)
        elif response is not None:
            figures.errors.append(f"upload: {response.status_code} {response.text[:120]}")
        await timed(client, figures, figures.reads, "GET", f"/api/v1/leaderboards/{TASK}", headers=headers)
        await timed(client, figures, figures.reads, "GET", "/api/v1/submissions", headers=headers)
        await timed(client, figures, figures.health, "GET", "/health")
        await asyncio.sleep(max(0.0, period_s - (time.monotonic() - began)))


async def upload_latency(client: httpx.AsyncClient, figures: Figures, token: str, truth: dict, until: float) -> None:
    """The upload alone (no scoring wait), sampled by one extra team every 2 s."""
    headers = {"Authorization": f"Bearer {token}"}
    n = 0
    while time.monotonic() < until:
        n += 1
        data = npy_zip(noisy_submission(truth, 0.3, seed=n))
        await timed(client, figures, figures.uploads, "POST", f"/api/v1/tasks/{TASK}/submissions", headers=headers,
                    files={"file": ("s.zip", data, "application/zip")})
        await asyncio.sleep(2)


async def viewers(url: str, token: str, count: int, duration_s: float, out: Path) -> None:
    """`count` sockets following the task; the first time each sees team T at k submissions."""
    seen: list[dict[str, float]] = [{} for _ in range(count)]

    async def one(index: int) -> None:
        counts: dict[str, int] = {}
        async with websockets.connect(f"{url.replace('http', 'ws', 1)}/ws?token={token}", max_queue=None) as ws:
            await ws.send(json.dumps({"follow": [TASK]}))
            while True:
                message = json.loads(await ws.recv())
                now = time.time()
                entries = message.get("public") or message.get("changed") or []
                for entry in entries:
                    team_name, n = entry["team_name"], entry["submissions"]
                    for k in range(counts.get(team_name, 0) + 1, n + 1):
                        seen[index].setdefault(f"{team_name}:{k}", now)
                    counts[team_name] = max(counts.get(team_name, 0), n)

    tasks = []
    for i in range(count):
        tasks.append(asyncio.create_task(one(i)))
        if i % 50 == 49:
            await asyncio.sleep(0.05)
    await asyncio.sleep(duration_s)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    out.write_text(json.dumps(seen))  # noqa: ASYNC240 — once, after the sockets are closed


async def run_step(platform: Platform, step: Step, number: int) -> dict[str, object]:
    truth = make_ground_truth(parse_competition(COMPETITION).tasks[0])
    limits = httpx.Limits(max_connections=step.teams + 20, max_keepalive_connections=step.teams + 20)
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=60, limits=limits) as client:
        admin = (await client.post("/auth/login", json={"name": ADMIN[0], "password": ADMIN[1]})).json()["access_token"]
        names = [f"load{number}-{i}" for i in range(step.teams + 1)]
        csv = "name,password\n" + "".join(f"{n},pw-{n}-secret\n" for n in names)
        report = await client.post("/api/v1/admin/teams", content=csv, timeout=300,
                                   headers={"Authorization": f"Bearer {admin}", "content-type": "text/csv"})
        assert report.status_code == 200, report.text
        tokens = [(await client.post("/auth/login", json={"name": n, "password": f"pw-{n}-secret"})).json()[
            "access_token"] for n in names]
        seen_file = platform.folder / f"seen-{number}.json"
        viewer_process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.load", "--viewers", str(step.viewers), "--url", platform.gateway_url,
            "--token", tokens[-1], "--duration", str(step.duration_s + 20), "--out", str(seen_file))
        await asyncio.sleep(8 if step.viewers > 200 else 3)  # the sockets open before the load starts
        figures = Figures()
        until = time.monotonic() + step.duration_s
        cpu_before = time.process_time()
        await asyncio.gather(*(team(client, figures, i, tokens[i], truth, until, period_s=15.0)
                               for i in range(step.teams)),
                             upload_latency(client, figures, tokens[-1], truth, until))
        generator_cpu = (time.process_time() - cpu_before) / step.duration_s
        await viewer_process.wait()
    seen = json.loads(seen_file.read_text())  # noqa: ASYNC240 — once, after the step
    push = [viewer[f"load{number}-{key.split(':')[0]}:{key.split(':')[1]}"] - at
            for key, at in figures.scored_at.items() for viewer in seen
            if f"load{number}-{key.split(':')[0]}:{key.split(':')[1]}" in viewer]
    expected = len(figures.scored_at) * len(seen)
    return {
        "teams": step.teams, "viewers": step.viewers, "duration s": step.duration_s,
        "requests": len(figures.reads) + len(figures.uploads) + len(figures.health) + len(figures.to_score),
        "errors": len(figures.errors), "scored": len(figures.scored_at),
        "read p50/p95/p99 ms": [round(percentile(figures.reads, q) * 1000, 1) for q in (50, 95, 99)],
        "upload p50/p95/p99 ms": [round(percentile(figures.uploads, q) * 1000, 1) for q in (50, 95, 99)],
        "health (reference) p50/p95/p99 ms": [round(percentile(figures.health, q) * 1000, 1) for q in (50, 95, 99)],
        "read p95 / health p95": round(percentile(figures.reads, 95) / percentile(figures.health, 95), 2),
        "upload→score p50/p95 s": [round(percentile(figures.to_score, q), 2) for q in (50, 95)],
        "push p50/p99 s": [round(percentile(push, q), 3) for q in (50, 99)],
        "pushes seen / expected": f"{len(push)} / {expected}",
        "generator CPU (cores)": round(generator_cpu, 2),
        "first errors": figures.errors[:3],
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of the big step")
    parser.add_argument("--quick", action="store_true", help="30 s per step")
    parser.add_argument("--viewers", type=int, help=argparse.SUPPRESS)  # the viewers' own process
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.viewers is not None:
        asyncio.run(viewers(args.url, args.token, args.viewers, args.duration, args.out))
        return
    big = 30.0 if args.quick else args.duration
    steps = [Step(24, 100, min(60.0, big)), Step(200, 1000, big)]
    platform = Platform(Path(tempfile.mkdtemp(prefix="podium-load-")))
    platform.start()
    try:
        results = [asyncio.run(run_step(platform, step, n)) for n, step in enumerate(steps)]
    finally:
        platform.stop()
    print("\nLoad on one machine (2 CPUs): the platform and this generator share it")
    for result in results:
        print()
        for name, value in result.items():
            print(f"  {name:<36}{value}")
    print("\ntargets: 0 errors, p95 API latency ≤ 500 ms, push p99 ≤ 1 s")


if __name__ == "__main__":
    main()
