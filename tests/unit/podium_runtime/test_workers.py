"""Several processes behind one port (`podium_runtime.workers`): each worker answers on the shared port, a killed
worker is started again while the others keep serving, a worker that cannot start stops the service (exit code 3),
and SIGTERM stops every worker and the parent with 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from uvicorn.config import STARTUP_FAILURE

from deploy.stack import free_port

ROOT = Path(__file__).resolve().parents[3]
WAIT_S = 60.0
PARENT = """
import sys
from podium_runtime.settings import ServiceSettings
from podium_runtime.workers import serve_workers
from tests.unit.podium_runtime import worker_apps
serve_workers(getattr(worker_apps, sys.argv[1]), ServiceSettings(service_name="test", http_port=int(sys.argv[2])), 2)
"""


ONE_PROCESS = """
import sys
from podium_runtime.main import serve
from podium_runtime.settings import ServiceSettings
from tests.unit.podium_runtime import worker_apps
serve(worker_apps.serving(None), ServiceSettings(service_name="test", http_port=int(sys.argv[2])))
"""


@contextmanager
def supervisor(app: str, log: Path, script: str = PARENT) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    with log.open("wb") as out:
        parent = subprocess.Popen([sys.executable, "-c", script, app, str(port)], cwd=ROOT, stdout=out,
                                  stderr=subprocess.STDOUT)
    try:
        yield parent, port
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def poll(condition: Callable[[], bool], what: str, parent: subprocess.Popen[bytes]) -> None:
    """Until `condition()` holds, for at most WAIT_S (the workers start fresh interpreters on a busy machine)."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert parent.poll() is None, f"the parent exited ({parent.returncode}) while waiting for {what}"
        assert time.monotonic() < deadline, f"no {what} within {WAIT_S} s"
        time.sleep(0.05)  # noqa: ASYNC251 — a poll interval, not a synchronisation


def worker_pids(port: int, seen: dict[str, int], path: str = "/") -> Callable[[], bool]:
    """A fresh connection (the kernel picks the worker's socket by it) records which worker answered with which
    process id (or, at `path` "/gc", with how many objects it froze); True once both workers have answered."""

    def both_seen() -> bool:
        try:
            response = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
        except httpx.TransportError:
            return False  # not listening yet, or a worker being replaced
        seen[response.headers["podium-worker"]] = int(response.text)
        return set(seen) == {"1", "2"}

    return both_seen


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def test_a_killed_worker_is_started_again_and_sigterm_stops_them_all(tmp_path: Path) -> None:
    with supervisor("serving", tmp_path / "parent.log") as (parent, port):
        first: dict[str, int] = {}
        poll(worker_pids(port, first), "answer from both workers", parent)
        assert first["1"] != first["2"], "two workers, two processes"

        os.kill(first["1"], signal.SIGKILL)
        after: dict[str, int] = {}
        poll(lambda: worker_pids(port, after)() and after["1"] != first["1"], "new worker 1", parent)
        assert after["2"] == first["2"], "the other worker kept serving, untouched"
        assert "a worker died: starting it again" in (tmp_path / "parent.log").read_text()

        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=WAIT_S) == 0
        assert not alive(after["1"]) and not alive(after["2"]), "no worker outlives the parent"
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=5)


@pytest.mark.parametrize("app", ["broken", "failing_start_up"])
def test_a_worker_that_cannot_start_stops_the_service(tmp_path: Path, app: str) -> None:
    with supervisor(app, tmp_path / "parent.log") as (parent, _port):
        assert parent.wait(timeout=WAIT_S) == STARTUP_FAILURE
    assert "a worker could not start: stopping the service" in (tmp_path / "parent.log").read_text()


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's exit is reaped by whoever adopted it, maybe late)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_no_worker_outlives_a_supervisor_killed_without_warning(tmp_path: Path) -> None:
    with supervisor("serving", tmp_path / "parent.log") as (parent, port):
        pids: dict[str, int] = {}
        poll(worker_pids(port, pids), "answer from both workers", parent)
        parent.kill()  # SIGKILL: no chance to stop its workers
        parent.wait()
        deadline = time.monotonic() + WAIT_S
        while any(running(pid) for pid in pids.values()):
            assert time.monotonic() < deadline, f"workers {pids} outlived their supervisor"
            time.sleep(0.05)  # noqa: ASYNC251 — a poll interval, not a synchronisation


def test_every_service_process_serves_with_its_start_up_heap_frozen(tmp_path: Path) -> None:
    """The objects alive when a process starts serving (its modules and app) are out of the garbage collector's
    sight, in each worker and in a single process alike: full collections no longer walk them."""
    with supervisor("serving", tmp_path / "workers.log") as (parent, port):
        frozen: dict[str, int] = {}
        poll(worker_pids(port, frozen, "/gc"), "answer from both workers", parent)
        assert all(count > 1000 for count in frozen.values()), frozen
    with supervisor("serving", tmp_path / "one.log", ONE_PROCESS) as (process, port):
        answer: list[int] = []

        def answered() -> bool:
            try:
                answer.append(int(httpx.get(f"http://127.0.0.1:{port}/gc", timeout=5).text))
            except httpx.TransportError:
                return False
            return True

        poll(answered, "an answer from the process", process)
        assert answer[-1] > 1000
