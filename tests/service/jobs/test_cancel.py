"""Cancelling through the public API, against the real submission_service and gpu_scorer processes: a queued
submission is never scored, a running one stops at its next batch (the scorer checks between batches), the
quota comes back, the status is `cancelled` and an event says who cancelled it; nothing reaches the board."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Set

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from nats.aio.client import Client as NatsClient

from proto import decode
from proto.events import SubmissionCancelled
from proto.submissions import TERMINAL
from tests.api import bearer, login, new_team, team_token
from tests.onnx_models import baseline_weights, linear_model, to_bytes

# ~200 products of 64×1024 by 1024×1024 per batch: seconds per batch on one core, far from done when cancelled.
SLOW_PRODUCTS = 200


@pytest.fixture(scope="module")
def models() -> dict[str, bytes]:
    weights = baseline_weights()
    return {"good": to_bytes(linear_model(*weights)),
            "slow": to_bytes(linear_model(*weights, repeat_square=SLOW_PRODUCTS))}


async def upload(client: AsyncTestClient, token: str, data: bytes, wait: float = 0) -> dict:
    response = await client.post(f"/api/v1/tasks/digits/submissions?wait={wait}", headers=bearer(token),
                                 files={"file": ("model.onnx", data, "application/octet-stream")})
    assert response.status_code == 200, response.text
    return response.json()


async def status_of(client: AsyncTestClient, token: str, submission_id: int) -> str:
    return (await client.get(f"/api/v1/submissions/{submission_id}", headers=bearer(token))).json()["status"]


async def until_status(client: AsyncTestClient, token: str, submission_id: int, wanted: Set[str],
                       timeout_s: float = 30) -> str:
    async with asyncio.timeout(timeout_s):
        while (status := await status_of(client, token, submission_id)) not in wanted:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    return status


async def log_line(client: AsyncTestClient, token: str, submission_id: int, text: str, timeout_s: float = 30) -> str:
    """The job's log line with `text` (log lines travel over core NATS: wait for it)."""
    async with asyncio.timeout(timeout_s):
        while True:
            response = await client.get(f"/api/v1/submissions/{submission_id}/logs", headers=bearer(token))
            assert response.status_code == 200, response.text
            found = [line["line"] for line in response.json()["lines"] if text in line["line"]]
            if found:
                return found[0]
            await asyncio.sleep(0.1)


async def used_quota(pool: asyncpg.Pool, team_id: int) -> int:
    return await pool.fetchval(
        "SELECT coalesce(sum(used), 0) FROM submissions.quota_usage WHERE team_id = $1 AND task_id = 'digits'",
        team_id)


async def cancel_events(nc: NatsClient, submission_ids: set[int]) -> dict[int, SubmissionCancelled]:
    """The SubmissionCancelled events of these submissions on the SCORES stream (the outbox relays them)."""
    found: dict[int, SubmissionCancelled] = {}
    async with asyncio.timeout(10):
        while len(found) < len(submission_ids):
            consumer = await nc.jetstream().pull_subscribe("score.cancelled.digits", stream="SCORES")
            try:
                for message in await consumer.fetch(1000, timeout=1):
                    event = decode(message.data)
                    assert isinstance(event, SubmissionCancelled), event
                    if int(event.submission_id) in submission_ids:
                        found[int(event.submission_id)] = event
            except TimeoutError:
                pass
            finally:
                await consumer.unsubscribe()
    return found


async def test_cancel_while_queued_and_while_running(
    gateway: AsyncTestClient, admin_token: str, models: dict[str, bytes], pg_pool: asyncpg.Pool, nc: NatsClient
) -> None:
    team_id, name, password = await new_team(gateway, admin_token)
    token = await login(gateway, name, password)
    running = await upload(gateway, token, models["slow"])
    await until_status(gateway, token, running["id"], {"scoring"})  # its first batch is done: it is running
    queued = await upload(gateway, token, models["good"])
    assert await status_of(gateway, token, queued["id"]) == "received"  # behind the running one
    assert await used_quota(pg_pool, team_id) == 2

    cancelled = await gateway.post(f"/api/v1/submissions/{queued['id']}/cancel", headers=bearer(token))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled", cancelled.text
    assert "cancelled by the team" in cancelled.json()["reason"]
    stopped = await gateway.post(f"/api/v1/submissions/{running['id']}/cancel", headers=bearer(admin_token))
    assert stopped.status_code == 200 and "cancelled by an admin" in stopped.json()["reason"]
    assert await used_quota(pg_pool, team_id) == 0

    # The running job saw the cancellation between two batches and stopped there, far from its end.
    line = await log_line(gateway, token, running["id"], "the submission was cancelled")
    stopped = re.fullmatch(r"stopped after (\d+) of (\d+): the submission was cancelled", line)
    assert stopped, line
    done, total = map(int, stopped.groups())
    assert 0 < done < total, line
    # The scorer is free again: the next model is scored, and the queued one was skipped, never scored.
    after = await upload(gateway, token, models["good"])
    assert await until_status(gateway, token, after["id"], TERMINAL, timeout_s=90) == "scored"
    scores = await pg_pool.fetchval("SELECT count(*) FROM submissions.scores WHERE submission_id = ANY($1)",
                                    [queued["id"], running["id"]])
    assert scores == 0
    for submission in (queued, running):
        assert await status_of(gateway, token, submission["id"]) == "cancelled"

    events = await cancel_events(nc, {queued["id"], running["id"]})
    assert (events[queued["id"]].cancelled_by, events[queued["id"]].by_admin) == (name, False)
    assert events[running["id"]].by_admin and events[running["id"]].cancelled_by == "root-admin"
    # On the board the team has one submission, the one scored after the cancellations.
    async with asyncio.timeout(10):
        while not (line := [e for e in (await gateway.get("/api/v1/leaderboards/digits", headers=bearer(token))
                                        ).json()["public"] if e["team_id"] == str(team_id)]):
            await asyncio.sleep(0.1)
    assert (line[0]["submission_id"], line[0]["submissions"]) == (after["id"], 1)


async def test_what_cannot_be_cancelled_is_refused_with_a_reason(
    gateway: AsyncTestClient, admin_token: str, models: dict[str, bytes]
) -> None:
    _, token = await team_token(gateway, admin_token)
    done = await upload(gateway, token, models["good"], wait=30)
    assert done["status"] == "scored"
    again = await gateway.post(f"/api/v1/submissions/{done['id']}/cancel", headers=bearer(token))
    assert again.status_code == 409 and "already scored: nothing to cancel" in again.json()["detail"]
    _, stranger = await team_token(gateway, admin_token)
    theirs = await gateway.post(f"/api/v1/submissions/{done['id']}/cancel", headers=bearer(stranger))
    assert theirs.status_code == 404  # another team's submission answers like a missing one
    missing = await gateway.post("/api/v1/submissions/99999999/cancel", headers=bearer(token))
    assert missing.status_code == 404
    anonymous = await gateway.post(f"/api/v1/submissions/{done['id']}/cancel")
    assert anonymous.status_code == 401


async def test_an_upload_not_yet_sent_can_be_cancelled_and_its_quota_returns(
    gateway: AsyncTestClient, admin_token: str, pg_pool: asyncpg.Pool
) -> None:
    team_id, token = await team_token(gateway, admin_token)
    ticket = (await gateway.post("/api/v1/submissions", headers=bearer(token), json={
        "task_id": "digits", "filename": "m.onnx", "size_bytes": 10})).json()
    assert await used_quota(pg_pool, team_id) == 1
    response = await gateway.post(f"/api/v1/submissions/{ticket['submission_id']}/cancel", headers=bearer(token))
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert await used_quota(pg_pool, team_id) == 0
    late = await gateway.post(f"/api/v1/submissions/{ticket['submission_id']}/complete", json={},
                              headers=bearer(token))
    assert late.json()["status"] == "cancelled"  # completing a cancelled upload changes nothing
