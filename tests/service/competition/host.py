"""A host changing the session's competition through the public API, as the tests of this folder do it: read the
current document (its version from the ETag), change it, PUT it back with If-Match. The session's competition is
shared by every test, so these tests only ever add tasks of their own (a fresh id each) and change those."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import numpy as np
from nats.aio.client import Client as NatsClient

from deploy.demo import make_ground_truth, npy_zip
from proto import decode as proto_decode
from proto.competition import Task
from proto.events import ScoreComputed
from tests.api import bearer

DOCUMENT = "/api/v1/admin/competition"
Document = dict[str, Any]  # the competition as JSON: {"competition": {...}, "tasks": [...]}


def version_of(response: httpx.Response) -> int:
    """The version an ETag names ("N")."""
    return int(response.headers["etag"].strip('"'))


def new_task(prefix: str, **fields: Any) -> dict[str, Any]:
    """A small CPU task with a fresh id (12 samples of 3×8×8, no ground truth yet): any test may add it."""
    return {"id": f"{prefix}-{uuid.uuid4().hex[:10]}", "title": f"{prefix} (a test's own task)", "kind": "cpu",
            "metric": "psnr", "daily_quota": 3, "max_upload_bytes": 200_000, "samples": 4, "shape": [3, 8, 8],
            "split": {"private_fraction": 0.5, "seed": int(uuid.uuid4().int % 10_000)}, **fields}


def task_struct(task: dict[str, Any]) -> Task:
    return msgspec.convert(task, Task)


def ground_truth_of(task: dict[str, Any]) -> dict[str, np.ndarray]:
    return make_ground_truth(task_struct(task))


def open_phase(phase_id: str = "main", *, days: int = 1) -> dict[str, str]:
    now = datetime.now(UTC)
    return {"id": phase_id, "opens_at": (now - timedelta(days=days)).isoformat(),
            "closes_at": (now + timedelta(days=days)).isoformat()}


def closed_phase(phase_id: str = "main") -> dict[str, str]:
    now = datetime.now(UTC)
    return {"id": phase_id, "opens_at": (now - timedelta(days=2)).isoformat(),
            "closes_at": (now - timedelta(days=1)).isoformat()}


@dataclass
class Host:
    """An admin of the session's platform, talking to the gateway (in-process, or its process over a socket)."""

    client: httpx.AsyncClient
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)

    async def document(self) -> tuple[int, Document]:
        """The current version and its competition (as JSON)."""
        response = await self.client.get(DOCUMENT, headers=self.headers)
        assert response.status_code == 200, response.text
        assert version_of(response) == response.json()["version"], response.headers
        return version_of(response), response.json()["competition"]

    async def put(self, document: Document | str, version: int | str | None, *, dry_run: bool = False,
                  content_type: str | None = None) -> httpx.Response:
        """PUT a document (a dict as JSON, a str as TOML) with If-Match: version (None: no If-Match)."""
        headers = dict(self.headers)
        if version is not None:
            headers["If-Match"] = f'"{version}"' if isinstance(version, int) else version
        if isinstance(document, str):
            headers["Content-Type"] = content_type or "application/toml"
            return await self.client.put(DOCUMENT, content=document.encode(), headers=headers,
                                         params={"dry_run": "true"} if dry_run else None)
        return await self.client.put(DOCUMENT, json=document, headers=headers,
                                     params={"dry_run": "true"} if dry_run else None)

    async def change(self, edit: Callable[[Document], None]) -> dict[str, Any]:
        """Fetch the current document, edit it in place, apply it: what the apply answered."""
        version, document = await self.document()
        edit(document)
        response = await self.put(document, version)
        assert response.status_code == 200, response.text
        assert version_of(response) == response.json()["version"], response.headers
        return response.json()

    async def add_task(self, task: dict[str, Any]) -> dict[str, Any]:
        return await self.change(lambda document: document["tasks"].append(task))

    async def edit_task(self, task_id: str, **fields: Any) -> dict[str, Any]:
        def edit(document: Document) -> None:
            task = next(t for t in document["tasks"] if t["id"] == task_id)
            task.update(fields)

        return await self.change(edit)

    async def task(self, task_id: str) -> dict[str, Any]:
        _, document = await self.document()
        return next(t for t in document["tasks"] if t["id"] == task_id)

    async def upload_ground_truth(self, task_id: str, data: bytes, *, announced_sha256: str | None = None
                                  ) -> httpx.Response:
        """Start a ground-truth upload, PUT the bytes to its URL, complete it: the answer of `complete`."""
        sha256 = hashlib.sha256(data).hexdigest() if announced_sha256 is None else announced_sha256
        started = await self.client.post(f"/api/v1/admin/tasks/{task_id}/ground-truth", headers=self.headers,
                                         json={"size_bytes": len(data), "filename": "truth", "sha256": sha256})
        assert started.status_code == 200, started.text
        ticket = started.json()
        async with httpx.AsyncClient() as storage:
            stored = await storage.put(ticket["upload_url"], content=data)
        assert stored.status_code == 200, stored.text
        return await self.client.post(f"/api/v1/admin/tasks/{task_id}/ground-truth/complete", headers=self.headers,
                                      json={"upload_id": ticket["upload_id"]})

    async def upload_program(self, task_id: str, filename: str, data: bytes, sample: tuple[str, bytes] | None = None,
                             *, announced_sha256: str | None = None) -> httpx.Response:
        """Start a program upload (and its sample's), PUT the bytes to their URLs, complete it: what `complete`
        answered."""
        sha256 = hashlib.sha256(data).hexdigest() if announced_sha256 is None else announced_sha256
        body: dict[str, Any] = {"size_bytes": len(data), "filename": filename, "sha256": sha256}
        if sample is not None:
            body["sample"] = {"size_bytes": len(sample[1]), "filename": sample[0],
                              "sha256": hashlib.sha256(sample[1]).hexdigest()}
        started = await self.client.post(f"/api/v1/admin/tasks/{task_id}/program", headers=self.headers, json=body)
        assert started.status_code == 200, started.text
        ticket = started.json()
        async with httpx.AsyncClient() as storage:
            assert (await storage.put(ticket["upload_url"], content=data)).status_code == 200
            if sample is not None:
                assert (await storage.put(ticket["sample_upload_url"], content=sample[1])).status_code == 200
        return await self.client.post(f"/api/v1/admin/tasks/{task_id}/program/complete", headers=self.headers,
                                      json={"upload_id": ticket["upload_id"]}, timeout=300)

    async def put_ground_truth(self, task: dict[str, Any], truth: dict[str, np.ndarray] | None = None
                               ) -> dict[str, Any]:
        """Give a tensor task its ground truth (generated from the task unless given): the new version's apply."""
        completed = await self.upload_ground_truth(task["id"], npy_zip(truth or ground_truth_of(task)))
        assert completed.status_code == 200, completed.text
        return completed.json()

    async def submit(self, token: str, task_id: str, filename: str, data: bytes, content_type: str
                     ) -> dict[str, Any]:
        """A team's submission of `data`, waited for until scored or failed: the submission as its team sees it."""
        response = await self.client.post(f"/api/v1/tasks/{task_id}/submissions?wait=60", headers=bearer(token),
                                          files={"file": (filename, data, content_type)})
        assert response.status_code == 200, response.text
        return response.json()

    async def details(self, submission_id: int, token: str | None = None) -> dict[str, Any]:
        """A submission's scoring details as the admin (or the team of `token`) reads them."""
        response = await self.client.get(f"/api/v1/submissions/{submission_id}/details",
                                         headers=bearer(token or self.token))
        assert response.status_code == 200, response.text
        return response.json()["details"]

    async def board_line(self, task_id: str, team_id: int, token: str) -> dict[str, Any]:
        """The team's line of the task's public board, as the team reads it, once the board shows it."""
        async with asyncio.timeout(30):
            while True:
                response = await self.client.get(f"/api/v1/leaderboards/{task_id}", headers=bearer(token))
                assert response.status_code in (200, 404), response.text  # 404: the task has no board yet
                lines = response.json()["public"] if response.status_code == 200 else []
                line = next((e for e in lines if str(e["team_id"]) == str(team_id)), None)
                if line is not None:
                    return line
                await asyncio.sleep(0.1)


async def score_event(nc: NatsClient, task_id: str, submission_id: int) -> ScoreComputed:
    """The ScoreComputed of a submission as the SCORES stream holds it (the task's latest score)."""
    stored = await nc.jetstream().get_last_msg("SCORES", f"score.computed.{task_id}")
    event = proto_decode(stored.data or b"")
    assert isinstance(event, ScoreComputed) and event.submission_id == str(submission_id), event
    return event
