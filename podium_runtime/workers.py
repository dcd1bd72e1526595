"""Several processes of one service behind one port (the gateway's `PODIUM_GATEWAY_WORKERS`).

The parent binds one listening socket per worker on the same port with `SO_REUSEPORT` (the kernel spreads new
connections over them) and starts each worker in a fresh interpreter (`spawn`): it builds its own app — its own
NATS connection and in-memory state — and serves its socket with `uvicorn.Server`. The parent keeps the sockets
open, so connections that arrive while a worker (re)starts wait in its socket's queue instead of being refused.

Supervision: SIGTERM or SIGINT to the parent is passed on to every worker as SIGTERM (each shuts down gracefully),
the parent waits for them and exits 0. A worker that dies while serving (killed, out of memory, a crash) is logged
and started again on its socket, so the other workers' clients keep their sockets. A worker that could not start
(its app or its lifespan failed: a wrong setting fails every time) stops the whole service with exit code 3,
uvicorn's own code for a failed start-up, for the process supervisor to see.

Metrics: the workers share one prometheus_client multiprocess folder (`PROMETHEUS_MULTIPROC_DIR`, a fresh
temporary one unless set), so `/metrics` on any worker answers for the whole service."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import uvicorn
from prometheus_client import multiprocess
from uvicorn.config import STARTUP_FAILURE

from podium_runtime.logging import configure_logging
from podium_runtime.main import server_options
from podium_runtime.processes import die_with_parent, freeze_startup_heap
from podium_runtime.settings import ServiceSettings
from podium_runtime.telemetry import configure_tracing

log = logging.getLogger(__name__)

# Every response (and WebSocket handshake) names the worker that served it (1…N): an operator reading a slow
# request, or a test that must reach each process, knows where it landed. Only the index: never a process id.
WORKER_HEADER = b"podium-worker"
# How long the workers get to finish their requests and close their connections (uvicorn's graceful shutdown, 10 s,
# then the lifespan's closing) before they are killed.
STOP_TIMEOUT_S = 20.0
LISTEN_BACKLOG = 2048
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"

AppFactory = Callable[[Any], Any]


class WorkerHeader:
    """The ASGI app, with `podium-worker: <index>` on every HTTP response and WebSocket handshake."""

    def __init__(self, app: Any, index: int) -> None:
        self.app = app
        self.index = str(index).encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_named(message: dict[str, Any]) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                message = {**message, "headers": [*message.get("headers", ()), (WORKER_HEADER, self.index)]}
            await send(message)

        await self.app(scope, receive, send_named)


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` sockets listening on one port with SO_REUSEPORT (port 0: the first one's free port for all)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
            sock.listen(LISTEN_BACKLOG)
            address = (address[0], sock.getsockname()[1], *address[2:])
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def run_worker(factory: AppFactory, settings: ServiceSettings, index: int, sock: socket.socket) -> None:
    """One worker (in its own interpreter): its own app, then logs and tracing (as `serve` does: after the app, whose
    building configures Litestar's logging), served on `sock` until SIGTERM — or until the supervisor dies."""
    die_with_parent()
    try:
        app = WorkerHeader(factory(settings), index)
    except Exception:
        configure_logging(settings.service_name, settings.log_level)
        log.exception("a worker could not build its app", extra={"worker": index})
        sys.exit(STARTUP_FAILURE)
    configure_logging(settings.service_name, settings.log_level)
    tracing = configure_tracing(settings.service_name, settings.traces_exporter)
    server = uvicorn.Server(uvicorn.Config(app, **server_options(settings)))
    freeze_startup_heap()
    try:
        server.run(sockets=[sock])
    finally:
        if tracing is not None:
            tracing.shutdown()
        if not server.started:
            sys.exit(STARTUP_FAILURE)


class Workers:
    """The parent: starts `count` workers of `factory(settings)` on one port and keeps them running until told to
    stop (the module's docstring says how)."""

    def __init__(self, factory: AppFactory, settings: ServiceSettings, count: int) -> None:
        self.factory, self.settings, self.count = factory, settings, count
        self.context = multiprocessing.get_context("spawn")
        self.processes: dict[int, BaseProcess] = {}
        self.stopping = False

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT (0) or until a worker could not start (STARTUP_FAILURE)."""
        sockets = listening_sockets(self.settings.http_host, self.settings.http_port, self.count)
        metrics_dir = os.environ.get(MULTIPROC_DIR)
        own_metrics_dir = metrics_dir is None
        if metrics_dir is None:
            metrics_dir = os.environ[MULTIPROC_DIR] = tempfile.mkdtemp(prefix=f"{self.settings.service_name}-metrics-")
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_write, False)
        previous_wakeup = signal.set_wakeup_fd(wake_write)
        previous_handlers = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        log.info("workers starting", extra={"workers": self.count, "port": sockets[0].getsockname()[1]})
        try:
            for index, sock in enumerate(sockets, start=1):
                self._start(index, sock)
            return self._supervise(sockets, wake_read, metrics_dir)
        finally:
            self._stop_all()
            for sig, handler in previous_handlers.items():
                signal.signal(sig, handler)
            signal.set_wakeup_fd(previous_wakeup)
            for fd in (wake_read, wake_write):
                os.close(fd)
            for sock in sockets:
                sock.close()
            if own_metrics_dir:
                shutil.rmtree(metrics_dir, ignore_errors=True)
                os.environ.pop(MULTIPROC_DIR, None)

    def _stop(self, _signal: int, _frame: FrameType | None) -> None:
        self.stopping = True  # the wakeup fd wakes the supervising loop

    def _start(self, index: int, sock: socket.socket) -> None:
        process = self.context.Process(target=run_worker, args=(self.factory, self.settings, index, sock),
                                       name=f"{self.settings.service_name}-worker-{index}")
        process.start()
        self.processes[index] = process
        log.info("worker started", extra={"worker": index, "pid": process.pid})

    def _supervise(self, sockets: list[socket.socket], wake_read: int, metrics_dir: str) -> int:
        while not self.stopping:
            sentinels = {process.sentinel: index for index, process in self.processes.items()}
            ready = multiprocessing.connection.wait([wake_read, *sentinels])
            if wake_read in ready:
                os.read(wake_read, 512)
            ended = [sentinels[sentinel] for sentinel in ready if isinstance(sentinel, int) and sentinel in sentinels]
            for index in ended:
                if self.stopping:
                    break
                process = self.processes[index]
                process.join()
                self._forget(process, metrics_dir)
                if process.exitcode == STARTUP_FAILURE:
                    log.error("a worker could not start: stopping the service", extra={"worker": index})
                    return STARTUP_FAILURE
                log.error("a worker died: starting it again",
                          extra={"worker": index, "pid": process.pid, "exit_code": process.exitcode})
                self._start(index, sockets[index - 1])
        log.info("stopping the workers")
        return 0

    @staticmethod
    def _forget(process: BaseProcess, metrics_dir: str) -> None:
        """A dead worker's live gauges (open sockets, requests in progress) no longer count."""
        if process.pid is not None:
            multiprocess.mark_process_dead(process.pid, metrics_dir)  # pyright: ignore[reportUnknownMemberType]  # untyped

    def _stop_all(self) -> None:
        """SIGTERM to every worker, a graceful shutdown's time to finish, then SIGKILL to any still running."""
        for process in self.processes.values():
            if process.exitcode is None and process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in self.processes.values():
            process.join(timeout=max(0.0, deadline - time.monotonic()))
            if process.exitcode is None:
                log.warning("a worker did not stop in time: killed", extra={"pid": process.pid})
                process.kill()
                process.join()


def serve_workers(factory: AppFactory, settings: ServiceSettings, count: int) -> None:
    """Run `count` workers of `factory(settings)` on the settings' port; exits with the supervisor's code."""
    configure_logging(settings.service_name, settings.log_level)
    sys.exit(Workers(factory, settings, count).run())
