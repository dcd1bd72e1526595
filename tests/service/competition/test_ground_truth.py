"""A task's ground truth, put through the API of the running platform (presigned PUT to the real S3, then
`complete`): a file that does not fit the task is refused with 422 and the reason, and nothing changes; completing an
upload of another task is a 404. Replacing a good ground truth is a new scoring identity: the scores computed under
the old one stay (the document counts them as stale), the board keeps them until a rescore, and the rescore switches
the board to the new scores (its report says who moved)."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import asyncpg
import httpx
import numpy as np
import pytest
from litestar.testing import AsyncTestClient

from deploy.demo import noisy_submission, npy_zip
from tests.api import bearer, login, new_team
from tests.service.competition.host import Host, ground_truth_of, new_task


@pytest.fixture
def host(gateway: AsyncTestClient, admin_token: str) -> Host:
    return Host(gateway, admin_token)


def npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def model_task() -> dict[str, Any]:
    return new_task("model-truth", kind="gpu", metric="accuracy", shape=[4], model={"classes": 3},
                    max_upload_bytes=1_000_000)


def tensor_files(task: dict[str, Any]) -> list[tuple[str, bytes, str]]:
    truth = ground_truth_of(task)
    first = next(iter(truth))
    return [
        ("a sample of the wrong shape", npy_zip({**truth, first: np.zeros((3, 4, 4), np.float32)}),
         "has shape [3, 4, 4]"),
        ("a sample missing", npy_zip({k: v for k, v in truth.items() if k != first}), f"lacks {first}.npy"),
        ("not a ZIP", b"these are not the samples you are looking for", "must be a ZIP of .npy files"),
        ("text where a sample is", npy_zip(truth)[:-40] + b"x" * 40, "ZIP"),
        ("strings for numbers", npy_zip({**truth, first: np.full((3, 8, 8), "a")}), "a number type is needed"),
    ]


def model_files() -> list[tuple[str, bytes, str]]:
    x, y = np.zeros((5, 4), np.float32), np.array([0, 1, 2, 0, 1])
    return [
        ("labels beyond the task's classes", npz(x=x, y=np.array([0, 1, 2, 3, 1])), "labels must be 0 to 2"),
        ("labels that are not integers", npz(x=x, y=y.astype(np.float32)), "labels y must be integers"),
        ("no labels", npz(x=x), "needs arrays x and y"),
        ("samples of the wrong shape", npz(x=np.zeros((5, 3), np.float32), y=y), "has x [5, 3]"),
        ("as many labels as samples, not", npz(x=x, y=y[:4]), "and y [4]"),
        ("not an npz", b"PK\x03\x04 but not really", "must be an .npz of x and y"),
    ]


async def test_a_bad_ground_truth_is_refused_with_the_reason_and_nothing_changes(host: Host) -> None:
    tensor, model = new_task("bad-truth"), model_task()
    await host.add_task(tensor)
    await host.add_task(model)
    cases = [(tensor, *case) for case in tensor_files(tensor)] + [(model, *case) for case in model_files()]
    for task, what, data, words in cases:
        version, document = await host.document()
        refused = await host.upload_ground_truth(task["id"], data)
        assert refused.status_code == 422, (what, refused.text)
        assert words in refused.json()["detail"], (what, refused.json())
        assert await host.document() == (version, document), what
        shown = next(t for t in (await host.client.get("/api/v1/competition")).json()["tasks"] if t["id"] == task["id"])
        assert (shown["has_ground_truth"], shown["accepting"]) == (False, False), what

    # A file that is not the one announced (its sha256) is refused the same way.
    version, document = await host.document()
    other = await host.upload_ground_truth(tensor["id"], npy_zip(ground_truth_of(tensor)), announced_sha256="0" * 64)
    assert other.status_code == 422 and "was announced" in other.json()["detail"], other.text
    assert await host.document() == (version, document)

    # The right files are taken.
    assert (await host.put_ground_truth(tensor))["changed"]
    rng = np.random.default_rng(5)
    good = await host.upload_ground_truth(model["id"], npz(x=rng.random((20, 4), dtype=np.float32),
                                                          y=rng.integers(0, 3, 20)))
    assert good.status_code == 200 and good.json()["changed"], good.text


async def test_an_upload_is_completed_only_for_its_own_task_and_once(host: Host) -> None:
    first, second = new_task("truth-a"), new_task("truth-b")
    await host.add_task(first)
    await host.add_task(second)
    started = await host.client.post(f"/api/v1/admin/tasks/{first['id']}/ground-truth", headers=host.headers,
                                     json={"size_bytes": 10})
    assert started.status_code == 200, started.text
    upload_id = started.json()["upload_id"]
    version, document = await host.document()
    elsewhere = await host.client.post(f"/api/v1/admin/tasks/{second['id']}/ground-truth/complete",
                                       headers=host.headers, json={"upload_id": upload_id})
    assert elsewhere.status_code == 404 and f"for task {second['id']}" in elsewhere.json()["detail"], elsewhere.text
    early = await host.client.post(f"/api/v1/admin/tasks/{first['id']}/ground-truth/complete", headers=host.headers,
                                   json={"upload_id": upload_id})
    assert early.status_code == 409 and "PUT the file to the upload URL first" in early.json()["detail"], early.text
    unknown = await host.client.post("/api/v1/admin/tasks/no-such-task/ground-truth", headers=host.headers,
                                     json={"size_bytes": 10})
    assert unknown.status_code == 404 and "no task 'no-such-task'" in unknown.json()["detail"], unknown.text
    assert await host.document() == (version, document)


async def _scored(client: httpx.AsyncClient, token: str, task_id: str, data: bytes) -> dict[str, Any]:
    response = await client.post(f"/api/v1/tasks/{task_id}/submissions?wait=60", headers=bearer(token),
                                 files={"file": ("s.zip", data, "application/zip")})
    assert response.status_code == 200 and response.json()["status"] == "scored", response.text
    return response.json()


async def _order(host: Host, task_id: str, *, other_than: list[str] | None = None) -> list[str]:
    """The teams on the task's public board, in order, once it has two (and, if given, once it is not `other_than`);
    the bound only guards against a hang."""
    async with asyncio.timeout(30):
        while True:
            board = await host.client.get(f"/api/v1/leaderboards/{task_id}", headers=host.headers)
            order = [entry["team_name"] for entry in board.json().get("public") or []]
            if board.status_code == 200 and len(order) == 2 and order != other_than:
                return order
            await asyncio.sleep(0.1)


async def _rescored(host: Host, rescore_id: str) -> dict[str, Any]:
    async with asyncio.timeout(90):
        while True:
            report = await host.client.get(f"/api/v1/admin/rescores/{rescore_id}", headers=host.headers)
            if report.status_code == 200 and report.json()["completed"]:
                return report.json()
            await asyncio.sleep(0.2)


async def test_replacing_the_ground_truth_is_a_new_identity_and_a_rescore_switches_the_board(
    host: Host, pg_pool: asyncpg.Pool
) -> None:
    task = new_task("replaced", daily_quota=10)
    await host.add_task(task)
    old_truth = ground_truth_of(task)
    new_truth = {name: np.random.default_rng(99).random(array.shape, dtype=np.float32)
                 for name, array in old_truth.items()}
    await host.put_ground_truth(task, old_truth)
    old_identity = (await host.client.get("/api/v1/admin/competition", headers=host.headers)).json()[
        "identities"][task["id"]]

    # Team A is close to the old ground truth, team B to the new one: A leads under the old, B under the new.
    teams = {}
    for team, truth in (("A", old_truth), ("B", new_truth)):
        _, name, password = await new_team(host.client, host.token)
        token = await login(host.client, name, password)
        teams[team] = (name, await _scored(host.client, token, task["id"], npy_zip(noisy_submission(truth, 0.05))))
    assert await _order(host, task["id"]) == [teams["A"][0], teams["B"][0]]

    replaced = await host.put_ground_truth(task, new_truth)
    assert replaced["identity_changed"] == [task["id"]] and replaced["stale"] == {task["id"]: 2}, replaced
    document = (await host.client.get("/api/v1/admin/competition", headers=host.headers)).json()
    assert document["identities"][task["id"]] != old_identity and document["stale"][task["id"]] == 2, document
    new_identity = document["identities"][task["id"]]

    # The old scores stay, and the board keeps them until a rescore.
    for _, submission in teams.values():
        kept = await pg_pool.fetch("SELECT identity FROM submissions.scores WHERE submission_id = $1 AND outcome = "
                                   "'computed'", submission["id"])
        assert [row["identity"] for row in kept] == [old_identity], kept
    assert await _order(host, task["id"]) == [teams["A"][0], teams["B"][0]]

    started = await host.client.post("/api/v1/admin/rescores", json={"task_id": task["id"]}, headers=host.headers)
    assert started.status_code == 202 and started.json()["submissions"] == 2, started.text
    report = await _rescored(host, started.json()["rescore_id"])
    moved = {m["team_name"]: (m["old_rank"], m["new_rank"]) for m in report["movements"]}
    assert moved == {teams["A"][0]: (1, 2), teams["B"][0]: (2, 1)}, report
    assert await _order(host, task["id"], other_than=[teams["A"][0], teams["B"][0]]) == [teams["B"][0], teams["A"][0]]
    for _, submission in teams.values():
        kept = await pg_pool.fetch("SELECT identity FROM submissions.scores WHERE submission_id = $1 AND outcome = "
                                   "'computed'", submission["id"])
        assert sorted(row["identity"] for row in kept) == sorted([old_identity, new_identity]), kept
    after = (await host.client.get("/api/v1/admin/competition", headers=host.headers)).json()
    assert after["stale"][task["id"]] == 0, after["stale"]
