"""A submission's scorer log through the public API, against the real scorers: kept after the fact and
streamed live while the job runs, owner-only, bounded to the last 500 lines, and free of hidden values."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from litestar.testing import AsyncTestClient
from nats.aio.client import Client as NatsClient

from deploy.demo import make_ground_truth, noisy_submission, npy_zip
from proto import encode
from proto.competition import Competition
from proto.events import JobLogged
from tests.api import bearer, live_socket, team_token
from tests.conftest import task_of
from tests.onnx_models import baseline_weights, linear_model, to_bytes


async def logs(client: AsyncTestClient, token: str, submission_id: int) -> list[dict]:
    response = await client.get(f"/api/v1/submissions/{submission_id}/logs", headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()["lines"]


async def lines_until(client: AsyncTestClient, token: str, submission_id: int, text: str) -> list[str]:
    """Log lines arrive over core NATS just after the status: wait for the one we expect."""
    async with asyncio.timeout(10):
        while True:
            found = [line["line"] for line in await logs(client, token, submission_id)]
            if any(text in line for line in found):
                return found
            await asyncio.sleep(0.1)


async def test_a_scored_submission_keeps_its_log_without_private_values(
    gateway: AsyncTestClient, admin_token: str, competition: tuple[Path, Competition]
) -> None:
    _, token = await team_token(gateway, admin_token)
    truth = make_ground_truth(task_of(competition, "lab"))
    body = (await gateway.post("/api/v1/tasks/lab/submissions?wait=30", headers=bearer(token), files={
        "file": ("s.zip", npy_zip(noisy_submission(truth, 0.05, seed=31)), "application/zip")})).json()
    assert body["status"] == "scored"
    lines = await lines_until(gateway, token, body["id"], "public PSNR")
    assert lines[0].startswith("started: archive of") and "12 samples expected" in lines[0]
    assert "12 of 12 done" in lines and "3 of 12 done" in lines  # a line at each quarter
    assert f"public PSNR {body['public_score']:.4f} dB" in lines[-1]
    text = "\n".join(lines)
    assert "private" not in text.lower()
    assert body["private_score"] is None  # the private board is not revealed
    private = (await gateway.get(f"/api/v1/submissions/{body['id']}", headers=bearer(admin_token))
               ).json()["private_score"]
    for digits in (2, 3, 4):  # the private score appears in no precision
        assert f"{private:.{digits}f}" not in text
    assert await logs(gateway, admin_token, body["id"])  # an admin reads any team's log
    _, stranger = await team_token(gateway, admin_token)
    other = await gateway.get(f"/api/v1/submissions/{body['id']}/logs", headers=bearer(stranger))
    assert other.status_code == 404


async def test_a_refused_submission_logs_why(gateway: AsyncTestClient, admin_token: str) -> None:
    _, token = await team_token(gateway, admin_token)
    body = (await gateway.post("/api/v1/tasks/lab/submissions?wait=30", headers=bearer(token), files={
        "file": ("s.zip", b"definitely not a zip", "application/zip")})).json()
    assert body["status"] == "failed"
    lines = await lines_until(gateway, token, body["id"], "not scored:")
    assert f"not scored: {body['reason']}" in lines


async def test_the_log_keeps_the_last_500_lines(
    gateway: AsyncTestClient, admin_token: str, nc: NatsClient, competition: tuple[Path, Competition]
) -> None:
    team_id, token = await team_token(gateway, admin_token)
    truth = make_ground_truth(task_of(competition, "lab"))
    body = (await gateway.post("/api/v1/tasks/lab/submissions?wait=30", headers=bearer(token), files={
        "file": ("s.zip", npy_zip(noisy_submission(truth, 0.05, seed=32)), "application/zip")})).json()
    await lines_until(gateway, token, body["id"], "public PSNR")
    for n in range(600):  # a chatty scorer
        line = JobLogged(submission_id=str(body["id"]), team_id=str(team_id), line=f"flood {n}")
        await nc.publish(line.subject(), encode(line))
    await nc.flush()
    async with asyncio.timeout(20):
        while (kept := await logs(gateway, token, body["id"]))[-1]["line"] != "flood 599":
            await asyncio.sleep(0.2)
    assert len(kept) == 500 and kept[0]["line"] == "flood 100"
    assert [line["line"] for line in kept] == [f"flood {n}" for n in range(100, 600)]


async def test_log_lines_stream_live_to_the_team_while_the_model_runs(
    gateway: AsyncTestClient, gateway_url: str, admin_token: str
) -> None:
    _, token = await team_token(gateway, admin_token)
    model = to_bytes(linear_model(*baseline_weights()))
    async with live_socket(gateway_url, token) as socket:
        await socket.send(json.dumps({"follow": []}))
        body = (await gateway.post("/api/v1/tasks/digits/submissions", headers=bearer(token), files={
            "file": ("m.onnx", model, "application/octet-stream")})).json()
        streamed: list[str] = []
        async with asyncio.timeout(30):
            while not any("public accuracy" in line for line in streamed):
                message = json.loads(await socket.recv())
                if message["type"] == "log" and message["submission_id"] == body["id"]:
                    streamed.append(message["line"])
    assert streamed[0].startswith("model accepted: input 'input' float32 [batch, 64], 10 classes")
    assert any(line.endswith(" done") for line in streamed)


async def test_a_host_only_line_is_kept_for_admins_and_never_sent_to_its_team(
    gateway: AsyncTestClient, gateway_url: str, admin_token: str, nc: NatsClient,
    competition: tuple[Path, Competition]
) -> None:
    """A scoring program's output (JobLogged.host_only) is the host's: the admin's log has it, marked; the team's
    log and its live socket never carry it."""
    team_id, token = await team_token(gateway, admin_token)
    truth = make_ground_truth(task_of(competition, "lab"))
    body = (await gateway.post("/api/v1/tasks/lab/submissions?wait=30", headers=bearer(token), files={
        "file": ("s.zip", npy_zip(noisy_submission(truth, 0.05, seed=33)), "application/zip")})).json()
    await lines_until(gateway, token, body["id"], "public PSNR")
    secret = "program stdout: private Spearman 0.123456"
    async with live_socket(gateway_url, token) as socket:
        await socket.send(json.dumps({"follow": []}))
        for line, host_only in ((secret, True), ("after the program's line", False)):
            event = JobLogged(submission_id=str(body["id"]), team_id=str(team_id), line=line, host_only=host_only)
            await nc.publish(event.subject(), encode(event))
        await nc.flush()
        streamed: list[str] = []
        async with asyncio.timeout(30):  # one publisher, in order: the team's line comes after the host's
            while "after the program's line" not in streamed:
                message = json.loads(await socket.recv())
                if message["type"] == "log":
                    streamed.append(message["line"])
    assert secret not in streamed
    team_lines = await lines_until(gateway, token, body["id"], "after the program's line")
    assert secret not in team_lines
    admin_lines = await logs(gateway, admin_token, body["id"])
    assert {"line": secret, "host_only": True}.items() <= next(
        line for line in admin_lines if line["line"] == secret).items()
    assert not next(line for line in admin_lines if line["line"] == "after the program's line")["host_only"]
