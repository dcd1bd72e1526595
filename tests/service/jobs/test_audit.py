"""The audit trail through the public API: every admin action (team create/import/update/delete, hide and
disqualify, rescore, reveal, cancel, Q&A moderation) leaves exactly one entry with who, when and what; it can
be filtered, only admins read it, and nothing in the API edits it."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from nats.aio.client import Client as NatsClient

from deploy.demo import make_ground_truth, noisy_submission, npy_zip
from proto.competition import Competition
from proto.streams import LEADERBOARD_BOARD, LEADERBOARD_QA, LEADERBOARD_RESCORES, LEADERBOARD_SCORES, LEADERBOARD_TEAMS
from tests.api import bearer, login, new_team
from tests.conftest import ADMIN, task_of


async def audit(client: AsyncTestClient, admin_token: str, **filters: str) -> list[dict]:
    response = await client.get("/api/v1/admin/audit", params={"limit": 1000, **filters}, headers=bearer(admin_token))
    assert response.status_code == 200, response.text
    return response.json()


async def applied_everything_so_far(nc: NatsClient, timeout_s: float = 60) -> None:
    """Return once each of the leaderboard service's durable consumers has acknowledged every message of its
    stream up to the stream's last one now (the service acks after committing what the message changes)."""
    js = nc.jetstream()
    consumers = (LEADERBOARD_SCORES, LEADERBOARD_TEAMS, LEADERBOARD_BOARD, LEADERBOARD_RESCORES, LEADERBOARD_QA)
    last = {spec.durable: (await js.stream_info(spec.stream)).state.last_seq for spec in consumers}
    async with asyncio.timeout(timeout_s):
        for spec in consumers:
            while True:
                info = await js.consumer_info(spec.stream, spec.durable)
                # Every message up to `last` is acknowledged: the ack floor is there, or (a filtered consumer, whose
                # floor stays at its own subjects' latest message) nothing is left to deliver or to acknowledge.
                floor = info.ack_floor.stream_seq if info.ack_floor else 0
                if floor >= last[spec.durable] or (
                        info.num_ack_pending == 0 and info.num_pending == 0):
                    break
                await asyncio.sleep(0.1)


async def test_every_admin_action_leaves_exactly_one_audit_entry(
    gateway: AsyncTestClient, admin_token: str, competition: tuple[Path, Competition], nc: NatsClient
) -> None:
    since = datetime.now(UTC).isoformat()
    admin = bearer(admin_token)
    team_id, name, password = await new_team(gateway, admin_token)  # team_created
    token = await login(gateway, name, password)
    prefix = uuid.uuid4().hex[:6]
    report = await gateway.post("/api/v1/admin/teams", content=f"name,password\n{prefix}-a,pw-{prefix}-aaaa\n"
                                f"{prefix}-b,pw-{prefix}-bbbb\n", headers={**admin, "content-type": "text/csv"})
    assert report.status_code == 200, report.text
    imported = {str(row["team_id"]) for row in report.json()["rows"]}
    assert len(imported) == 2
    assert (await gateway.put(f"/api/v1/teams/{team_id}", json={"max_size": 3}, headers=admin)).status_code == 200
    assert (await gateway.post(f"/api/v1/admin/teams/{team_id}/standing", json={"hidden": True},
                               headers=admin)).status_code == 200
    assert (await gateway.post(f"/api/v1/admin/teams/{team_id}/standing", json={"disqualified": True},
                               headers=admin)).status_code == 200
    truth = make_ground_truth(task_of(competition, "lab"))
    scored = (await gateway.post("/api/v1/tasks/lab/submissions?wait=30", headers=bearer(token), files={
        "file": ("s.zip", npy_zip(noisy_submission(truth, 0.05, seed=9)), "application/zip")})).json()
    assert scored["status"] == "scored"
    rescore = await gateway.post("/api/v1/admin/rescores", json={"task_id": "lab", "submission_ids": [scored["id"]]},
                                 headers=admin)
    assert rescore.status_code == 202, rescore.text
    ticket = (await gateway.post("/api/v1/submissions", headers=bearer(token), json={
        "task_id": "lab", "filename": "a.zip", "size_bytes": 10})).json()
    assert (await gateway.post(f"/api/v1/submissions/{ticket['submission_id']}/cancel",
                               headers=admin)).status_code == 200
    question = (await gateway.post("/api/v1/qa/questions", json={"title": "t", "content": "c"},
                                   headers=bearer(token))).json()
    assert (await gateway.put(f"/api/v1/qa/questions/{question['id']}", json={"answer": "a"},
                              headers=admin)).status_code == 200
    assert (await gateway.put(f"/api/v1/qa/questions/{question['id']}", json={"hidden": True},
                              headers=admin)).status_code == 200
    assert (await gateway.delete(f"/api/v1/admin/teams/{team_id}", headers=admin)).status_code == 200

    expected = Counter({
        ("team_created", str(team_id)): 1, ("team_updated", str(team_id)): 1, ("standing", str(team_id)): 2,
        ("rescore", "lab"): 1, ("cancel", str(ticket["submission_id"])): 1,
        ("question_answered", str(question["id"])): 1, ("question_hidden", str(question["id"])): 1,
        ("team_deleted", str(team_id)): 1,
    })
    async with asyncio.timeout(20):  # the leaderboard service applies the events as they arrive
        while True:
            mine = [e for e in await audit(gateway, admin_token, by=ADMIN[0], since=since)
                    if e["target"] in {t for _, t in expected} or e["action"] == "team_created"]
            seen = Counter((e["action"], e["target"]) for e in mine)
            if all(seen[key] >= n for key, n in expected.items()):
                break
            await asyncio.sleep(0.2)
    # A duplicate would be another message in one of these streams: once the leaderboard service has applied every
    # message they hold now, the trail holds whatever those messages add.
    await applied_everything_so_far(nc)
    mine = await audit(gateway, admin_token, by=ADMIN[0], since=since)
    seen = Counter((e["action"], e["target"]) for e in mine)
    for key, count in expected.items():
        assert seen[key] == count, (key, seen[key])
    created = [e for e in mine if e["action"] == "team_created"]
    assert {e["detail"]["name"] for e in created} >= {name, f"{prefix}-a", f"{prefix}-b"}
    assert len({e["target"] for e in created}) == len(created)  # one entry per team
    assert imported <= {e["target"] for e in created}
    entry = next(e for e in mine if e["action"] == "cancel")
    assert entry["actor"] == ADMIN[0] and entry["detail"]["by_admin"] is True
    assert datetime.fromisoformat(entry["occurred_at"]) >= datetime.fromisoformat(since)
    # The team's own question is audited under the team's name, not the admin's.
    posted = await audit(gateway, admin_token, action="question_posted", target=str(question["id"]))
    assert [e["actor"] for e in posted] == [name]


async def test_the_audit_trail_is_admin_only_and_read_only(gateway: AsyncTestClient, admin_token: str) -> None:
    _, name, password = await new_team(gateway, admin_token)
    token = await login(gateway, name, password)
    assert (await gateway.get("/api/v1/admin/audit", headers=bearer(token))).status_code == 403
    assert (await gateway.get("/api/v1/admin/audit")).status_code == 401
    for method in ("post", "put", "patch", "delete"):
        response = await getattr(gateway, method)("/api/v1/admin/audit", headers=bearer(admin_token))
        assert response.status_code == 405, (method, response.status_code)
    bad = await gateway.get("/api/v1/admin/audit", params={"since": "yesterday"}, headers=bearer(admin_token))
    assert bad.status_code == 400
    assert (await gateway.get("/api/v1/admin/audit", params={"limit": 0}, headers=bearer(admin_token))
            ).status_code == 400


@pytest.mark.parametrize("action", ["team_created", "standing"])
async def test_filters_narrow_the_trail(gateway: AsyncTestClient, admin_token: str, action: str) -> None:
    entries = await audit(gateway, admin_token, action=action)
    assert entries and {e["action"] for e in entries} == {action}
    times = [e["occurred_at"] for e in entries]
    assert times == sorted(times, reverse=True)
