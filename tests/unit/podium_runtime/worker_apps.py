"""Small ASGI apps for the worker supervision tests (`test_workers.py`), importable by the workers' fresh
interpreters: one that answers its process id (and on `/gc`, how many objects its process froze before serving), one
whose building fails, one whose start-up fails."""

from __future__ import annotations

import gc
import os
from typing import Any


async def _lifespan(receive: Any, send: Any, start_up: bool) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete" if start_up else "lifespan.startup.failed"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def pid_app(start_up: bool = True) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, start_up)
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        answer = gc.get_freeze_count() if scope["path"] == "/gc" else os.getpid()
        await send({"type": "http.response.body", "body": str(answer).encode()})

    return app


def serving(_settings: object) -> Any:
    return pid_app()


def broken(_settings: object) -> Any:
    raise ValueError("a setting this app cannot work with")


def failing_start_up(_settings: object) -> Any:
    return pid_app(start_up=False)
