"""Queue visibility through the public API against the real services: a queued submission shows its place
in its scorer pool's queue and an ETA, both move (and are pushed over the WebSocket) as earlier jobs finish,
and `/api/v1/queues` shows the pool's pending, in-flight and workers. A pool's places are announced at most every
0.25 s (a rush's changes share one message), so the place pushed here is held by a slow job in front of it."""

from __future__ import annotations

import asyncio
import json

import pytest
from litestar.testing import AsyncTestClient

from tests.api import bearer, live_socket, team_token
from tests.onnx_models import baseline_weights, linear_model, to_bytes
from tests.service.jobs.test_cancel import SLOW_PRODUCTS, until_status, upload


@pytest.fixture(scope="module")
def models() -> dict[str, bytes]:
    weights = baseline_weights()
    return {"good": to_bytes(linear_model(*weights)),
            "slow": to_bytes(linear_model(*weights, repeat_square=SLOW_PRODUCTS))}


async def view(client: AsyncTestClient, token: str, submission_id: int) -> dict:
    return (await client.get(f"/api/v1/submissions/{submission_id}", headers=bearer(token))).json()


async def test_places_and_etas_move_as_earlier_jobs_finish_and_are_pushed_live(
    gateway: AsyncTestClient, gateway_url: str, admin_token: str, models: dict[str, bytes]
) -> None:
    _, token = await team_token(gateway, admin_token)
    warm = await upload(gateway, token, models["good"], wait=30)  # the pool has a recent scoring time
    assert warm["status"] == "scored"

    slow = await upload(gateway, token, models["slow"])
    await until_status(gateway, token, slow["id"], {"scoring"})
    first = await upload(gateway, token, models["slow"])  # scoring for a while once the one in front ends
    second = await upload(gateway, token, models["good"])
    one, two = await view(gateway, token, first["id"]), await view(gateway, token, second["id"])
    assert (one["status"], one["queue_position"], two["queue_position"]) == ("received", 1, 2)
    assert one["eta_s"] is not None and two["eta_s"] > one["eta_s"] > 0

    listed = {s["id"]: s for s in (await gateway.get("/api/v1/submissions", headers=bearer(token))).json()}
    assert listed[second["id"]]["queue_position"] == 2 and listed[warm["id"]]["queue_position"] is None
    queues = {q["kind"]: q for q in (await gateway.get("/api/v1/queues", headers=bearer(token))).json()}
    gpu = queues["gpu"]
    assert gpu["queued"] >= 2 and gpu["in_flight"] >= 1 and gpu["workers_alive"] >= 1
    assert gpu["consumer"] == "gpu_scorer" and gpu["average_scoring_s"] > 0
    assert gpu["scored_last_5_min"] >= 1 and gpu["throughput_per_min"] > 0
    assert set(queues) == {"cpu", "gpu"}

    async with live_socket(gateway_url, token) as socket:
        await socket.send(json.dumps({"follow": []}))
        await gateway.post(f"/api/v1/submissions/{slow['id']}/cancel", headers=bearer(token))  # the first starts
        pushed: dict[int, list[int]] = {}
        async with asyncio.timeout(20):
            while 1 not in pushed.get(second["id"], []):  # the second moves up to first place
                message = json.loads(await socket.recv())
                if message["type"] == "queue":
                    pushed.setdefault(message["submission_id"], []).append(message["queue_position"])
    assert pushed[second["id"]][-1] == 1
    moved = await view(gateway, token, second["id"])
    if moved["queue_position"] is not None:  # not started yet (it may start any moment): place and wait went down
        assert moved["queue_position"] == 1 and moved["eta_s"] < two["eta_s"]
    await gateway.post(f"/api/v1/submissions/{first['id']}/cancel", headers=bearer(token))
    assert (await until_status(gateway, token, second["id"], {"scored"})) == "scored"
    done = await view(gateway, token, second["id"])
    assert done["queue_position"] is None and done["eta_s"] is None


async def test_queues_need_a_signed_in_caller(gateway: AsyncTestClient) -> None:
    assert (await gateway.get("/api/v1/queues")).status_code == 401
