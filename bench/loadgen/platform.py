"""A platform of the load generator's own (the chaos harness's `Platform`: the embedded stack and every service as a
process on free loopback ports, stopped by PID) serving the load competition below; and each of its processes'
CPU time read from /proc, to tell where the cores went during a step."""

from __future__ import annotations

import os
from pathlib import Path

from bench.chaos import Platform

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
sort = "desc"
daily_quota = 100
max_upload_bytes = 1_000_000
samples = 8
shape = [3, 16, 16]
ground_truth = "{TASK}/ground_truth.zip"
"""
ADMIN = ("load-admin", "load-admin-password")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def load_platform(folder: Path) -> Platform:
    """The chaos harness's platform with the load competition, a durable stack (as `make run` keeps it) and the
    services' default settings."""
    return Platform(folder, competition=COMPETITION, admin=ADMIN, durable=True, extra_env={})


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
