"""`python -m bench.loadgen`: see the package's docstring."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import ssl
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil

from bench.chaos import Platform
from bench.loadgen import __doc__ as PACKAGE_DOC
from bench.loadgen.platform import ADMIN, COMPETITION, TASK, cpu_seconds, load_platform, machine_busy_seconds
from bench.loadgen.plot import render_png
from bench.loadgen.report import (
    GENERATOR_TEAMS,
    GENERATOR_VIEWERS,
    STORM_RAMP_S,
    Step,
    StepResult,
    panels,
    report,
)
from bench.loadgen.teams import Recorder, Team, archives, health_prober, team_loop
from bench.loadgen.viewers import LoopLag
from proto.competition import parse_competition

GRACE_S = 5.0  # after the last score of a step, for the last pushes to arrive
LOGIN_TRIES = 5
STORM_SETTLE_S = 5.0  # API latency "during the storm": requests sent from its first connection to this after its last


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
        # Setup, not measured: a login the auth service could not answer in time (argon2 on a busy machine) is
        # tried again after the Retry-After it was given, as a careful client does.
        for _ in range(LOGIN_TRIES):
            async with gate:
                answer = await client.post("/auth/login", json={"name": name, "password": f"pw-{name}-secret"})
            if answer.status_code != 503:
                break
            await asyncio.sleep(float(answer.headers.get("retry-after", "2")))
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
    """The viewers process: connected and following before the step begins, or — for a storm — waiting for the
    word to connect within STORM_RAMP_S."""
    tokens_file = platform.folder / f"{step.name}-tokens.txt"
    tokens_file.write_text("\n".join(t.token for t in teams))  # noqa: ASYNC240 — once, before the step
    ramp_s = STORM_RAMP_S if step.storm else max(2.0, step.viewers / 100)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.loadgen.viewers", "--url", platform.gateway_url, "--task", TASK,
        "--tokens-file", str(tokens_file), "--count", str(step.viewers), "--ramp-s", str(ramp_s),
        "--compression", compression, *(["--wait"] if step.storm else []),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    _, viewers_out = _pipes(process)
    first = json.loads(await asyncio.wait_for(viewers_out.readline(), 300))
    if not step.storm:
        _say_ready(step, first)
    return process


def _say_ready(step: Step, ready: dict) -> None:
    print(f"[{step.name}] {ready['ready']} of {step.viewers} viewers following after {ready['open_s']:.1f} s"
          + (f": {ready['errors']}" if ready["errors"] else ""), flush=True)


async def run_step(platform: Platform, gateway_processes: int, step: Step, pool: list[tuple[bytes, str]],
                   compression: str) -> StepResult:
    # An idle connection is not reused after 3 s: uvicorn closes it after 5 s, and a request sent as it closes
    # fails (a browser would retry it; httpx does not).
    limits = httpx.Limits(max_connections=step.teams + 16, max_keepalive_connections=step.teams + 16,
                          keepalive_expiry=3.0)
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=30, limits=limits) as api, \
            httpx.AsyncClient(base_url=platform.gateway_url, timeout=30, limits=limits) as prober:
        print(f"[{step.name}] importing {step.teams} teams, logging them in …", flush=True)
        teams = await enrol(api, step)
        if not step.storm:
            print(f"[{step.name}] opening {step.viewers} WebSockets …", flush=True)
        viewers = await start_viewers(platform, step, teams, compression)
        try:
            return await _measure(platform, gateway_processes, step, pool, prober, teams, viewers)
        finally:
            if viewers.returncode is None:
                viewers.kill()
                await viewers.wait()


# A team's own connections, as each participant's CLI has: one pool shared by 200 teams made httpx check every pooled
# connection on each request (the generator then spent more CPU than the gateway and its loop lagged).
TEAM_LIMITS = httpx.Limits(max_connections=2, max_keepalive_connections=2, keepalive_expiry=3.0)
TLS = ssl.create_default_context()  # one for every client: httpx builds one per client otherwise (milliseconds each)


async def own_team_loop(platform: Platform, record: Recorder, team: Team, pool: list[tuple[bytes, str]],
                        until: float) -> None:
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=30, limits=TEAM_LIMITS, verify=TLS) as api, \
            httpx.AsyncClient(timeout=30, limits=TEAM_LIMITS, verify=TLS) as storage:
        await team_loop(api, storage, record, team, TASK, pool, until)


@dataclass(frozen=True)
class StormWindow:
    began: float  # monotonic: the word to connect
    connected: float  # monotonic: the last socket following
    cores: dict[str, float]  # per process (the platform's, the generator's two) between the two
    machine_cores: float

    @property
    def api_until(self) -> float:
        """The end of "while connecting" for the API figures: STORM_SETTLE_S after the last socket follows."""
        return self.connected + STORM_SETTLE_S


def _cores(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    """Cores per process between two readings of CPU seconds (a process new since `before` counts from 0)."""
    return {name: (after[name] - before.get(name, 0.0)) / seconds for name in after}


def _cpu_with_generator(pids: dict[str, int], viewers: asyncio.subprocess.Process) -> dict[str, float]:
    """CPU seconds so far of each platform process, of this process (the teams) and of the viewers process."""
    return {**cpu_seconds(pids), GENERATOR_TEAMS: time.process_time(),
            GENERATOR_VIEWERS: sum(psutil.Process(viewers.pid).cpu_times()[:2])}


async def _storm(viewers: asyncio.subprocess.Process, step: Step, pids: dict[str, int]) -> StormWindow:
    """At `step.storm_at_s`, let the viewers connect; each process's CPU from then until the last socket follows."""
    await asyncio.sleep(step.storm_at_s)
    print(f"[{step.name}] {step.viewers} viewers connecting within {STORM_RAMP_S:.0f} s …", flush=True)
    viewers_in, viewers_out = _pipes(viewers)
    cpu_before, machine_before, began = _cpu_with_generator(pids, viewers), machine_busy_seconds(), time.monotonic()
    viewers_in.write(b"open\n")
    await viewers_in.drain()
    ready = json.loads(await asyncio.wait_for(viewers_out.readline(), 300))
    cpu_after, machine_after, connected = _cpu_with_generator(pids, viewers), machine_busy_seconds(), time.monotonic()
    _say_ready(step, ready)
    seconds = connected - began
    return StormWindow(began, connected, _cores(cpu_before, cpu_after, seconds),
                       (machine_after - machine_before) / seconds)


async def _measure(platform: Platform, gateway_processes: int, step: Step, pool: list[tuple[bytes, str]],
                   prober: httpx.AsyncClient, teams: list[Team], viewers: asyncio.subprocess.Process) -> StepResult:
    print(f"[{step.name}] {step.teams} teams submitting for {step.duration_s:.0f} s …", flush=True)
    record, lag = Recorder(), LoopLag()
    lag_task = asyncio.create_task(lag.run())
    pids = platform.processes()
    cpu_before, process_before, machine_before = cpu_seconds(pids), time.process_time(), machine_busy_seconds()
    started = time.perf_counter()
    until = time.monotonic() + step.duration_s
    storm = asyncio.create_task(_storm(viewers, step, pids)) if step.storm else None
    await asyncio.gather(health_prober(prober, record, until),
                         *(own_team_loop(platform, record, team, pool, until) for team in teams))
    window = await storm if storm is not None else None
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
    return StepResult(step, gateway_processes, wall, record, seen, generator_cpu, lag.figures(),
                      _cores(cpu_before, cpu_after, wall), machine,
                      record.api_latencies((window.began, window.api_until)) if window is not None else [],
                      window.cores if window is not None else {},
                      window.machine_cores if window is not None else math.nan)


def run_platform(gateway_processes: int, steps: list[Step], pool: list[tuple[bytes, str]], compression: str,
                 keep: bool) -> list[StepResult]:
    """Every step on a platform of its own whose gateway runs as `gateway_processes` processes."""
    platform = load_platform(Path(tempfile.mkdtemp(prefix=f"podium-load-{gateway_processes}-")), gateway_processes)
    print(f"starting a platform with PODIUM_GATEWAY_WORKERS={gateway_processes} under {platform.folder} …",
          flush=True)
    results = []
    try:
        platform.start()
        for step in steps:
            results.append(asyncio.run(run_step(platform, gateway_processes, step, pool, compression)))
    finally:
        platform.stop()
        if not keep:
            shutil.rmtree(platform.folder, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=(PACKAGE_DOC or "").partition("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of the big step (200 teams)")
    parser.add_argument("--small-duration", type=float, default=60.0, help="seconds of the smallest step (24 teams)")
    parser.add_argument("--storm-duration", type=float, default=60.0, help="seconds of the connection storm step")
    parser.add_argument("--quick", action="store_true", help="30 s per step")
    parser.add_argument("--teams", type=int, default=200)
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--steps", nargs="+", choices=["luna", "full", "storm"], default=["luna", "full", "storm"],
                        help="which steps to run (default: all three, in this order)")
    parser.add_argument("--gateway-processes", type=int, nargs="+", metavar="N",
                        help="PODIUM_GATEWAY_WORKERS of each platform (default: 1 and this machine's cores)")
    parser.add_argument("--ws-compression", choices=["deflate", "none"], default="deflate",
                        help="whether viewers offer permessage-deflate, as browsers do (default) — 'none' to diagnose")
    parser.add_argument("--out", type=Path, default=Path("test-artifacts/load"),
                        help="where the report and the plot go (a folder per run, named after its start)")
    parser.add_argument("--keep", action="store_true", help="keep the platforms' data and logs folders")
    args = parser.parse_args()
    big, small, storm = (30.0, 30.0, 30.0) if args.quick else (args.duration, args.small_duration, args.storm_duration)
    every_step = {"luna": Step("luna", 24, 100, small), "full": Step("full", args.teams, args.viewers, big),
                  "storm": Step("storm", args.teams, args.viewers, storm, storm=True)}
    steps = [every_step[name] for name in dict.fromkeys(args.steps)]
    counts = list(dict.fromkeys(args.gateway_processes or [1, os.cpu_count() or 1]))
    out = args.out / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    pool = archives(parse_competition(COMPETITION).tasks[0])
    results = [r for n in counts for r in run_platform(n, steps, pool, args.ws_compression, args.keep)]
    text = report(results, args.ws_compression)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.txt").write_text(text + "\n")
    (out / "load.png").write_bytes(render_png(*panels(results)))
    print(text)
    print(f"\nreport: {out / 'report.txt'}; plot: {out / 'load.png'}")


if __name__ == "__main__":
    main()
