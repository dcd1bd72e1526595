"""`python -m bench.loadgen`: see the package's docstring."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.chaos import Platform
from bench.loadgen import __doc__ as PACKAGE_DOC
from bench.loadgen.figures import percentile, render_table, spread
from bench.loadgen.platform import ADMIN, COMPETITION, TASK, cpu_seconds, load_platform, machine_busy_seconds
from bench.loadgen.teams import API_ROUTES, HEALTH, STORAGE_PUT, Recorder, Team, archives, health_prober, team_loop
from bench.loadgen.viewers import LoopLag
from proto.competition import parse_competition

GRACE_S = 5.0  # after the last score of a step, for the last pushes to arrive


@dataclass(frozen=True)
class Step:
    name: str
    teams: int
    viewers: int
    duration_s: float


@dataclass
class StepResult:
    step: Step
    wall_s: float
    record: Recorder
    viewers: dict
    generator_cpu: float
    generator_lag: dict[str, float]
    platform_cpu: dict[str, float]
    machine_cpu: float  # busy cores of the whole machine over the step (the platform, the generator, anything else)


async def enrol(client: httpx.AsyncClient, step: Step) -> list[Team]:
    """Import the step's teams in one CSV and log each in."""
    admin = (await client.post("/auth/login", json={"name": ADMIN[0], "password": ADMIN[1]})).json()["access_token"]
    names = [f"{step.name}-team-{i:03d}" for i in range(step.teams)]
    csv = "name,password\n" + "".join(f"{n},pw-{n}-secret\n" for n in names)
    report = await client.post("/api/v1/admin/teams", content=csv, timeout=600,
                               headers={"Authorization": f"Bearer {admin}", "content-type": "text/csv"})
    if report.status_code != 200 or report.json()["created"] != step.teams:
        raise SystemExit(f"team import failed: {report.status_code} {report.text[:500]}")
    gate = asyncio.Semaphore(8)

    async def login(name: str) -> str:
        async with gate:
            answer = await client.post("/auth/login", json={"name": name, "password": f"pw-{name}-secret"})
        answer.raise_for_status()
        return answer.json()["access_token"]

    tokens = await asyncio.gather(*(login(n) for n in names))
    return [Team(n, t, random.Random(f"{step.name}:{n}")) for n, t in zip(names, tokens, strict=True)]


def _pipes(process: asyncio.subprocess.Process) -> tuple[asyncio.StreamWriter, asyncio.StreamReader]:
    """The viewers process's stdin and stdout (it is started with a pipe for each)."""
    if process.stdin is None or process.stdout is None:
        raise RuntimeError("the viewers process was started without its pipes")
    return process.stdin, process.stdout


async def start_viewers(platform: Platform, step: Step, teams: list[Team], compression: str
                        ) -> asyncio.subprocess.Process:
    tokens_file = platform.folder / f"{step.name}-tokens.txt"
    tokens_file.write_text("\n".join(t.token for t in teams))  # noqa: ASYNC240 — once, before the step
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.loadgen.viewers", "--url", platform.gateway_url, "--task", TASK,
        "--tokens-file", str(tokens_file), "--count", str(step.viewers), "--ramp-s", str(max(2.0, step.viewers / 100)),
        "--compression", compression,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    _, viewers_out = _pipes(process)
    ready = json.loads(await asyncio.wait_for(viewers_out.readline(), 300))
    if ready["ready"] != step.viewers:
        print(f"  only {ready['ready']} of {step.viewers} viewers connected: {ready['errors']}", flush=True)
    return process


async def run_step(platform: Platform, step: Step, pool: list[tuple[bytes, str]], compression: str
                   ) -> StepResult:
    # An idle connection is not reused after 3 s: uvicorn closes it after 5 s, and a request sent as it closes
    # fails (a browser would retry it; httpx does not).
    limits = httpx.Limits(max_connections=step.teams + 16, max_keepalive_connections=step.teams + 16,
                          keepalive_expiry=3.0)
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=30, limits=limits) as api, \
            httpx.AsyncClient(timeout=30, limits=limits) as storage, \
            httpx.AsyncClient(base_url=platform.gateway_url, timeout=30, limits=limits) as prober:
        print(f"[{step.name}] importing {step.teams} teams, logging them in …", flush=True)
        teams = await enrol(api, step)
        print(f"[{step.name}] opening {step.viewers} WebSockets …", flush=True)
        viewers = await start_viewers(platform, step, teams, compression)
        try:
            return await _measure(platform, step, pool, api, storage, prober, teams, viewers)
        finally:
            if viewers.returncode is None:
                viewers.kill()
                await viewers.wait()


async def _measure(platform: Platform, step: Step, pool: list[tuple[bytes, str]], api: httpx.AsyncClient,
                   storage: httpx.AsyncClient, prober: httpx.AsyncClient, teams: list[Team],
                   viewers: asyncio.subprocess.Process) -> StepResult:
    print(f"[{step.name}] {step.teams} teams submitting for {step.duration_s:.0f} s …", flush=True)
    record, lag = Recorder(), LoopLag()
    lag_task = asyncio.create_task(lag.run())
    pids = platform.processes()
    cpu_before, process_before, machine_before = cpu_seconds(pids), time.process_time(), machine_busy_seconds()
    started = time.perf_counter()
    until = time.monotonic() + step.duration_s
    await asyncio.gather(health_prober(prober, record, until),
                         *(team_loop(api, storage, record, team, TASK, pool, until) for team in teams))
    await asyncio.sleep(GRACE_S)
    wall = time.perf_counter() - started
    generator_cpu = (time.process_time() - process_before) / wall
    cpu_after, machine = cpu_seconds(pids), (machine_busy_seconds() - machine_before) / wall
    lag_task.cancel()
    scored_file = platform.folder / f"{step.name}-scored.json"
    scored_file.write_text(json.dumps(record.scored_at))  # noqa: ASYNC240 — once, after the step
    viewers_in, viewers_out = _pipes(viewers)
    viewers_in.write(f"{scored_file}\n".encode())
    await viewers_in.drain()
    seen = json.loads(await asyncio.wait_for(viewers_out.readline(), 600))
    await viewers.wait()
    return StepResult(step, wall, record, seen, generator_cpu, lag.figures(),
                      {name: (cpu_after[name] - cpu_before[name]) / wall for name in pids}, machine)


def report(results: list[StepResult], compression: str) -> str:
    viewers = "offer permessage-deflate, as browsers do" if compression == "deflate" else "offer no compression"
    out = [f"\nLoad on one machine ({os.cpu_count()} CPUs): the platform and this generator share it; the viewers "
           f"{viewers}.",
           "API = every request of the teams to the gateway (start upload, complete, status, board, history); "
           "reference = GET /health, 5/s, under the same load.",
           "Push = a submission's scored_at → a viewer's receipt of the board message counting it.", ""]
    rows = []
    for r in results:
        api = r.record.api_latencies()
        health = r.record.latencies[HEALTH]
        a50, a95, a99 = spread(api)
        _, h95, _ = spread(health)
        push = r.viewers["push"]
        errors = len(r.record.errors) + r.viewers["errors"]
        rows.append([r.step.teams, r.step.viewers, r.step.duration_s, len(api), errors, a50, a95, a99, h95,
                     a95 / h95, len(r.record.scored_at), push["p50"] * 1000, push["p99"] * 1000,
                     f"{push['seen']:,}/{push['expected']:,}", r.generator_cpu + r.viewers["cpu_cores"]])
    out.append(render_table(
        ["teams", "viewers", "s", "requests", "errors", "API p50 ms", "p95 ms", "p99 ms", "health p95 ms",
         "p95 ÷ health", "scored", "push p50 ms", "push p99 ms", "pushes seen", "generator CPU"], rows))

    out += ["", "Per route (ms: p50 / p95 / p99, count)"]
    routes = [*API_ROUTES, STORAGE_PUT, HEALTH]
    out.append(render_table(["route", *(f"{r.step.teams} teams / {r.step.viewers} viewers" for r in results)], [
        [route, *(_route(r.record.latencies[route]) for r in results)] for route in routes]))

    out += ["", "Scoring, pushes and the generator"]
    out.append(render_table(["teams", "complete→scored p50 s", "p95 s", "push p95 ms", "push max ms",
                             "WS messages", "whole boards", "WS MB", "of which whole boards", "teams proc CPU",
                             "viewers proc CPU", "loop lag p99 ms (teams/viewers)"], [
        [r.step.teams, percentile(r.record.to_score, 50), percentile(r.record.to_score, 95),
         r.viewers["push"]["p95"] * 1000, r.viewers["push"]["max"] * 1000, sum(r.viewers["messages"].values()),
         r.viewers["messages"].get("board", 0), sum(r.viewers["bytes"].values()) / 1e6,
         r.viewers["bytes"].get("board", 0) / 1e6, r.generator_cpu,
         r.viewers["cpu_cores"], f"{r.generator_lag['loop_lag_p99_ms']:.0f} / {r.viewers['loop_lag_p99_ms']:.0f}"]
        for r in results]))

    out += ["", "CPU used by each platform process (cores, over the step)"]
    names = list(results[0].platform_cpu)
    out.append(render_table(["teams", *names, "platform", "generator", "other", "machine"], [
        [r.step.teams, *(r.platform_cpu[n] for n in names), sum(r.platform_cpu.values()),
         r.generator_cpu + r.viewers["cpu_cores"],
         r.machine_cpu - sum(r.platform_cpu.values()) - r.generator_cpu - r.viewers["cpu_cores"], r.machine_cpu]
        for r in results]))

    for r in results:
        first = r.record.errors[:5] + r.viewers["first_errors"]
        if first:
            out += ["", f"first errors, {r.step.teams} teams:", *(f"  {e}" for e in first)]
    out += ["", "targets: 0 errors, p95 API latency ≤ 500 ms, push p99 ≤ 1 s"]
    for r in results:
        errors = len(r.record.errors) + r.viewers["errors"]
        a95 = percentile(r.record.api_latencies(), 95) * 1000
        p99 = r.viewers["push"]["p99"] * 1000
        missing = r.viewers["push"]["missing"]
        out.append(f"  {r.step.teams} teams / {r.step.viewers} viewers: errors {errors} "
                   f"({'met' if errors == 0 else 'NOT met'}), API p95 {a95:.0f} ms "
                   f"({'met' if a95 <= 500 else f'NOT met, {a95 / 500:.1f}× the target'}), push p99 {p99:.0f} ms "
                   f"({'met' if p99 <= 1000 else f'NOT met, {p99 / 1000:.1f}× the target'})"
                   + (f", {missing:,} pushes never seen" if missing else ""))
    return "\n".join(out)


def _route(values: list[float]) -> str:
    if not values:
        return "–"
    p50, p95, p99 = spread(values)
    return f"{p50:.0f} / {p95:.0f} / {p99:.0f}  ({len(values):,})"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=(PACKAGE_DOC or "").partition("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of the big step (200 teams)")
    parser.add_argument("--small-duration", type=float, default=60.0, help="seconds of the smallest step (24 teams)")
    parser.add_argument("--quick", action="store_true", help="30 s per step")
    parser.add_argument("--teams", type=int, default=200)
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--ws-compression", choices=["deflate", "none"], default="deflate",
                        help="whether viewers offer permessage-deflate, as browsers do (default) — 'none' to diagnose")
    parser.add_argument("--keep", action="store_true", help="keep the platform's data and logs folder")
    args = parser.parse_args()
    big, small = (30.0, 30.0) if args.quick else (args.duration, args.small_duration)
    steps = [Step("luna", 24, 100, small), Step("full", args.teams, args.viewers, big)]
    pool = archives(parse_competition(COMPETITION).tasks[0])
    platform = load_platform(Path(tempfile.mkdtemp(prefix="podium-load-")))
    print(f"starting a platform under {platform.folder} …", flush=True)
    results = []
    try:
        platform.start()
        for step in steps:
            results.append(asyncio.run(run_step(platform, step, pool, args.ws_compression)))
    finally:
        platform.stop()
        if not args.keep:
            shutil.rmtree(platform.folder, ignore_errors=True)
    print(report(results, args.ws_compression))


if __name__ == "__main__":
    main()
