"""Submitting a file the way large files should travel: announce it (`POST /api/v1/submissions`), PUT it straight to
the presigned storage URL while hashing it, complete it with its sha256, then follow its status — pushed over the
WebSocket, polled when the socket is unavailable — until it is scored or has failed."""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import msgspec
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from podium_cli.client import PodiumClient
from podium_cli.live import LiveFeed
from proto.live import LiveMessage, LogMessage, ProgressMessage, QueueMessage, SubmissionMessage

# A submission's last statuses (the platform's `proto.submissions.TERMINAL`; a test keeps the two equal).
TERMINAL = frozenset({"scored", "failed", "rejected", "expired", "cancelled"})
CHUNK_BYTES = 1 << 20
# How often the status is read over HTTP when no push came (or there is no socket).
POLL_INTERVAL_S = 2.0
# The pushes about one submission.
SubmissionPush = SubmissionMessage | ProgressMessage | QueueMessage | LogMessage


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
    digest = send_file(client, ticket["upload_url"], path, size, console)
    return client.post(f"/api/v1/submissions/{ticket['submission_id']}/complete", json={"sha256": digest})


def send_file(client: PodiumClient, upload_url: str, path: Path, size: int, console: Console | None) -> str:
    """PUT `path` to a presigned URL in chunks (with a progress bar on `console`), hashing it on the way: its
    sha256, of the bytes that were sent."""
    digest = hashlib.sha256()
    if console is None:
        client.upload(upload_url, _chunks(path, digest, lambda _: None), size)
    else:
        with Progress(TextColumn("uploading {task.description}"), BarColumn(), DownloadColumn(),
                      TransferSpeedColumn(), TimeRemainingColumn(), console=console) as progress:
            bar = progress.add_task(path.name, total=size)
            client.upload(upload_url, _chunks(path, digest, lambda n: progress.advance(bar, n)), size)
    return digest.hexdigest()


def wait_for_outcome(client: PodiumClient, submission: dict[str, Any], feed: LiveFeed | None, timeout_s: float,
                     on_status: Callable[[dict[str, Any]], None] = lambda _: None,
                     on_push: Callable[[SubmissionPush], None] = lambda _: None) -> dict[str, Any]:
    """Follow one submission until its status is terminal (or `timeout_s` passes): the last view of it.
    `on_push` sees each push about it (progress, queue position, the scorer's log lines), `on_status` each new
    status, with the submission as it then stands.

    What is shown follows the submission's own order, not the order pushes happen to arrive in: pushes travel
    apart from status changes (a scorer's log line can reach the socket after the outcome it led to). So before a
    new status is shown, the pushes already received go first; and before the final status, the scorer's log as
    the platform stored it (oldest first) fills in every line not shown yet."""
    deadline = time.monotonic() + timeout_s
    last_poll = time.monotonic()
    shown_lines: Counter[tuple[str, str]] = Counter()

    def push(message: LiveMessage) -> None:
        if not isinstance(message, SubmissionPush) or message.submission_id != submission["id"] \
                or isinstance(message, SubmissionMessage):
            return
        if isinstance(message, LogMessage):
            shown_lines[(message.level, message.line)] += 1
        on_push(message)

    while submission["status"] not in TERMINAL:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        message = None
        if feed is not None and not feed.closed:
            message = feed.receive(min(POLL_INTERVAL_S, remaining))
        else:
            time.sleep(min(POLL_INTERVAL_S, remaining))
        if message is not None:
            push(message)
        status_pushed = isinstance(message, SubmissionMessage) and message.submission_id == submission["id"]
        if not status_pushed and time.monotonic() - last_poll < POLL_INTERVAL_S:
            continue
        # A status push, or a quiet while: read the submission itself (a push carries no score or reason).
        last_poll = time.monotonic()
        latest = client.submission(submission["id"])
        if latest["status"] != submission["status"]:
            while feed is not None and (pending := feed.receive(0)) is not None:
                push(pending)
            if latest["status"] in TERMINAL:
                for line in unshown_lines(client.get(f"/api/v1/submissions/{submission['id']}/logs")["lines"],
                                          shown_lines):
                    on_push(msgspec.convert({**line, "submission_id": submission["id"]}, LogMessage))
            on_status(latest)
        submission = latest
    return submission


def unshown_lines(stored: list[dict[str, Any]], shown: Counter[tuple[str, str]]) -> list[dict[str, Any]]:
    """The stored log lines (oldest first) not among those `shown` (counted by level and text), in their order."""
    left = Counter(shown)
    unshown = []
    for line in stored:
        key = (line.get("level", ""), line.get("line", ""))
        if left[key] > 0:
            left[key] -= 1
        else:
            unshown.append(line)
    return unshown
