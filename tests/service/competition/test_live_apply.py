"""A running platform (the gateway in-process, submission_service as its process, real NATS, PostgreSQL and S3)
receives an apply that raises a quota or moves a deadline: the very next submissions obey the new values, with no
restart of anything, and neither change touches the task's scoring identity. A task applied before its ground truth
refuses submissions, saying so, until the host puts it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from tests.api import bearer, team_token
from tests.service.competition.host import Host, closed_phase, new_task, open_phase


@pytest.fixture
def host(gateway: AsyncTestClient, admin_token: str) -> Host:
    return Host(gateway, admin_token)


async def start(client: httpx.AsyncClient, token: str, task_id: str) -> httpx.Response:
    """A presigned upload's start: it takes a slot of the day's quota (given back only if the upload never counts)."""
    return await client.post("/api/v1/submissions", headers=bearer(token),
                             json={"task_id": task_id, "filename": "s.zip", "size_bytes": 1000})


async def identity(host: Host, task_id: str) -> str:
    response = await host.client.get("/api/v1/admin/competition", headers=host.headers)
    return response.json()["identities"][task_id]


async def with_ground_truth(host: Host, **fields: Any) -> dict[str, Any]:
    task = new_task("live", **fields)
    await host.add_task(task)
    await host.put_ground_truth(task)
    return task


async def test_a_raised_quota_holds_for_the_next_submission(host: Host) -> None:
    task = await with_ground_truth(host, daily_quota=2)
    _, token = await team_token(host.client, host.token)
    for left in (1, 0):
        taken = await start(host.client, token, task["id"])
        assert taken.status_code == 200 and taken.json()["quota_left"] == left, taken.text
    refused = await start(host.client, token, task["id"])
    assert refused.status_code == 429 and f"daily quota of 2 submissions for task {task['id']}" in \
        refused.json()["detail"], refused.text

    before = await identity(host, task["id"])
    applied = await host.edit_task(task["id"], daily_quota=3)
    assert applied["changes"] == [f"task {task['id']}: daily_quota 2 → 3"] and applied["identity_changed"] == []
    taken = await start(host.client, token, task["id"])
    assert taken.status_code == 200 and taken.json()["quota_left"] == 0, taken.text
    refused = await start(host.client, token, task["id"])
    assert refused.status_code == 429 and "daily quota of 3 submissions" in refused.json()["detail"], refused.text
    assert await identity(host, task["id"]) == before


async def test_a_moved_deadline_holds_for_the_next_submission(host: Host) -> None:
    task = await with_ground_truth(host, phases=[closed_phase()], daily_quota=10)
    _, token = await team_token(host.client, host.token)
    closed = await start(host.client, token, task["id"])
    assert closed.status_code == 403 and "accepts no submissions now (no open phase" in closed.json()["detail"], \
        closed.text
    before = await identity(host, task["id"])

    reopened = await host.edit_task(task["id"], phases=[open_phase()])
    assert reopened["identity_changed"] == [] and any("phases" in line for line in reopened["changes"]), reopened
    ticket = await start(host.client, token, task["id"])
    assert ticket.status_code == 200, ticket.text
    data = b"x" * 1000
    async with httpx.AsyncClient() as storage:
        assert (await storage.put(ticket.json()["upload_url"], content=data)).status_code == 200
    completed = await host.client.post(f"/api/v1/submissions/{ticket.json()['submission_id']}/complete", json={},
                                       headers=bearer(token))
    assert completed.status_code == 200 and completed.json()["status"] == "received", completed.text

    await host.edit_task(task["id"], phases=[closed_phase()])  # the deadline moved into the past: closed again
    closed = await start(host.client, token, task["id"])
    assert closed.status_code == 403 and "no open phase" in closed.json()["detail"], closed.text
    assert await identity(host, task["id"]) == before


async def test_a_task_without_ground_truth_refuses_submissions_until_the_host_puts_it(host: Host) -> None:
    task = new_task("no-truth")
    applied = await host.add_task(task)
    assert any(f"task {task['id']} has no ground truth yet" in note for note in applied["notes"]), applied
    _, token = await team_token(host.client, host.token)
    refused = await start(host.client, token, task["id"])
    assert refused.status_code == 409, refused.text
    assert f"task {task['id']} has no ground truth yet" in refused.json()["detail"], refused.text
    listed = next(t for t in (await host.client.get("/api/v1/competition")).json()["tasks"] if t["id"] == task["id"])
    assert (listed["accepting"], listed["has_ground_truth"]) == (False, False)

    put = await host.put_ground_truth(task)
    assert put["changed"] and any("ground_truth" in line for line in put["changes"]), put
    assert (await start(host.client, token, task["id"])).status_code == 200
    listed = next(t for t in (await host.client.get("/api/v1/competition")).json()["tasks"] if t["id"] == task["id"])
    assert (listed["accepting"], listed["has_ground_truth"], listed["not_accepting_reason"]) == (True, True, "")
