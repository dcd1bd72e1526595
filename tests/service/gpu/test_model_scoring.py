"""Model submissions through the public API, scored by the real gpu_scorer process (ONNX Runtime engine):
the baseline's exact metrics on the public and private halves, and every bad model refused with a reason
while the scorer keeps scoring."""

from __future__ import annotations

import json

import numpy as np
import pytest
from litestar.testing import AsyncTestClient
from nats.aio.client import Client as NatsClient

from deploy.demo import digits_split
from tests.api import bearer, team_token
from tests.onnx_models import baseline_weights, linear_model, to_bytes, with_external_data


@pytest.fixture(scope="module")
def weights() -> tuple[np.ndarray, np.ndarray]:
    return baseline_weights()


async def submit_model(client: AsyncTestClient, token: str, data: bytes, task: str = "digits") -> dict:
    response = await client.post(f"/api/v1/tasks/{task}/submissions?wait=60", headers=bearer(token),
                                 files={"file": ("model.onnx", data, "application/octet-stream")})
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_baseline_scores_its_exact_accuracy(
    gateway: AsyncTestClient, admin_token: str, weights: tuple[np.ndarray, np.ndarray], nc: NatsClient
) -> None:
    _, token = await team_token(gateway, admin_token)
    body = await submit_model(gateway, token, to_bytes(linear_model(*weights)), task="task2")
    assert body["status"] == "scored", body
    _, (x, y) = digits_split()
    predicted = (x @ weights[0] + weights[1]).argmax(axis=1)
    from proto.competition import Split

    private = np.array(Split(private_fraction=0.5, seed=3).private_samples(len(y)))
    assert body["public_score"] == pytest.approx((predicted[~private] == y[~private]).mean())
    assert body["private_score"] is None and "accuracy_private" not in body["metrics"]  # not revealed: admins only
    seen = (await gateway.get(f"/api/v1/submissions/{body['id']}", headers=bearer(admin_token))).json()
    assert seen["private_score"] == pytest.approx((predicted[private] == y[private]).mean())
    assert seen["metrics"]["accuracy_private"] == seen["private_score"]
    assert body["public_score"] > 0.9
    metrics = body["metrics"]
    assert metrics["top3_public"] >= metrics["accuracy_public"] and 0 < metrics["macro_f1_public"] <= 1
    assert metrics["latency_p99_ms"] >= metrics["latency_p50_ms"] > 0 and metrics["throughput_samples_per_s"] > 0
    event = json.loads((await nc.jetstream().get_last_msg("SCORES", "score.computed.digits")).data or b"")
    assert event["details_key"].startswith("digits/") and len(event["ground_truth_sha256"]) == 64
    # The confusion matrix (public split) the web page plots, exact.
    details = (await gateway.get(f"/api/v1/submissions/{body['id']}/details", headers=bearer(token))).json()
    confusion = np.array(details["details"]["public"]["confusion"])
    public_y, public_predicted = y[~private], predicted[~private]
    assert confusion.sum() == len(public_y) and np.trace(confusion) == (public_predicted == public_y).sum()
    assert confusion[public_y[0], public_predicted[0]] >= 1


async def test_every_bad_model_is_refused_with_a_reason_and_the_next_good_one_scores(
    gateway: AsyncTestClient, admin_token: str, weights: tuple[np.ndarray, np.ndarray]
) -> None:
    _, token = await team_token(gateway, admin_token)
    w, b = weights
    cases = {
        "not onnx": (b"this is not a model", "not an ONNX model"),
        "custom op domain": (to_bytes(linear_model(w, b, domain="com.evil")), "com.evil"),
        "external data": (with_external_data(linear_model(w, b)), "external data"),
        "wrong input name": (to_bytes(linear_model(w, b, input_name="pixels")), "'input'"),
        "wrong classes": (to_bytes(linear_model(w[:, :9], b[:9])), "expected ['batch', 10]"),
        "fixed batch of 8": (to_bytes(linear_model(w, b, batch=8)), "batch dimension is fixed"),
        "oversized": (to_bytes(linear_model(np.zeros((64, 40_000), np.float32), np.zeros(40_000, np.float32))),
                      None),
    }
    for case, (data, words) in cases.items():
        response = await gateway.post("/api/v1/tasks/digits/submissions?wait=60", headers=bearer(token),
                                      files={"file": ("model.onnx", data, "application/octet-stream")})
        if words is None:  # over the task's size limit: refused before it is even stored
            assert response.status_code == 413 and "size must be" in response.json()["detail"], case
            continue
        body = response.json()
        assert body["status"] == "failed", (case, body)
        assert words in body["reason"], (case, body["reason"])
    good = await submit_model(gateway, token, to_bytes(linear_model(w, b)))
    assert good["status"] == "scored"


async def test_a_model_slower_than_the_time_limit_fails_with_a_reason(
    gateway: AsyncTestClient, admin_token: str, weights: tuple[np.ndarray, np.ndarray]
) -> None:
    _, token = await team_token(gateway, admin_token)
    # 600 products of 64×1024 by 1024×1024 per batch (40 GFLOP): far over 1 s on any one CPU core.
    slow = linear_model(*weights, repeat_square=600)
    body = await submit_model(gateway, token, to_bytes(slow), task="digits-quick")
    assert body["status"] == "failed" and "longer than" in body["reason"], body
    # The scorer is not held up by the run it stopped: the next model is scored. (Whether a small model fits in
    # 1 s depends on the machine, so it goes to the task with the ordinary limit: speed is bench's business.)
    fast = await submit_model(gateway, token, to_bytes(linear_model(*weights)))
    assert fast["status"] == "scored" and fast["reason"] is None, fast
