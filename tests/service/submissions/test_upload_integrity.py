"""Presigned uploads hold to what was announced and checked, against the real SeaweedFS: storage refuses a PUT
of another size, a PUT after `complete` cannot change the scored bytes, a cancelled or expired upload leaves no
object, a scorer refuses bytes changed behind the platform's back; direct uploads stop at the task's limit."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx
import numpy as np
import pytest
from litestar.testing import AsyncTestClient
from minio import Minio
from minio.error import S3Error

from deploy.demo import make_ground_truth, noisy_submission, npy_zip
from deploy.stack import EmbeddedStack
from podium_runtime.connections import create_s3
from proto.competition import Competition
from submission_service.reconciler import Reconciler
from tests.api import bearer, team_token

BUCKET = "submissions"
LIMIT = 2_000_000  # the test task `recon`'s max_upload_bytes


@pytest.fixture(scope="module")
def recon_truth(competition: tuple[Path, Competition]) -> dict[str, np.ndarray]:
    return make_ground_truth(next(t for t in competition[1].tasks if t.id == "recon"))


@pytest.fixture(scope="module")
def s3(stack: EmbeddedStack) -> Minio:
    return create_s3(stack.settings())


def exists(s3: Minio, key: str) -> bool:
    try:
        s3.stat_object(BUCKET, key)
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchObject"):
            return False
        raise
    return True


async def start(gateway: AsyncTestClient, token: str, data: bytes) -> dict:
    response = await gateway.post("/api/v1/submissions", headers=bearer(token), json={
        "task_id": "recon", "filename": "a.zip", "size_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    assert response.status_code == 200, response.text
    return response.json()


async def terminal(gateway: AsyncTestClient, token: str, submission_id: int) -> dict:
    async with asyncio.timeout(30):
        while (body := (await gateway.get(f"/api/v1/submissions/{submission_id}", headers=bearer(token))).json()
               )["status"] not in ("scored", "failed", "rejected", "expired", "cancelled"):
            await asyncio.sleep(0.1)
    return body


async def test_storage_refuses_a_put_of_another_size_than_announced(
    gateway: AsyncTestClient, admin_token: str, pg_pool: asyncpg.Pool, s3: Minio
) -> None:
    _, token = await team_token(gateway, admin_token)
    announced = b"x" * 10
    ticket = await start(gateway, token, announced)
    upload_key = await pg_pool.fetchval("SELECT upload_key FROM submissions.submissions WHERE id = $1",
                                        ticket["submission_id"])

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length at all
        yield b"x" * 5
        yield b"x" * 5

    async with httpx.AsyncClient() as storage:
        for body in (b"x" * 5_000_000, b"x" * 11, b"x" * 9, chunked()):
            refused = await storage.put(ticket["upload_url"], content=body)
            assert refused.status_code == 403, refused.text
            assert not exists(s3, upload_key)
        assert (await storage.put(ticket["upload_url"], content=announced)).status_code == 200
    done = await gateway.post(f"/api/v1/submissions/{ticket['submission_id']}/complete", json={},
                              headers=bearer(token))
    assert done.status_code == 200 and done.json()["size_bytes"] == 10


async def test_a_put_after_complete_cannot_change_the_scored_bytes(
    gateway: AsyncTestClient, admin_token: str, pg_pool: asyncpg.Pool, s3: Minio, recon_truth: dict
) -> None:
    _, token = await team_token(gateway, admin_token)
    data = npy_zip(noisy_submission(recon_truth, 0.1, seed=5), compress=True)
    ticket = await start(gateway, token, data)
    async with httpx.AsyncClient() as storage:
        assert (await storage.put(ticket["upload_url"], content=data)).status_code == 200
        done = await gateway.post(f"/api/v1/submissions/{ticket['submission_id']}/complete", json={},
                                  headers=bearer(token))
        assert done.status_code == 200, done.text
        # Same size, other bytes, through the still-valid URL: it lands at the upload key, which nothing reads.
        other = bytes(reversed(data))
        assert (await storage.put(ticket["upload_url"], content=other)).status_code == 200
    row = await pg_pool.fetchrow("SELECT object_key, upload_key, sha256 FROM submissions.submissions WHERE id = $1",
                                 ticket["submission_id"])
    assert row is not None
    assert row["object_key"] != row["upload_key"] and row["sha256"] == hashlib.sha256(data).hexdigest()
    stored = s3.get_object(BUCKET, row["object_key"])
    try:
        assert hashlib.sha256(stored.read()).hexdigest() == row["sha256"]
    finally:
        stored.close()
        stored.release_conn()
    scored = await terminal(gateway, token, ticket["submission_id"])
    assert scored["status"] == "scored" and 19 < scored["public_score"] < 21


async def test_cancel_removes_the_upload_and_its_url_stores_nothing_that_counts(
    gateway: AsyncTestClient, admin_token: str, pg_pool: asyncpg.Pool, s3: Minio
) -> None:
    _, token = await team_token(gateway, admin_token)
    data = b"c" * 100
    ticket = await start(gateway, token, data)
    async with httpx.AsyncClient() as storage:
        assert (await storage.put(ticket["upload_url"], content=data)).status_code == 200
        key = await pg_pool.fetchval("SELECT upload_key FROM submissions.submissions WHERE id = $1",
                                     ticket["submission_id"])
        assert exists(s3, key)
        cancelled = await gateway.post(f"/api/v1/submissions/{ticket['submission_id']}/cancel",
                                       headers=bearer(token))
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert not exists(s3, key)
        # A signed URL cannot be revoked: a later PUT is stored, but can never be completed or scored...
        await storage.put(ticket["upload_url"], content=data)
    late = await gateway.post(f"/api/v1/submissions/{ticket['submission_id']}/complete", json={},
                              headers=bearer(token))
    assert late.status_code == 200 and late.json()["status"] == "cancelled"
    # ... and it is swept once the URL has expired.
    await pg_pool.execute("UPDATE submissions.submissions SET upload_expires_at = now() - interval '1 hour' "
                          "WHERE id = $1", ticket["submission_id"])
    await Reconciler(pg_pool, s3, stuck_after=timedelta(hours=1), max_republish=2).pass_once()
    assert not exists(s3, key)


async def test_an_expired_upload_is_deleted(
    gateway: AsyncTestClient, admin_token: str, pg_pool: asyncpg.Pool, s3: Minio
) -> None:
    _, token = await team_token(gateway, admin_token)
    data = b"e" * 100
    ticket = await start(gateway, token, data)
    async with httpx.AsyncClient() as storage:
        assert (await storage.put(ticket["upload_url"], content=data)).status_code == 200
    key = await pg_pool.fetchval("UPDATE submissions.submissions SET upload_expires_at = now() - interval '1 hour' "
                                 "WHERE id = $1 RETURNING upload_key", ticket["submission_id"])
    assert exists(s3, key)
    await Reconciler(pg_pool, s3, stuck_after=timedelta(hours=1), max_republish=2).pass_once()
    assert not exists(s3, key)
    view = (await gateway.get(f"/api/v1/submissions/{ticket['submission_id']}", headers=bearer(token))).json()
    assert view["status"] == "expired"


async def test_the_scorer_refuses_bytes_changed_in_storage_after_the_check(
    gateway: AsyncTestClient, admin_token: str, pg_pool: asyncpg.Pool, s3: Minio, recon_truth: dict
) -> None:
    _, token = await team_token(gateway, admin_token)
    data = npy_zip(noisy_submission(recon_truth, 0.1, seed=6), compress=True)
    ticket = await start(gateway, token, data)
    async with httpx.AsyncClient() as storage:
        assert (await storage.put(ticket["upload_url"], content=data)).status_code == 200
    await gateway.post(f"/api/v1/submissions/{ticket['submission_id']}/complete", json={}, headers=bearer(token))
    assert (await terminal(gateway, token, ticket["submission_id"]))["status"] == "scored"
    # Someone with storage credentials swaps the accepted object for a perfect answer, then a rescore runs.
    key = await pg_pool.fetchval("SELECT object_key FROM submissions.submissions WHERE id = $1",
                                 ticket["submission_id"])
    swapped = npy_zip(recon_truth)
    s3.put_object(BUCKET, key, io.BytesIO(swapped), len(swapped))
    rescore = await gateway.post("/api/v1/admin/rescores", headers=bearer(admin_token), json={
        "task_id": "recon", "submission_ids": [ticket["submission_id"]]})
    assert rescore.status_code == 202, rescore.text
    version = rescore.json()["scorer_version"]
    async with asyncio.timeout(30):
        while (outcome := await pg_pool.fetchrow(  # noqa: ASYNC110
                "SELECT outcome, reason, infrastructure FROM submissions.scores WHERE submission_id = $1 "
                "AND scorer_version = $2", ticket["submission_id"], version)) is None:
            await asyncio.sleep(0.1)
    assert outcome["outcome"] == "failed" and outcome["infrastructure"]
    assert "changed after it was checked" in outcome["reason"]


def multipart(data: bytes) -> tuple[bytes, str]:
    boundary = "podiumboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.zip\"\r\n"
            f"Content-Type: application/zip\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


async def test_a_direct_upload_over_the_task_limit_is_refused_by_content_length(
    gateway: AsyncTestClient, admin_token: str
) -> None:
    _, token = await team_token(gateway, admin_token)
    body, content_type = multipart(b"z" * (LIMIT + 100_000))
    response = await gateway.post("/api/v1/tasks/recon/submissions", content=body,
                                  headers={**bearer(token), "content-type": content_type})
    assert response.status_code == 413 and "size must be 1 to 2000000 bytes" in response.json()["detail"], response.text
    history = (await gateway.get("/api/v1/submissions", headers=bearer(token))).json()
    assert history == []  # refused before anything was started: no quota taken


async def test_a_chunked_direct_upload_growing_past_the_task_limit_is_cut_off(
    gateway_url: str, admin_token: str, gateway: AsyncTestClient
) -> None:
    _, token = await team_token(gateway, admin_token)
    body, content_type = multipart(b"z" * (LIMIT + 100_000))

    async def chunked() -> AsyncIterator[bytes]:
        for offset in range(0, len(body), 64 * 1024):
            yield body[offset:offset + 64 * 1024]

    async with httpx.AsyncClient(base_url=gateway_url) as client:
        try:
            response = await client.post("/submit/recon", content=chunked(),
                                         headers={**bearer(token), "content-type": content_type})
        except httpx.WriteError:  # the server answered and closed before the client finished sending
            response = None
    if response is not None:
        assert response.status_code == 413, response.text
    history = (await gateway.get("/api/v1/submissions", headers=bearer(token))).json()
    assert history == []
