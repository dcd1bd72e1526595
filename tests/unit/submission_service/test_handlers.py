"""submission_service's handlers in memory (FastStream's TestNatsBroker, no server), built from the service's
Deps: every refusal a caller can meet before the database is asked answers its status and a reason a person can
act on, touching neither the database, storage nor the buckets; a team's view of its own scored submission carries
no private value until its task's board is revealed (read from the `leaderboards` bucket on each request), an
admin's always does; the service's own cancellation coming back on the outcome stream changes nothing. The same
operations run against real servers in tests/service/submissions and tests/service/jobs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from faststream.asgi import AsgiFastStream
from faststream.nats import NatsBroker, TestNatsBroker
from nats.js.errors import KeyNotFoundError

from podium_runtime.competition import CurrentCompetition
from podium_runtime.service import create_bus
from proto import codec
from proto import submissions as ops
from proto.competition import CompetitionVersion
from proto.events import SubmissionCancelled
from proto.leaderboard import BoardReveal
from proto.rpc import Call, Operation, Principal, ServiceError
from proto.streams import SCORES
from submission_service.app import create_app
from submission_service.bootstrap import NAME, Deps, SubmissionServiceSettings
from submission_service.competition import with_ground_truth
from tests.unit.fakes import COMPETITION, Untouchable

TEAM = Principal(account_id="7", name="team-7", role="team")
ADMIN = Principal(account_id="1", name="admin", role="admin")
WHEN = datetime(2026, 1, 2, tzinfo=UTC)
# The shipped competition as version 1, each task with its ground truth put (a task without any refuses uploads).
IN_USE = CompetitionVersion(version=1, created_at=WHEN, created_by="seed", competition=with_ground_truth(
    with_ground_truth(COMPETITION, "reconstruction", "reconstruction/a.zip", "a" * 64), "digits", "digits/b.npz",
    "b" * 64))


def app_with(pool: object = None, boards: object = None) -> AsgiFastStream:
    settings = SubmissionServiceSettings()
    deps = Deps(competition=CurrentCompetition(IN_USE), bus=create_bus(NAME, settings),
                pool=pool or Untouchable("pool"),  # type: ignore[arg-type]
                s3=Untouchable("s3"), presigner=Untouchable("presigner"),  # type: ignore[arg-type]
                cancellations=Untouchable("cancellations"), boards=boards or Untouchable("boards"),  # type: ignore[arg-type]
                competition_bucket=Untouchable("competition bucket"))  # type: ignore[arg-type]
    return create_app(settings, deps)


def nats_broker(app: AsgiFastStream) -> NatsBroker:
    """The app's broker: FastStream types it as any broker (or none); the service's app is built on NATS."""
    assert isinstance(app.broker, NatsBroker), f"the app's broker is {app.broker!r}"
    return app.broker


async def ask(app: AsgiFastStream, operation: Operation, request: msgspec.Struct | bytes) -> bytes:
    body = request if isinstance(request, bytes) else msgspec.json.encode(request)
    async with TestNatsBroker(nats_broker(app)) as broker:
        # In memory, but on a busy machine the first request may take longer than FastStream's default 0.5 s.
        reply = await broker.request(body, operation.subject, timeout=30)
    return reply.body


def upload(actor: Principal = TEAM, **fields: Any) -> Call[ops.StartUpload]:
    return Call(request=ops.StartUpload(**{"task_id": "reconstruction", "filename": "results.zip", "size_bytes": 1000,
                                           **fields}), actor=actor)


ADMIN_ONLY = "Admin privileges required"
REFUSALS = [
    (ops.START_UPLOAD, upload(actor=ADMIN), 403, "admins do not submit; log in as a team"),
    (ops.START_UPLOAD, upload(task_id="no-such-task"), 404,
     "no task 'no-such-task'; tasks: reconstruction, digits, churn"),
    (ops.START_UPLOAD, upload(size_bytes=0), 422, "size must be 1 to 100000000 bytes for task reconstruction, got 0"),
    (ops.START_UPLOAD, upload(size_bytes=100_000_001),
     413, "size must be 1 to 100000000 bytes for task reconstruction, got 100000001"),
    (ops.START_UPLOAD, upload(sha256="ABC"), 422, "sha256 must be 64 lowercase hex digits"),
    (ops.START_UPLOAD, upload(batch_size=8),
     422, "batch_size applies to model tasks only; task reconstruction takes result archives"),
    (ops.START_RESCORE, Call(request=ops.RescoreScope(task_id="reconstruction"), actor=TEAM), 403, ADMIN_ONLY),
    (ops.START_RESCORE, Call(request=ops.RescoreScope(task_id="reconstruction", scorer_version="a.b"), actor=ADMIN),
     422, "scorer version: 'a.b' is not a valid subject token (letters, digits, '_' and '-' only)"),
    (ops.STATS, Call(request=ops.SubmissionStatsRequest(), actor=TEAM), 403, ADMIN_ONLY),
    (ops.ADMIN_LIST, Call(request=ops.ListAllSubmissions(), actor=TEAM), 403, ADMIN_ONLY),
    (ops.WITHDRAW, Call(request=ops.GetSubmission(submission_id=41), actor=TEAM), 403, ADMIN_ONLY),
    (ops.GET_QUOTA, Call(request=ops.GetQuota(task_id="reconstruction"), actor=ADMIN),
     403, "admins do not submit and have no quota; log in as a team"),
]


@pytest.mark.parametrize(("operation", "request_", "status", "detail"), REFUSALS,
                         ids=[f"{op.name}-{status}-{i}" for i, (op, _, status, _) in enumerate(REFUSALS)])
async def test_a_refusal_answers_before_the_database_is_asked(operation: Operation, request_: msgspec.Struct,
                                                              status: int, detail: str) -> None:
    error = msgspec.json.decode(await ask(app_with(), operation, request_), type=ServiceError)
    assert (error.status, error.detail) == (status, detail)


async def test_a_malformed_request_answers_400_with_what_is_wrong() -> None:
    body = b'{"request": {"task_id": 3}, "actor": {"account_id": "7", "name": "team-7", "role": "team"}}'
    error = msgspec.json.decode(await ask(app_with(), ops.START_UPLOAD, body), type=ServiceError)
    assert error.status == 400 and error.detail.startswith("malformed ")
    assert "Expected `str`, got `int` - at `$.request.task_id`" in error.detail


async def test_the_tasks_are_the_competitions() -> None:
    tasks = msgspec.json.decode(await ask(app_with(), ops.LIST_TASKS, Call(request=ops.ListTasks())), type=ops.TaskList)
    assert tasks.competition == "Podium demo"
    assert [(t.id, t.kind, t.daily_quota) for t in tasks.tasks] == [
        ("reconstruction", "cpu", 20), ("digits", "gpu", 20), ("churn", "cpu", 20)]


# --- what a caller sees of a scored submission ----------------------------------------------------------------

SCORED = {
    "id": 41, "team_id": 7, "task_id": "reconstruction", "phase_id": "main", "kind": "cpu", "filename": "r.zip",
    "status": "scored", "scorer_version": "psnr-1", "public_score": 31.5, "private_score": 29.25,
    "metrics": json.dumps({"psnr_public": 31.5, "psnr_private": 29.25}), "reason": None, "size_bytes": 1000,
    "sha256": "0" * 64, "created_at": WHEN, "scored_at": WHEN, "requested_batch_size": None,
}


@dataclass
class OneSubmission:
    """A pool whose only row is SCORED: what `store.by_id` finds, whatever the id."""

    queries: list[str]

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[OneSubmission]:
        yield self

    async def fetchrow(self, query: str, *args: Any) -> dict[str, Any]:
        self.queries.append(query)
        assert "FROM submissions.submissions WHERE id = $1" in query and args == (41,)
        return SCORED


@dataclass
class Boards:
    """The `leaderboards` bucket: the reconstruction board revealed or not, or not written yet (None)."""

    revealed: bool | None

    async def get(self, key: str) -> Any:
        assert key == "reconstruction"
        if self.revealed is None:
            raise KeyNotFoundError
        return type("Entry", (), {"value": msgspec.json.encode(BoardReveal(private_revealed=self.revealed))})()


async def view_of(actor: Principal, boards: object) -> ops.SubmissionView:
    pool = OneSubmission([])
    reply = await ask(app_with(pool, boards), ops.GET_SUBMISSION,
                      Call(request=ops.GetSubmission(submission_id=41), actor=actor))
    assert pool.queries  # the row was read through the store
    return msgspec.json.decode(reply, type=ops.SubmissionView)


@pytest.mark.parametrize("revealed", [False, None], ids=["hidden", "board-not-written"])
async def test_a_team_sees_no_private_value_before_the_reveal(revealed: bool | None) -> None:
    view = await view_of(TEAM, Boards(revealed))
    assert (view.public_score, view.private_score) == (31.5, None)
    assert view.metrics == {"psnr_public": 31.5}
    assert "private" not in view.details


async def test_a_team_sees_its_private_score_once_revealed() -> None:
    view = await view_of(TEAM, Boards(True))
    assert (view.public_score, view.private_score) == (31.5, 29.25)
    assert view.metrics == {"psnr_public": 31.5, "psnr_private": 29.25}


async def test_an_admin_sees_the_private_score_without_asking_the_boards() -> None:
    view = await view_of(ADMIN, Untouchable("boards"))
    assert view.private_score == 29.25 and view.metrics["psnr_private"] == 29.25


async def test_its_own_cancellation_on_the_outcome_stream_changes_nothing() -> None:
    """SubmissionCancelled is written with the status change; read back from SCORES it touches no Deps."""
    event = SubmissionCancelled(submission_id="41", team_id="7", task_id="reconstruction", scorer_version="psnr-1",
                                cancelled_by="team-7", by_admin=False)
    async with TestNatsBroker(nats_broker(app_with())) as broker:
        await broker.publish(codec.encode(event), event.subject(), stream=SCORES.name)
