"""A platform of the load generator's own (the chaos harness's `Platform`: the embedded stack and every service as a
process on free loopback ports, stopped by PID) serving the load competition below; and each of its processes'
CPU time (psutil), to tell where the cores went during a step."""

from __future__ import annotations

import contextlib
from pathlib import Path

import psutil

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
# Processes whose descendants are reported one by one: the gateway's (its PODIUM_GATEWAY_WORKERS processes), to
# tell whether the work spreads over them. Others' descendants (PostgreSQL's backends, a scorer's pool) add up.
SPLIT = frozenset({"gateway"})


def load_platform(folder: Path, gateway_processes: int) -> Platform:
    """The chaos harness's platform with the load competition, a durable stack (as `make run` keeps it), the
    services' default settings and `gateway_processes` gateway processes behind the gateway's one port."""
    return Platform(folder, competition=COMPETITION, admin=ADMIN, durable=True,
                    extra_env={"PODIUM_GATEWAY_WORKERS": str(gateway_processes)})


def _own_seconds(process: psutil.Process) -> float:
    """CPU seconds of a process and of its children it has reaped (a PostgreSQL backend that has ended)."""
    times = process.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each named process and its live descendants; for a name in `SPLIT`, each descendant
    apart, as `name[pid]`. A process gone meanwhile counts in its parent's reaped children once reaped."""
    seconds: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            root = psutil.Process(pid)
            seconds[name] = _own_seconds(root)
            descendants = root.children(recursive=True)
        except psutil.NoSuchProcess:
            continue
        for child in descendants:
            with contextlib.suppress(psutil.NoSuchProcess):
                own = _own_seconds(child)
                if name in SPLIT:
                    seconds[f"{name}[{child.pid}]"] = own
                else:
                    seconds[name] += own
    return seconds


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent busy so far (all processes, ours or not)."""
    times = psutil.cpu_times()
    return times.user + times.nice + times.system + times.irq + times.softirq + times.steal
