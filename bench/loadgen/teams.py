"""The teams of one load step: each submits the way the `podium` CLI does (announce, PUT to the presigned URL,
complete with the sha256, then read its status every second until it has an outcome), then reads the board and
its own history, and waits until its next turn (every 10–20 s, drawn per cycle). A prober reads `GET /health`
5 times a second meanwhile: the reference latency, measured under the same load."""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from bench.loadgen.figures import sighting_key
from deploy.demo import make_ground_truth, noisy_submission, npy_zip
from proto.competition import Task

TERMINAL = frozenset({"scored", "failed", "rejected", "expired", "cancelled"})
POLL_INTERVAL_S = 1.0
SCORE_TIMEOUT_S = 120.0
PERIOD_S = (10.0, 20.0)  # a team's time between two submissions, drawn uniformly for each cycle
# Routes as reported; the storage PUT goes to S3 directly, not through the gateway: reported apart.
API_ROUTES = ("start upload", "complete", "status", "board", "history")
STORAGE_PUT = "storage PUT"
HEALTH = "GET /health"


@dataclass
class Recorder:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    sent_at: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # monotonic, as latencies
    errors: list[str] = field(default_factory=list)
    scored_at: dict[str, float] = field(default_factory=dict)  # sighting key → scored_at (epoch seconds)
    to_score: list[float] = field(default_factory=list)  # complete sent → scored_at, seconds

    def api_latencies(self, window: tuple[float, float] | None = None) -> list[float]:
        """Every API request's latency, or those of the requests sent within `window` (monotonic seconds)."""
        if window is None:
            return [v for route in API_ROUTES for v in self.latencies[route]]
        return [v for route in API_ROUTES for v, at in zip(self.latencies[route], self.sent_at[route], strict=True)
                if window[0] <= at <= window[1]]

    async def call(self, client: httpx.AsyncClient, route: str, method: str, url: str,
                   **kwargs: Any) -> httpx.Response | None:
        """One request, timed; a transport error or any status but 200 is an error (and None)."""
        sent_at, started = time.monotonic(), time.perf_counter()
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            self.errors.append(f"{route}: {type(exc).__name__} {exc}")
            return None
        self.latencies[route].append(time.perf_counter() - started)
        self.sent_at[route].append(sent_at)
        if response.status_code != 200:
            self.errors.append(f"{route}: {response.status_code} {response.text[:200]}")
            return None
        return response


def archives(task: Task, count: int = 64) -> list[tuple[bytes, str]]:
    """Stored ZIPs of noisy predictions (noise 0.01 … 0.3: scores differ, ranks move) and their sha256."""
    truth = make_ground_truth(task)
    made = []
    for n in range(count):
        data = npy_zip(noisy_submission(truth, 0.01 + 0.29 * n / count, seed=n))
        made.append((data, hashlib.sha256(data).hexdigest()))
    return made


@dataclass
class Team:
    name: str
    token: str
    rng: random.Random
    scored: int = 0  # this team's scored submissions so far = its count on the board

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def submit(api: httpx.AsyncClient, storage: httpx.AsyncClient, record: Recorder, team: Team, task_id: str,
                 archive: tuple[bytes, str]) -> None:
    data, sha256 = archive
    ticket = await record.call(api, "start upload", "POST", "/api/v1/submissions", headers=team.headers,
                               json={"task_id": task_id, "filename": "predictions.zip", "size_bytes": len(data)})
    if ticket is None:
        return
    submission_id, upload_url = ticket.json()["submission_id"], ticket.json()["upload_url"]
    if await record.call(storage, STORAGE_PUT, "PUT", upload_url, content=data) is None:
        return
    completing = time.time()
    completed = await record.call(api, "complete", "POST", f"/api/v1/submissions/{submission_id}/complete",
                                  headers=team.headers, json={"sha256": sha256})
    if completed is None:
        return
    view = completed.json()
    deadline = time.monotonic() + SCORE_TIMEOUT_S
    while view["status"] not in TERMINAL and time.monotonic() < deadline:
        await asyncio.sleep(POLL_INTERVAL_S)
        polled = await record.call(api, "status", "GET", f"/api/v1/submissions/{submission_id}",
                                   headers=team.headers)
        if polled is not None:
            view = polled.json()
    if view["status"] != "scored":
        record.errors.append(f"submission {submission_id}: {view['status']} {view.get('reason') or ''}".strip())
        return
    team.scored += 1
    scored_at = datetime.fromisoformat(view["scored_at"]).timestamp()
    record.scored_at[sighting_key(team.name, team.scored)] = scored_at
    record.to_score.append(scored_at - completing)


async def team_loop(api: httpx.AsyncClient, storage: httpx.AsyncClient, record: Recorder, team: Team,
                    task_id: str, pool: list[tuple[bytes, str]], until: float) -> None:
    await asyncio.sleep(team.rng.uniform(0, PERIOD_S[1]))  # the teams' turns spread over a period
    while time.monotonic() < until:
        began = time.monotonic()
        period = team.rng.uniform(*PERIOD_S)
        await submit(api, storage, record, team, task_id, team.rng.choice(pool))
        await record.call(api, "board", "GET", f"/api/v1/leaderboards/{task_id}", headers=team.headers)
        await record.call(api, "history", "GET", "/api/v1/submissions", headers=team.headers)
        await asyncio.sleep(max(0.0, began + period - time.monotonic()))


async def health_prober(api: httpx.AsyncClient, record: Recorder, until: float, interval_s: float = 0.2) -> None:
    while time.monotonic() < until:
        began = time.monotonic()
        await record.call(api, HEALTH, "GET", "/health")
        await asyncio.sleep(max(0.0, began + interval_s - time.monotonic()))
