"""Submitting a file the way large files should travel: announce it (`POST /api/v1/submissions`), PUT it straight to
the presigned storage URL while hashing it, complete it with its sha256, then follow its status — pushed over the
WebSocket, polled when the socket is unavailable — until it is scored or has failed."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from podium_cli.client import PodiumClient
from podium_cli.live import LiveFeed

# A submission's last statuses (the platform's `proto.submissions.TERMINAL`; a test keeps the two equal).
TERMINAL = frozenset({"scored", "failed", "rejected", "expired", "cancelled"})
CHUNK_BYTES = 1 << 20
# How often the status is read over HTTP when no push came (or there is no socket).
POLL_INTERVAL_S = 2.0


def check_file(task: dict[str, Any], path: Path) -> int:
    """Refuse before uploading what the platform would refuse after: a missing, empty or too large file."""
    if not path.is_file():
        raise click.ClickException(f"{path}: no such file")
    if not os.access(path, os.R_OK):
        raise click.ClickException(f"{path}: permission denied")
    size = path.stat().st_size
    if size == 0:
        raise click.ClickException(f"{path} is empty")
    limit = int(task["max_upload_bytes"])
    if size > limit:
        raise click.ClickException(f"{path} is {size:,} bytes; task {task['id']} accepts at most {limit:,}")
    return size


def _chunks(path: Path, digest: Any, advance: Callable[[int], None]) -> Iterator[bytes]:
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
            advance(len(chunk))
            yield chunk


def upload(client: PodiumClient, task: dict[str, Any], path: Path, size: int, console: Console | None
           ) -> dict[str, Any]:
    """Start, upload (with a progress bar on `console`), complete: the submission as it stands after completing."""
    ticket = client.post("/api/v1/submissions", json={"task_id": task["id"], "filename": path.name,
                                                       "size_bytes": size})
    digest = hashlib.sha256()
    if console is None:
        client.upload(ticket["upload_url"], _chunks(path, digest, lambda _: None), size)
    else:
        with Progress(TextColumn("uploading {task.description}"), BarColumn(), DownloadColumn(),
                      TransferSpeedColumn(), TimeRemainingColumn(), console=console) as progress:
            bar = progress.add_task(path.name, total=size)
            client.upload(ticket["upload_url"],
                          _chunks(path, digest, lambda n: progress.advance(bar, n)), size)
    return client.post(f"/api/v1/submissions/{ticket['submission_id']}/complete",
                       json={"sha256": digest.hexdigest()})


def wait_for_outcome(client: PodiumClient, submission: dict[str, Any], feed: LiveFeed | None, timeout_s: float,
                     on_status: Callable[[dict[str, Any]], None] = lambda _: None,
                     on_push: Callable[[dict[str, Any]], None] = lambda _: None) -> dict[str, Any]:
    """Follow one submission until its status is terminal (or `timeout_s` passes): the last view of it.
    `on_push` sees each push about it (progress, queue position, the scorer's log lines), `on_status` each new
    status, with the submission as it then stands."""
    deadline = time.monotonic() + timeout_s
    last_poll = time.monotonic()
    while submission["status"] not in TERMINAL:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        message = None
        if feed is not None and not feed.closed:
            message = feed.receive(min(POLL_INTERVAL_S, remaining))
        else:
            time.sleep(min(POLL_INTERVAL_S, remaining))
        mine = message is not None and message.get("submission_id") == submission["id"]
        if mine and message.get("type") != "submission":
            on_push(message)
        status_pushed = mine and message.get("type") == "submission"
        if not status_pushed and time.monotonic() - last_poll < POLL_INTERVAL_S:
            continue
        # A status push, or a quiet while: read the submission itself (a push carries no score or reason).
        last_poll = time.monotonic()
        latest = client.submission(submission["id"])
        if latest["status"] != submission["status"]:
            on_status(latest)
        submission = latest
    # Pushes that came with the last status (the scorer's closing log line) are shown too.
    while feed is not None and (message := feed.receive(0.05)) is not None:
        if message.get("submission_id") == submission["id"] and message.get("type") != "submission":
            on_push(message)
    return submission
