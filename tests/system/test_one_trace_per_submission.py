"""One submission is one trace: from the HTTP upload through the request to submission_service, its outbox,
NATS, the CPU scorer and the leaderboard update. Every service runs in this process (on its own fresh
NATS, PostgreSQL and S3) so that one in-memory exporter sees all their spans."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext

from auth_service.admin_cli import create_account
from auth_service.app import AuthServiceSettings
from auth_service.app import create_app as create_auth
from cpu_scorer.app import CpuScorerSettings
from cpu_scorer.app import create_app as create_cpu_scorer
from deploy.demo import make_ground_truth, noisy_submission, npy_zip, seed_ground_truth
from deploy.stack import EmbeddedStack, StackPorts
from gateway.app import create_app as create_gateway
from leaderboard_service.app import LeaderboardServiceSettings
from leaderboard_service.app import create_app as create_leaderboard
from podium_runtime.connections import create_s3
from proto.competition import parse_competition
from submission_service.app import SubmissionServiceSettings
from submission_service.app import create_app as create_submissions
from tests.api import bearer, login, new_team
from tests.conftest import gateway_settings

pytestmark = pytest.mark.system

COMPETITION = """
[competition]
name = "Traced"

[[tasks]]
id = "traced"
title = "A small PSNR task"
kind = "cpu"
metric = "psnr"
samples = 4
shape = [3, 8, 8]
ground_truth = "traced/ground_truth.zip"
"""


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    """The process's tracer provider, recording into memory (a process has one provider: set it once)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    trace.set_tracer_provider(provider)
    yield memory
    memory.shutdown()  # later tests' spans are dropped, not kept in memory


@contextlib.asynccontextmanager
async def platform(folder: Path) -> AsyncIterator[httpx.AsyncClient]:
    """Every service on this event loop, entered and left in one task (their lifespans require it)."""
    competition_file = folder / "competition.toml"
    competition_file.write_text(COMPETITION)
    with EmbeddedStack(folder / "stack", StackPorts.free(), durable=False) as stack:
        # Keyword arguments from the stack's variables: pydantic parses the strings as it does the environment's.
        common: dict[str, Any] = {k.removeprefix("PODIUM_").lower(): v for k, v in stack.env().items()}
        platform_settings = stack.settings()
        seed_ground_truth(create_s3(platform_settings), parse_competition(COMPETITION))
        # submission_service applies the file; the others follow the competition it publishes.
        files: dict[str, Any] = {"competition_file": Path(competition_file)}
        auth_settings = AuthServiceSettings(**common)
        services = [
            create_auth(auth_settings),
            create_submissions(SubmissionServiceSettings(**common, **files, outbox_poll_s=0.2)),
            create_cpu_scorer(CpuScorerSettings(**common)),
            create_leaderboard(LeaderboardServiceSettings(**common, outbox_poll_s=0.2)),
        ]
        async with contextlib.AsyncExitStack() as running:
            for service in services:
                await running.enter_async_context(service)
            await create_account(auth_settings, name="admin", password="admin-password", role="admin")
            # In this event loop (a Litestar test client would run the gateway in a thread of its own, and
            # block this loop, and the services on it, while it waits for the gateway's answer).
            gateway = create_gateway(gateway_settings(platform_settings))
            await running.enter_async_context(gateway.lifespan())
            async with asyncio.timeout(30):
                while not gateway.state.identity.ready:  # noqa: ASYNC110 — the gateway's own readiness flag
                    await asyncio.sleep(0.05)
            # Litestar's __call__ is typed with its own ASGI types, which httpx's protocol does not name.
            transport = httpx.ASGITransport(app=gateway)  # pyright: ignore[reportArgumentType]
            yield await running.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://gw"))


def context_of(span: ReadableSpan) -> SpanContext:
    assert span.context is not None, f"{span.name} finished without its context"
    return span.context


def chain(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    """The names from `span` up to its trace's root."""
    names = [span.name]
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        names.append(span.name)
    return names


async def test_an_upload_is_one_trace_through_outbox_scorer_and_leaderboard(
    tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
    async with platform(tmp_path) as client:
        await upload_and_check_the_trace(client, exporter)


async def upload_and_check_the_trace(platform: httpx.AsyncClient, exporter: InMemorySpanExporter) -> None:
    admin = await login(platform, "admin", "admin-password")
    _, name, password = await new_team(platform, admin)
    token = await login(platform, name, password)
    truth = make_ground_truth(parse_competition(COMPETITION).tasks[0])
    exporter.clear()

    response = await platform.post("/api/v1/tasks/traced/submissions?wait=30", headers=bearer(token),
                                   files={"file": ("s.zip", npy_zip(noisy_submission(truth, 0.05, seed=1)), "a/zip")})
    assert response.status_code == 200 and response.json()["status"] == "scored", response.text

    def finished(name: str) -> int:
        return len([s for s in exporter.get_finished_spans() if s.name == name])

    # The leaderboard applies the score just after the status changes, and publishes the board just after that.
    async with asyncio.timeout(10):
        while finished("score.computed.traced process") < 2 or not finished("leaderboard.updated.traced publish"):  # noqa: ASYNC110 — spans have no event to wait on
            await asyncio.sleep(0.05)

    spans = exporter.get_finished_spans()
    roots = [s for s in spans if s.kind == trace.SpanKind.SERVER and s.parent is None
             and s.name == "POST /api/v1/tasks/traced/submissions"]
    assert len(roots) == 1, [s.name for s in spans]
    trace_id = context_of(roots[0]).trace_id
    in_trace = [s for s in spans if context_of(s).trace_id == trace_id]
    by_id = {context_of(s).span_id: s for s in in_trace}
    names = {s.name for s in in_trace}

    # Upload → request to submission_service → its outbox → NATS → scorer → score → its two consumers
    # (the submission's status and the leaderboard), each span the child of the one before.
    expected = ["score.computed.traced process", "score.computed.traced publish",
                "submission.received.cpu.traced process", "submission.received.cpu.traced publish",
                "rpc.submissions.complete process", "rpc.submissions.complete publish",
                "POST /api/v1/tasks/traced/submissions"]
    scored = [s for s in in_trace if s.name == "score.computed.traced process"]
    assert len(scored) == 2, sorted(names)
    for span in scored:
        assert chain(span, by_id) == expected
    # The leaderboard's update of the board is part of the same trace.
    assert "leaderboard.updated.traced publish" in names, sorted(names)
    # Every span of the trace leads back to the upload: nothing in it is orphaned.
    assert all(chain(s, by_id)[-1] == roots[0].name for s in in_trace)
