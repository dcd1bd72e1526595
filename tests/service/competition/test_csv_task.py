"""A csv task end to end on the running platform: a host adds it (no shape, a metric of the library), puts a
solution CSV (ids, target, Usage) as its ground truth, and a team's CSV of predictions is scored by cpu_scorer with
the metric on the public rows as scikit-learn computes it; a file missing an id fails with the reason its team
reads; a solution the task cannot use is refused with 422."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest
from litestar.testing import AsyncTestClient
from sklearn.metrics import roc_auc_score  # pyright: ignore[reportMissingTypeStubs, reportUnknownVariableType]

from tests.api import bearer, login, new_team
from tests.service.competition.host import Host, new_task

ROWS = 60


@pytest.fixture
def host(gateway: AsyncTestClient, admin_token: str) -> Host:
    return Host(gateway, admin_token)


def csv_task() -> dict[str, Any]:
    task = new_task("csv", format="csv", metric="roc_auc", max_upload_bytes=100_000)
    del task["shape"], task["samples"]
    return task


def solution(seed: int) -> tuple[list[str], np.ndarray, np.ndarray, bytes]:
    """Ids, binary targets, which rows are public, and the solution CSV (a few rows Ignored)."""
    rng = np.random.default_rng(seed)
    ids = [f"row-{index:03d}" for index in range(ROWS)]
    target = rng.permutation(np.arange(ROWS) % 2)
    usage = np.array(["Public", "Private", "Ignored"])[rng.permutation(np.arange(ROWS) % 3)]
    lines = ["id,target,Usage", *(f"{i},{t},{u}" for i, t, u in zip(ids, target, usage, strict=True))]
    return ids, target, usage == "Public", ("\r\n".join(lines) + "\r\n").encode()


def predictions(ids: list[str], values: np.ndarray) -> bytes:
    rows = [f"{i},{v!r}" for i, v in zip(ids, values.tolist(), strict=True)]
    return ("\n".join(["target,id", *(",".join(reversed(row.split(","))) for row in rows[::-1])]) + "\n").encode()


async def submit(client: httpx.AsyncClient, token: str, task_id: str, data: bytes) -> dict[str, Any]:
    response = await client.post(f"/api/v1/tasks/{task_id}/submissions?wait=60", headers=bearer(token),
                                 files={"file": ("predictions.csv", data, "text/csv")})
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_csv_task_scores_a_csv_of_predictions_with_its_metric(host: Host) -> None:
    task = csv_task()
    await host.add_task(task)
    ids, target, public, truth = solution(seed=7)

    # A solution the task's metric cannot take (targets that are not 0 and 1 for a binary AUC) is refused.
    not_binary = truth.replace(b",1,", b",2,")
    refused = await host.upload_ground_truth(task["id"], not_binary)
    assert refused.status_code == 422 and "roc_auc" in refused.json()["detail"], refused.text
    no_usage = b"id,target\nrow-000,1\n"
    refused = await host.upload_ground_truth(task["id"], no_usage)
    assert refused.status_code == 422 and "no Usage column" in refused.json()["detail"], refused.text

    shown = next(t for t in (await host.client.get("/api/v1/tasks")).json()["tasks"] if t["id"] == task["id"])
    assert shown["expected_format"].startswith("a CSV of predictions (roc_auc)"), shown

    completed = await host.upload_ground_truth(task["id"], truth)
    assert completed.status_code == 200, completed.text

    _, name, password = await new_team(host.client, host.token)
    token = await login(host.client, name, password)
    values = np.clip(target + np.random.default_rng(1).normal(0, 0.6, ROWS), 0, 1)
    scored = await submit(host.client, token, task["id"], predictions(ids, values))
    assert scored["status"] == "scored", scored
    expected = float(roc_auc_score(target[public], values[public]))
    assert scored["public_score"] == pytest.approx(expected, abs=1e-12), scored
    assert scored["metrics"]["roc_auc_public"] == scored["public_score"], scored
    # Before the reveal the team sees nothing of the private rows.
    assert scored["private_score"] is None and not [name for name in scored["metrics"] if "private" in name], scored

    missing = await submit(host.client, token, task["id"], predictions(ids[1:], values[1:]))
    assert missing["status"] == "failed", missing
    assert missing["reason"] == ("the ids in column 'id' do not match the task's: 1 of the task's 60 ids is missing "
                                 "('row-000')"), missing
    assert missing["public_score"] is None, missing
