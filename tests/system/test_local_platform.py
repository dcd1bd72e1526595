"""The local platform as a user runs it: the embedded stack alone, and `make run`'s supervisor with every
service as its own process — healthy, migrated, and leaving no process behind when stopped."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from auth_service.admin_cli import DEMO_TEAM
from deploy.stack import EmbeddedStack, StackPorts, http_ok

pytestmark = pytest.mark.system
ROOT = Path(__file__).resolve().parents[2]


def processes_mentioning(text: str) -> list[psutil.Process]:
    """Live processes whose command line mentions `text` (our data folders are unique per test)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info["status"] != psutil.STATUS_ZOMBIE and text in " ".join(proc.info["cmdline"] or ()):
            found.append(proc)
    return found


def wait_gone(procs: list[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    _gone, alive = psutil.wait_procs(procs, timeout=timeout_s)
    return [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_stack_starts_healthy_and_stops_without_leftovers(tmp_path: Path) -> None:
    stack = EmbeddedStack(tmp_path / "data", StackPorts.free(), durable=False)
    with stack:
        pids = stack.pids()
        assert set(pids) == {"nats", "postgres", "s3"}
        assert all(psutil.pid_exists(pid) for pid in pids.values())
        assert http_ok(f"http://127.0.0.1:{stack.ports.nats_monitor}/healthz?js-enabled-only=true")
        # Each server and what it started (PostgreSQL's own processes: it runs from a staged folder as root).
        servers = [child for pid in pids.values()
                   for child in (psutil.Process(pid), *psutil.Process(pid).children(recursive=True))]
        assert len(servers) > 3
        pgdata = str((stack.data_dir / "postgres").resolve())
        assert {p.pid for p in processes_mentioning(pgdata)} == {pids["postgres"]}
    assert wait_gone(servers, 5) == []
    assert processes_mentioning(str(tmp_path)) == [] and processes_mentioning(pgdata) == []


def start_platform(data_dir: Path) -> tuple[subprocess.Popen[str], str, list[psutil.Process]]:
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "deploy.run", "--data-dir", str(data_dir), "--free-ports"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    banner = []
    deadline = time.monotonic() + 120
    assert supervisor.stdout is not None
    while time.monotonic() < deadline:
        line = supervisor.stdout.readline()
        if not line:
            break
        banner.append(line)
        if "Press Ctrl-C" in line:
            break
    text = "".join(banner)
    assert f'password "{DEMO_TEAM[1]}"' in text, text
    match = re.search(r"gateway\s+(http://127\.0\.0\.1:\d+)/", text)
    assert match, f"no gateway URL in the banner:\n{text}\nlogs: {list((data_dir / 'logs').glob('*'))}"
    children = psutil.Process(supervisor.pid).children(recursive=True)
    return supervisor, match[1], children


def test_make_run_brings_up_every_service_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    supervisor, gateway, children = start_platform(tmp_path / "data")
    try:
        # nats, postgres (+ its workers), s3 and the six services.
        assert len(children) >= 9, [c.cmdline() for c in children]
        status, health = get_json(f"{gateway}/health")
        assert (status, health["ready"]) == (200, True)
        status, platform = get_json(f"{gateway}/api/v1/health")
        assert status == 200, platform
        services = {s["service"]: s for s in platform["services"]}
        assert set(services) == {"auth_service", "submission_service", "cpu_scorer", "gpu_scorer",
                                 "leaderboard_service"}
        assert services["auth_service"]["checks"] == {"nats": "ok", "postgres": "ok"}
        assert services["submission_service"]["checks"] == {"nats": "ok", "postgres": "ok", "s3": "ok"}
        status, _ = get_json(f"{gateway}/docs/openapi.json")
        assert status == 200
        # The demo team printed in the banner can log in.
        login = urllib.request.Request(
            f"{gateway}/auth/login", data=json.dumps({"name": DEMO_TEAM[0], "password": DEMO_TEAM[1]}).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(login, timeout=10) as response:
            assert json.loads(response.read())["token_type"] == "bearer"
    finally:
        supervisor.send_signal(signal.SIGINT)  # what Ctrl-C sends
        output, _ = supervisor.communicate(timeout=60)
    assert supervisor.returncode == 0, output
    assert "podium: stopped." in output
    assert wait_gone(children, 5) == []
    assert processes_mentioning(str(tmp_path)) == []


def test_a_killed_supervisor_leaves_no_orphans(tmp_path: Path) -> None:
    supervisor, _gateway, children = start_platform(tmp_path / "data")
    os.kill(supervisor.pid, signal.SIGKILL)
    supervisor.wait(timeout=10)
    # Every child was started with a parent-death signal, so a kill -9 of `make run` still cleans up.
    assert wait_gone(children, 30) == []
    assert processes_mentioning(str(tmp_path)) == []
