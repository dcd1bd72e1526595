"""Prometheus metrics and JSON logs as an operator sees them: scraped from the real service processes and the
gateway after real submissions, and logs joined to traces by the submission's trace id."""

from __future__ import annotations

import asyncio
import json
import re

import httpx
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from deploy.demo import make_ground_truth, noisy_submission, npy_zip
from tests.api import bearer, live_socket, team_token
from tests.conftest import ScoringServices, task_of

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """The sample with these labels (others ignored); None when absent."""
    found = [v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls]
    return sum(found) if found else None


async def scrape(port: int) -> Samples:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def submit(gateway: AsyncTestClient, token: str, data: bytes) -> dict:
    response = await gateway.post("/api/v1/tasks/lab/submissions?wait=30", headers=bearer(token),
                                  files={"file": ("s.zip", data, "application/zip")})
    assert response.status_code == 200, response.text
    return response.json()


async def test_scoring_counts_durations_failures_queues_and_outbox_are_scraped(
    gateway: AsyncTestClient, admin_token: str, scoring_services: ScoringServices, competition: tuple
) -> None:
    ports = scoring_services.ports
    before = await scrape(ports["cpu_scorer"])
    _, token = await team_token(gateway, admin_token)
    truth = make_ground_truth(task_of(competition, "lab"))
    assert (await submit(gateway, token, npy_zip(noisy_submission(truth, 0.05, seed=3))))["status"] == "scored"
    assert (await submit(gateway, token, b"not a zip at all"))["status"] == "failed"

    cpu = await scrape(ports["cpu_scorer"])

    def grew(name: str, **labels: str) -> float:
        return (value(cpu, name, **labels) or 0) - (value(before, name, **labels) or 0)

    assert grew("validation_duration_seconds_count", scorer="cpu_scorer", task="lab", outcome="scored") == 1
    assert grew("validation_duration_seconds_count", scorer="cpu_scorer", task="lab", outcome="failed") == 1
    assert grew("podium_scoring_failures_total", scorer="cpu_scorer", reason="archive_rejected") == 1
    assert grew("faststream_received_messages_total", app_name="cpu_scorer") >= 2

    async with asyncio.timeout(10):  # gauges are refreshed every second in the tests
        while True:
            cpu = await scrape(ports["cpu_scorer"])
            submissions = await scrape(ports["submission_service"])
            if value(cpu, "validation_queue_length", scorer="cpu_scorer") is not None and \
                    value(submissions, "podium_outbox_backlog", schema="submissions") is not None:
                break
            await asyncio.sleep(0.2)
    assert value(cpu, "podium_consumer_pending_messages", stream="SUBMISSIONS", consumer="cpu_scorer") == 0
    assert value(submissions, "podium_outbox_backlog", schema="submissions") == 0
    assert (value(submissions, "podium_submissions_total", task="lab", status="scored") or 0) >= 1
    assert (value(submissions, "podium_submissions_total", task="lab", status="failed") or 0) >= 1
    assert value(submissions, "podium_submissions_unfinished", status="received") is not None
    assert value(submissions, "podium_submissions_oldest_unfinished_age_seconds") is not None
    board = await scrape(ports["leaderboard_service"])
    assert value(board, "podium_consumer_pending_messages", stream="SCORES") is not None


async def test_gateway_counts_requests_by_route_template_and_open_websockets(
    gateway: AsyncTestClient, admin_token: str, gateway_url: str
) -> None:
    """Scraped from the gateway process (real sockets for the WebSocket clients)."""
    _, token = await team_token(gateway, admin_token)
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        before = parse((await client.get("/metrics")).text)
        for submission_id in (987654, 987655):  # two ids, one route: one series, not one per id
            assert (await client.get(f"/api/v1/submissions/{submission_id}", headers=bearer(token))).status_code == 404
        await client.get("/health")
        async with live_socket(gateway_url, token) as socket:
            await socket.send(json.dumps({"follow": ["recon"]}))
            await socket.recv()
            during = parse((await client.get("/metrics")).text)
        async with asyncio.timeout(5):  # the server notices the close just after the client
            while (after := parse((await client.get("/metrics")).text)) and \
                    value(after, "podium_websocket_clients") != (value(during, "podium_websocket_clients") or 0) - 1:  # noqa: ASYNC110
                await asyncio.sleep(0.05)

    route = "/api/v1/submissions/{submission_id}"
    def grew(name: str, **labels: str) -> float:
        return (value(after, name, **labels) or 0) - (value(before, name, **labels) or 0)

    assert grew("http_requests_total", path=route, method="GET", status_code="404") == 2
    assert grew("http_request_duration_seconds_count", path=route) == 2
    assert not [labels for (name, labels) in after if name == "http_requests_total"
                and any(v.endswith("987654") for _, v in labels)]
    assert not [labels for (name, labels) in after if name == "http_requests_total"
                and ("path", "/health") in labels]  # probes and scrapes are not counted
    assert (value(during, "podium_websocket_clients") or 0) >= 1


async def test_a_scorers_json_log_line_carries_the_submission_and_its_trace(
    gateway: AsyncTestClient, admin_token: str, scoring_services: ScoringServices, competition: tuple
) -> None:
    """An operator greps the submission id, gets the trace id, and finds the spans of that submission."""
    _, token = await team_token(gateway, admin_token)
    truth = make_ground_truth(task_of(competition, "lab"))
    body = await submit(gateway, token, npy_zip(noisy_submission(truth, 0.05, seed=4)))
    submission_id = str(body["id"])
    async with asyncio.timeout(10):  # the console exporter writes spans in batches
        while True:
            lines = [json.loads(line) for line in scoring_services.log("cpu_scorer").splitlines()
                     if line.startswith("{") and '"submission scored"' in line]
            scored = [line for line in lines if line.get("submission_id") == submission_id]
            if scored and re.search(rf'"trace_id": "0x{scored[0].get("trace_id", "-")}"',
                                    scoring_services.log("cpu_scorer")):
                break
            await asyncio.sleep(0.2)
    (line,) = scored
    assert re.fullmatch(r"[0-9a-f]{32}", line["trace_id"]) and re.fullmatch(r"[0-9a-f]{16}", line["span_id"])
    assert (line["service"], line["level"]) == ("cpu_scorer", "INFO")
