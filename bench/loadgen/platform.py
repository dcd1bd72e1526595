"""A platform of the load generator's own: the embedded stack (durable, as `make run` keeps it) and every service
as a process on free loopback ports, serving the load competition below; stopped by PID, services first. Also
reads each of its processes' CPU time from /proc, to tell where the cores went during a step."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from deploy.demo import seed_ground_truth
from deploy.run import SERVICES, service_env
from deploy.stack import HOST, EmbeddedStack, Server, StackPorts, http_ok, spawn, stop_all, wait_until
from podium_runtime.connections import create_s3
from podium_runtime.settings import PlatformSettings
from proto.competition import parse_competition

TASK = "load"
# Small archives (8 samples of 3×16×16, ~25 KB) so that scoring is not what is measured: the API and the push
# path are. The quota lets every team submit every 10–20 s for a whole run of both steps with room to spare.
COMPETITION = f"""
[competition]
name = "Load"

[[tasks]]
id = "{TASK}"
title = "PSNR under load"
kind = "cpu"
metric = "psnr"
scorer_version = "psnr-1"
sort = "desc"
daily_quota = 100
max_upload_bytes = 1_000_000
samples = 8
shape = [3, 16, 16]
ground_truth = "{TASK}/ground_truth.zip"
"""
ADMIN = ("load-admin", "load-admin-password")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class LoadPlatform:
    folder: Path
    stack: EmbeddedStack = field(init=False)
    env: dict[str, str] = field(default_factory=dict)
    services: list[Server] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.stack = EmbeddedStack(self.folder / "stack", StackPorts.free())

    @property
    def gateway_url(self) -> str:
        return f"http://{HOST}:{self.env['PODIUM_GATEWAY_HTTP_PORT']}"

    def start(self) -> None:
        self.stack.start()
        competition_file = self.folder / "competition.toml"
        competition_file.write_text(COMPETITION)
        settings = PlatformSettings(**{k.removeprefix("PODIUM_").lower(): v for k, v in self.stack.env().items()})
        seed_ground_truth(create_s3(settings), parse_competition(COMPETITION))
        self.env = {**service_env(self.stack, free_ports=True), "PODIUM_COMPETITION_FILE": str(competition_file)}
        for service in SERVICES:
            port = self.env[service.port_variable]
            server = spawn(service.module, [sys.executable, "-m", service.module],
                           self.folder / f"{service.module}.log", signal.SIGTERM, env=self.env)
            self.services.append(server)
            wait_until(lambda p=port: http_ok(f"http://{HOST}:{p}/readiness"), service.module, 60, server.proc,
                       server.log)
        subprocess.run([sys.executable, "-m", "auth_service", "create-admin", "--name", ADMIN[0],  # noqa: S603
                        "--password", ADMIN[1]], env=self.env, check=True, capture_output=True, timeout=60)

    def stop(self, keep: bool = False) -> None:
        stop_all(self.services, timeout_s=15)
        self.services.clear()
        self.stack.stop()
        if not keep:
            shutil.rmtree(self.folder, ignore_errors=True)

    def processes(self) -> dict[str, int]:
        """Name → PID of every process of the platform (the stack's servers and the services)."""
        return {s.name: s.proc.pid for s in [*self.stack.servers, *self.services]}


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent PID, CPU seconds of the process and of its reaped children) from /proc/PID/stat."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "; fields[0] is the state
    return int(fields[1]), sum(int(v) for v in fields[11:15]) / _CLOCK_TICKS


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each named process and its live descendants (PostgreSQL forks a backend per
    connection; the ones already gone are in their parent's children time)."""
    stats = {int(p): s for p in os.listdir("/proc") if p.isdigit() and (s := _stat(int(p))) is not None}
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)

    def tree(pid: int) -> float:
        return stats.get(pid, (0, 0.0))[1] + sum(tree(c) for c in children.get(pid, ()))

    return {name: tree(pid) for name, pid in pids.items()}


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent busy so far (all processes, ours or not): /proc/stat."""
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in stat.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS
