"""The admin's view of the competition (`/admin/stats`, MLS-GOAT's route, and `/api/v1/admin/stats`), from the
real services: it moves by exactly what a team does."""

from __future__ import annotations

from pathlib import Path

from litestar.testing import AsyncTestClient

from deploy.demo import make_ground_truth, noisy_submission, npy_zip
from proto.competition import Competition
from tests.api import bearer, team_token
from tests.conftest import task_of


async def stats(client: AsyncTestClient, admin_token: str, path: str = "/api/v1/admin/stats") -> dict:
    response = await client.get(path, headers=bearer(admin_token))
    assert response.status_code == 200, response.text
    return response.json()


async def test_stats_count_what_teams_do(
    gateway: AsyncTestClient, admin_token: str, competition: tuple[Path, Competition]
) -> None:
    before = await stats(gateway, admin_token)
    _, token = await team_token(gateway, admin_token)
    truth = make_ground_truth(task_of(competition, "lab"))
    for data in (npy_zip(noisy_submission(truth, 0.05, seed=21)), b"not a zip 1", b"not a zip 2"):
        response = await gateway.post("/api/v1/tasks/lab/submissions?wait=30", headers=bearer(token),
                                      files={"file": ("s.zip", data, "application/zip")})
        assert response.json()["status"] in ("scored", "failed")
    ticket = (await gateway.post("/api/v1/submissions", headers=bearer(token), json={
        "task_id": "lab", "filename": "a.zip", "size_bytes": 10})).json()
    await gateway.post(f"/api/v1/submissions/{ticket['submission_id']}/cancel", headers=bearer(token))
    after = await stats(gateway, admin_token, "/admin/stats")  # the MLS-GOAT route answers the same

    assert after["teams"] == before["teams"] + 1  # MLS-GOAT's own fields stay at the top level
    subs, old = after["submissions"], before["submissions"]
    assert subs["submissions"] == old["submissions"] + 4
    lab, old_lab = subs["by_task"]["lab"], old["by_task"].get("lab", {})
    for status, grew in (("scored", 1), ("failed", 2), ("cancelled", 1)):
        assert lab.get(status, 0) - old_lab.get(status, 0) == grew, status
        assert subs["by_status"].get(status, 0) - old["by_status"].get(status, 0) == grew, status
    assert len(subs["per_hour"]) == 24 and subs["per_hour"][-1]["count"] >= 4
    assert sum(h["count"] for h in subs["per_hour"]) <= subs["submissions"]
    top = {r["key"]: r["count"] for r in subs["failure_reasons"]}
    not_zip = [key for key in top if "not a ZIP" in key]
    assert not_zip and top[not_zip[0]] >= 2  # the same reason counted together
    counts = [r["count"] for r in subs["failure_reasons"]]
    assert counts == sorted(counts, reverse=True)
    assert 0 < subs["scoring_time_median_s"] <= subs["scoring_time_p95_s"]
    assert {q["kind"] for q in subs["queues"]} == {"cpu", "gpu"}
    assert after["websocket_clients"] >= 0


async def test_stats_are_for_admins_only(gateway: AsyncTestClient, admin_token: str) -> None:
    _, token = await team_token(gateway, admin_token)
    for path in ("/api/v1/admin/stats", "/admin/stats"):
        assert (await gateway.get(path, headers=bearer(token))).status_code == 403
