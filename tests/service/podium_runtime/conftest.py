"""A private nats-server for the tests that restart (or wipe) it."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.stack import HOST, Server, free_port, http_ok, spawn, stop_all, venv_binary, wait_until


class NatsServer:
    def __init__(self, folder: Path) -> None:
        self.folder, self.port, self.monitor = folder, free_port(), free_port()
        self.server: Server | None = None

    def start(self) -> None:
        argv = [venv_binary("nats-server"), "-a", HOST, "-p", str(self.port), "-m", str(self.monitor), "-js",
                "-sd", str(self.folder)]
        self.server = spawn("nats", argv, self.folder / "nats.log", signal.SIGTERM)
        wait_until(lambda: http_ok(f"http://{HOST}:{self.monitor}/healthz?js-enabled-only=true"), "nats", 20,
                   self.server.proc, self.server.log)

    def stop(self) -> None:
        if self.server is not None:
            stop_all([self.server], timeout_s=10)

    def wipe(self) -> None:
        """Stop, delete the JetStream store, start again empty."""
        self.stop()
        shutil.rmtree(self.folder / "jetstream")
        self.start()


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path)
    server.start()
    yield server
    server.stop()
