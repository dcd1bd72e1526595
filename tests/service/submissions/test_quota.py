"""A team's daily quota through the public API (`GET /api/v1/tasks/{task}/quota`), against the real
submission_service and cpu_scorer processes: what is used and left, when it resets, and the rule — only scored
submissions count: one that fails on the participant's side or is refused at `complete` gives its slot back."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from litestar.testing import AsyncTestClient

from deploy.demo import make_ground_truth, noisy_submission, npy_zip
from proto.competition import Competition
from submission_service.store import QUOTA_RULE
from tests.api import bearer, team_token
from tests.conftest import task_of


@pytest.fixture(scope="module")
def truth(competition: tuple[Path, Competition]) -> dict[str, np.ndarray]:
    return make_ground_truth(task_of(competition, "lab"))


async def quota(client: AsyncTestClient, token: str, task: str = "lab") -> dict:
    response = await client.get(f"/api/v1/tasks/{task}/quota", headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()


async def upload(client: AsyncTestClient, token: str, data: bytes) -> dict:
    response = await client.post("/api/v1/tasks/lab/submissions?wait=60", headers=bearer(token),
                                 files={"file": ("s.zip", data, "application/zip")})
    assert response.status_code == 200, response.text
    return response.json()


async def finished(client: AsyncTestClient, token: str, submission_id: int) -> dict:
    """The submission once it has an outcome; the bound only guards against a hang."""
    async with asyncio.timeout(90):
        while (body := (await client.get(f"/api/v1/submissions/{submission_id}", headers=bearer(token))).json()
               )["status"] in ("received", "scoring"):
            await asyncio.sleep(0.1)
    return body


async def test_a_fresh_team_has_its_whole_quota_until_the_next_utc_midnight(
    gateway: AsyncTestClient, admin_token: str, competition: tuple[Path, Competition]
) -> None:
    _, token = await team_token(gateway, admin_token)
    before = datetime.now(UTC)
    body = await quota(gateway, token)
    daily = task_of(competition, "lab").daily_quota
    assert {k: body[k] for k in ("task_id", "daily_quota", "used", "left")} == {
        "task_id": "lab", "daily_quota": daily, "used": 0, "left": daily}
    resets_at = datetime.fromisoformat(body["resets_at"])
    assert resets_at.utcoffset() == timedelta(0) and (resets_at.hour, resets_at.minute, resets_at.second) == (0, 0, 0)
    assert before < resets_at <= datetime.now(UTC) + timedelta(days=1)
    assert body["rule"] == QUOTA_RULE and body["rule"].endswith(".")
    assert (await quota(gateway, token, "task2"))["task_id"] == "digits"  # by its MLS-GOAT alias


async def test_a_scored_submission_counts_a_failed_one_and_a_refused_one_give_their_slot_back(
    gateway: AsyncTestClient, admin_token: str, truth: dict[str, np.ndarray]
) -> None:
    _, token = await team_token(gateway, admin_token)
    daily = (await quota(gateway, token))["daily_quota"]

    scored = await upload(gateway, token, npy_zip(noisy_submission(truth, 0.05, seed=31)))
    assert (await finished(gateway, token, scored["id"]))["status"] == "scored"
    assert {k: (await quota(gateway, token))[k] for k in ("used", "left")} == {"used": 1, "left": daily - 1}

    # The participant's own failure (a sample of the wrong shape): no score, the slot comes back.
    first = next(iter(truth))
    wrong = npy_zip({**truth, first: np.zeros((2, 2), dtype=np.float32)})
    failed = await finished(gateway, token, (await upload(gateway, token, wrong))["id"])
    assert failed["status"] == "failed" and failed["reason"], failed
    assert {k: (await quota(gateway, token))[k] for k in ("used", "left")} == {"used": 1, "left": daily - 1}

    # Refused at `complete` (the bytes are not the ones announced): rejected, the slot comes back too.
    data = npy_zip(truth)
    start = await gateway.post("/api/v1/submissions", headers=bearer(token), json={
        "task_id": "lab", "filename": "p.zip", "size_bytes": len(data),
        "sha256": hashlib.sha256(b"something else").hexdigest()})
    assert start.status_code == 200, start.text
    assert (await quota(gateway, token))["used"] == 2  # taken while the upload is under way
    async with httpx.AsyncClient() as s3:
        assert (await s3.put(start.json()["upload_url"], content=data)).status_code == 200
    refused = await gateway.post(f"/api/v1/submissions/{start.json()['submission_id']}/complete", json={},
                                 headers=bearer(token))
    assert refused.status_code == 422 and "sha256" in refused.json()["detail"], refused.text
    assert {k: (await quota(gateway, token))[k] for k in ("used", "left")} == {"used": 1, "left": daily - 1}


async def test_quota_refusals_say_why(gateway: AsyncTestClient, admin_token: str) -> None:
    _, token = await team_token(gateway, admin_token)
    unknown = await gateway.get("/api/v1/tasks/nope/quota", headers=bearer(token))
    assert unknown.status_code == 404 and "no task 'nope'" in unknown.json()["detail"]
    admin = await gateway.get("/api/v1/tasks/lab/quota", headers=bearer(admin_token))
    assert admin.status_code == 403 and "log in as a team" in admin.json()["detail"]
    anonymous = await gateway.get("/api/v1/tasks/lab/quota")
    assert anonymous.status_code == 401
