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
from nats.aio.client import Client as NatsClient
from sklearn.metrics import log_loss, roc_auc_score  # pyright: ignore[reportMissingTypeStubs, reportUnknownVariableType]

from tests.api import bearer, login, new_team
from tests.service.competition.host import Host, new_task, score_event

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


async def test_every_column_is_scored_and_a_hidden_one_reaches_only_the_score_event(host: Host,
                                                                                    nc: NatsClient) -> None:
    """AUC ranks, LogLoss is shown beside it, and a hidden accuracy (probabilities above 0.5 are class 1) is
    computed for the hosts: the score event carries it; the metrics, the details and the job log never do."""
    task: dict[str, Any] = csv_task() | {"metrics": [{"name": "roc_auc", "column": "AUC", "primary": True},
                                     {"name": "log_loss", "column": "LogLoss", "precision": 3},
                                     {"name": "accuracy", "column": "Secret", "hidden": True}]}
    await host.add_task(task)
    ids, target, public, truth = solution(seed=11)
    assert (await host.upload_ground_truth(task["id"], truth)).status_code == 200
    team_id, name, password = await new_team(host.client, host.token)
    token = await login(host.client, name, password)
    values = np.clip(target + np.random.default_rng(2).normal(0, 0.6, ROWS), 0, 1)

    scored = await host.submit(token, task["id"], "predictions.csv", predictions(ids, values), "text/csv")
    assert scored["status"] == "scored", scored
    auc = float(roc_auc_score(target[public], values[public]))
    loss = float(log_loss(target[public], values[public], labels=[0, 1]))
    assert scored["public_score"] == pytest.approx(auc, abs=1e-12), scored
    assert scored["metrics"] == {"AUC_public": pytest.approx(auc, abs=1e-12),
                                 "LogLoss_public": pytest.approx(loss, abs=1e-12), "rows_evaluated": 40.0}, scored

    event = await score_event(nc, task["id"], scored["id"])
    kept = private_rows(truth)
    assert event.public_columns == {"AUC": pytest.approx(auc, abs=1e-12), "LogLoss": pytest.approx(loss, abs=1e-12),
                                    "Secret": pytest.approx(float(np.mean((values[public] > 0.5) == target[public])),
                                                            abs=1e-12)}
    assert event.private_columns["AUC"] == pytest.approx(float(roc_auc_score(target[kept], values[kept])), abs=1e-12)
    assert event.private_score == event.private_columns["AUC"] and event.public_score == event.public_columns["AUC"]

    admin_view = await host.details(scored["id"])
    assert admin_view["primary"] == "AUC"
    assert {key for key in admin_view if key.startswith(("AUC", "LogLoss"))} == {
        "AUC_public", "AUC_private", "LogLoss_public", "LogLoss_private"}, admin_view
    assert not [key for key in admin_view if "Secret" in key or "accuracy" in key], admin_view
    team_view = await host.details(scored["id"], token)
    assert not [key for key in team_view if "private" in key or "Secret" in key], team_view
    logs = await host.client.get(f"/api/v1/submissions/{scored['id']}/logs", headers=bearer(token))
    assert logs.status_code == 200 and "Secret" not in logs.text and "LogLoss" not in logs.text, logs.text
    assert f"public AUC {auc:.6g}" in logs.text, logs.text

    line = await host.board_line(task["id"], team_id, token)
    assert line["score"] == pytest.approx(auc, abs=1e-12), line


def private_rows(truth: bytes) -> np.ndarray:
    """The rows of a solution CSV marked Private."""
    return np.array([line.endswith(",Private") for line in truth.decode().split("\r\n")[1:-1]])
