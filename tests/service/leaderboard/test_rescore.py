"""Rescoring by replay: the chosen submissions are scored again under a new version, old scores stay, the
board switches when all are done and an unchanged scorer gives an identical board; the CLI does the same."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import asyncpg
from litestar.testing import AsyncTestClient

from deploy.demo import make_ground_truth, noisy_submission, npy_zip
from deploy.stack import EmbeddedStack
from proto.competition import Competition
from tests.api import bearer, login, new_team
from tests.conftest import task_of


async def scored_submission(client: AsyncTestClient, admin_token: str, truth: dict, noise: float) -> tuple[str, int]:
    _, name, password = await new_team(client, admin_token)
    token = await login(client, name, password)
    response = await client.post("/submit/lab?wait=30", headers=bearer(token),
                                 files={"file": ("s.zip", npy_zip(noisy_submission(truth, noise, seed=31)))})
    assert response.json()["status"] == "scored"
    return token, response.json()["id"]


async def finished(client: AsyncTestClient, admin_token: str, rescore_id: str) -> dict:
    async with asyncio.timeout(60):
        while True:
            report = await client.get(f"/api/v1/admin/rescores/{rescore_id}", headers=bearer(admin_token))
            if report.status_code == 200 and report.json()["completed"]:
                return report.json()
            await asyncio.sleep(0.2)


async def test_rescore_of_an_unchanged_scorer_gives_an_identical_board(
    gateway: AsyncTestClient, admin_token: str, competition: tuple[Path, Competition], pg_pool: asyncpg.Pool
) -> None:
    truth = make_ground_truth(task_of(competition, "lab"))
    token, first = await scored_submission(gateway, admin_token, truth, 0.05)
    _, second = await scored_submission(gateway, admin_token, truth, 0.15)
    before = (await gateway.get("/api/v1/leaderboards/lab", headers=bearer(admin_token))).json()
    tasks = (await gateway.get("/api/v1/tasks", headers=bearer(admin_token))).json()["tasks"]
    identity = next(task["scorer_version"] for task in tasks if task["id"] == "lab")  # derived, in the bucket

    refused = await gateway.post("/api/v1/admin/rescores", json={"task_id": "lab"}, headers=bearer(token))
    assert refused.status_code == 403
    started = await gateway.post("/api/v1/admin/rescores", json={"task_id": "lab", "submission_ids": [first, second]},
                                 headers=bearer(admin_token))
    assert started.status_code == 202, started.text
    rescore = started.json()
    assert rescore["submissions"] == 2 and rescore["scorer_version"].startswith(f"{identity}-r")

    report = await finished(gateway, admin_token, rescore["rescore_id"])
    assert (report["expected"], report["done"]) == (2, 2)
    moved = [m for m in report["movements"] if m["old_rank"] != m["new_rank"] or m["old_score"] != m["new_score"]]
    assert moved == []
    async with asyncio.timeout(10):
        while True:
            after = (await gateway.get("/api/v1/leaderboards/lab", headers=bearer(admin_token))).json()
            if after["revision"] > before["revision"]:
                break
            await asyncio.sleep(0.1)
    assert (after["public"], after["private"]) == (before["public"], before["private"])
    # The old scores stay beside the new ones.
    versions = await pg_pool.fetch("SELECT scorer_version FROM submissions.scores WHERE submission_id = $1", first)
    assert {v["scorer_version"] for v in versions} == {identity, rescore["scorer_version"]}
    reused = await gateway.post("/api/v1/admin/rescores", headers=bearer(admin_token), json={
        "task_id": "lab", "submission_ids": [first], "scorer_version": rescore["scorer_version"]})
    assert reused.status_code == 409
    invalid = await gateway.post("/api/v1/admin/rescores", headers=bearer(admin_token), json={
        "task_id": "lab", "submission_ids": [first], "scorer_version": "v.2"})
    assert invalid.status_code == 422 and "scorer version" in invalid.json()["detail"]


async def test_rescore_cli_prints_who_moved(
    gateway: AsyncTestClient, admin_token: str, competition: tuple[Path, Competition], auth_service: dict[str, str],
    stack: EmbeddedStack,
) -> None:
    truth = make_ground_truth(task_of(competition, "lab"))
    _, submission = await scored_submission(gateway, admin_token, truth, 0.08)
    # An operator's command: it sends requests as an admin, so it connects as the NATS admin (no service may).
    admin = {key: stack.env()[key] for key in ("PODIUM_NATS_USER", "PODIUM_NATS_PASSWORD")}
    env = {**auth_service, **admin, "PODIUM_COMPETITION_FILE": str(competition[0])}
    result = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "submission_service", "rescore", "--task", "lab", "--id", str(submission),
        "--wait", "60"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "1 submissions of lab" in result.stdout and "1/1 scored" in result.stdout
    assert "rank" in result.stdout
    missing = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "submission_service", "rescore", "--task", "lab", "--id", "999999", "--wait", "1"],
        env=env, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "no scored or failed submission" in missing.stderr
