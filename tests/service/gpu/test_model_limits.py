"""Podium issue 16, items 3 and 5, through the public API and the real gpu_scorer process: a tiny model that
allocates 2^28 floats fails on the task's memory limit, an endless Loop fails on the task's time limit, a model ONNX
Runtime refuses to load fails with ONNX Runtime's reason — each `failed` on its first delivery, its quota slot given
back (no score) — and the scorer goes on scoring good models."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from litestar.testing import AsyncTestClient

from tests.api import bearer, team_token
from tests.conftest import ScoringServices
from tests.onnx_models import baseline_weights, endless_loop_model, hungry_model, linear_model, mistyped_model, to_bytes
from tests.service.refusals import assert_refused_once


@pytest.fixture(scope="module")
def good_model() -> bytes:
    return to_bytes(linear_model(*baseline_weights()))


async def submit(client: AsyncTestClient, token: str, data: bytes, task: str = "digits") -> dict:
    response = await client.post(f"/api/v1/tasks/{task}/submissions?wait=60", headers=bearer(token),
                                 files={"file": ("model.onnx", data, "application/octet-stream")})
    assert response.status_code == 200, response.text
    return response.json()


async def used_quota(pg_pool: asyncpg.Pool, team_id: int, task: str) -> int:
    return await pg_pool.fetchval(
        "SELECT coalesce(sum(used), 0) FROM submissions.quota_usage WHERE team_id = $1 AND task_id = $2",
        team_id, task)


async def assert_still_scoring(client: AsyncTestClient, token: str, services: ScoringServices, good: bytes) -> None:
    async with httpx.AsyncClient() as probe:
        alive = await probe.get(f"http://127.0.0.1:{services.ports['gpu_scorer']}/liveness")
    assert alive.status_code == 200
    body = await submit(client, token, good)
    assert body["status"] == "scored" and body["public_score"] > 0.9, body


async def test_a_model_allocating_2_to_the_28_floats_fails_on_the_memory_limit(
    gateway: AsyncTestClient, admin_token: str, pg_pool: asyncpg.Pool, scoring_services: ScoringServices,
    good_model: bytes,
) -> None:
    team_id, token = await team_token(gateway, admin_token)
    model = to_bytes(hungry_model(1 << 28))
    assert len(model) < 1024
    body = await submit(gateway, token, model)
    assert body["status"] == "failed", body
    # The task (`digits` of the tests' competition) sets no memory limit: the default, 512 MiB, holds.
    assert body["reason"] == "the model needed more than the task's limit of 512 MiB of memory on a batch of 64"
    await assert_refused_once(pg_pool, scoring_services, "gpu_scorer", body["id"])
    assert await used_quota(pg_pool, team_id, "digits") == 0  # no score: the slot came back
    await assert_still_scoring(gateway, token, scoring_services, good_model)


async def test_an_endless_loop_fails_on_the_tasks_time_limit(
    gateway: AsyncTestClient, admin_token: str, pg_pool: asyncpg.Pool, scoring_services: ScoringServices,
    good_model: bytes,
) -> None:
    _, token = await team_token(gateway, admin_token)
    body = await submit(gateway, token, to_bytes(endless_loop_model()), task="digits-quick")  # a 1 s limit
    assert body["status"] == "failed", body
    assert "longer than" in body["reason"] and "time limit" in body["reason"], body["reason"]
    await assert_refused_once(pg_pool, scoring_services, "gpu_scorer", body["id"])
    # Its process was killed at the limit: the scorer is free, and scores the next model (on the task with the
    # ordinary limit: whether a model fits in 1 s depends on the machine).
    await assert_still_scoring(gateway, token, scoring_services, good_model)


async def test_a_model_onnx_runtime_refuses_to_load_is_the_participants_failure(
    gateway: AsyncTestClient, admin_token: str, pg_pool: asyncpg.Pool, scoring_services: ScoringServices,
    good_model: bytes,
) -> None:
    team_id, token = await team_token(gateway, admin_token)
    body = await submit(gateway, token, to_bytes(mistyped_model()))
    assert body["status"] == "failed", body
    assert body["reason"].startswith("ONNX Runtime cannot load the model: [ONNXRuntimeError] : 1 : FAIL : Type "
                                     "Error: Type parameter (T) of Optype (Add) bound to different types"), body
    assert "on our side" not in body["reason"] and "refunded" not in body["reason"]
    await assert_refused_once(pg_pool, scoring_services, "gpu_scorer", body["id"])
    assert await used_quota(pg_pool, team_id, "digits") == 0  # no score: the slot came back
    await assert_still_scoring(gateway, token, scoring_services, good_model)

