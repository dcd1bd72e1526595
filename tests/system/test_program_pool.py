"""The program pool beside the cpu_scorer, as the Helm chart runs them (PODIUM_CPU_SCORER_ROLE): two cpu_scorer
processes, `metrics` on the `cpu_scorer` durable and `programs` on a durable of its own, each reading every CPU
submission. A program task's submission is scored by the pool alone, a PSNR task's by the metrics scorer alone, each
exactly once (one ScoreComputed on SCORES, one "submission scored" line over both logs: JetStream's dedup window would
hide a second publish, not a second job); a submission for a task the competition does not have is refused once; and
a pool started on a platform with a history does not score what was submitted before it.

A platform of its own (NATS, PostgreSQL, S3, submission_service and the two scorers as processes): the session's
cpu_scorer (role `all`) would share the `cpu_scorer` durable with the metrics scorer and score program tasks too."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import textwrap
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.subscription import Subscription
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from bench.replicas import score_outcomes, scored_in_log
from deploy.demo import make_ground_truth, noisy_submission, npy_zip, seed_ground_truth
from deploy.stack import EmbeddedStack, StackPorts
from podium_runtime.connections import create_s3
from podium_runtime.ground_truth import BUCKET as GROUND_TRUTH_BUCKET
from podium_runtime.publish import publish_event
from podium_runtime.rpc import call
from proto import codec, subjects
from proto import submissions as ops
from proto.competition import Competition, parse_competition
from proto.events import JobLogged, ScoreComputed, ScoreFailed, SubmissionReceived
from proto.rpc import Principal
from proto.storage import PROGRAMS_BUCKET
from proto.streams import CPU_SCORER, PROGRAM_POOL, SUBMISSIONS
from tests.conftest import service_process

pytestmark = pytest.mark.system

# A host's program: the submission's one number is its score.
PROGRAM = """
    def score(truth, submission, context):
        value = float(submission.read_text())
        return {"public": {"Value": value}, "private": {"Value": value}}
"""
TEAM = Principal(account_id="1", name="pool-team", role="team")


def program_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("score.py", textwrap.dedent(PROGRAM))
    return buffer.getvalue()


def competition_toml(program_key: str, program_sha256: str) -> str:
    return f"""
[competition]
name = "Program pool"

[[tasks]]
id = "psnr"
title = "A PSNR task: the metrics scorer's"
kind = "cpu"
metric = "psnr"
daily_quota = 100
samples = 4
shape = [3, 8, 8]
ground_truth = "psnr/ground_truth.zip"

[[tasks]]
id = "ranked"
title = "A task the host's program scores: the pool's"
kind = "cpu"
format = "file"
metric = "program"
daily_quota = 100
max_upload_bytes = 1000
ground_truth = "ranked/truth.txt"
program = {{ key = "{program_key}", sha256 = "{program_sha256}", contract = "function" }}
[[tasks.metrics]]
name = "program"
column = "Value"
primary = true
"""


@dataclass(frozen=True)
class Platform:
    stack: EmbeddedStack
    folder: Path
    competition: Competition

    def scored(self, role: str) -> dict[str, int]:
        """The submissions the scorer of `role` says it scored, each with how many times."""
        return dict(scored_in_log(self.folder / role / "cpu_scorer.log"))


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A fresh stack with submission_service (applying the competition file) and the `metrics` cpu_scorer; the
    test starts the pool itself."""
    folder = tmp_path_factory.mktemp("program-pool")
    for role in ("metrics", "programs"):
        (folder / role).mkdir()
    with EmbeddedStack(folder / "stack", StackPorts.free(), durable=False) as stack:
        s3 = create_s3(stack.settings())
        program = program_zip()
        digest = hashlib.sha256(program).hexdigest()
        key = f"ranked/{digest}.zip"
        if not s3.bucket_exists(PROGRAMS_BUCKET):
            s3.make_bucket(PROGRAMS_BUCKET)
        s3.put_object(PROGRAMS_BUCKET, key, io.BytesIO(program), len(program), content_type="application/zip")
        document = competition_toml(key, digest)
        competition = parse_competition(document)
        seed_ground_truth(s3, competition)
        truth = b"no truth needed\n"
        s3.put_object(GROUND_TRUTH_BUCKET, "ranked/truth.txt", io.BytesIO(truth), len(truth))
        competition_file = folder / "competition.toml"
        competition_file.write_text(document)
        with (
            service_process("submission_service", stack, folder, PODIUM_COMPETITION_FILE=str(competition_file),
                            PODIUM_OUTBOX_POLL_S="0.2", PODIUM_RECONCILE_INTERVAL_S="3600"),
            service_process("cpu_scorer", stack, folder / "metrics", PODIUM_CPU_SCORER_ROLE="metrics"),
        ):
            yield Platform(stack, folder, competition)


async def submit(nc: NatsClient, task_id: str, filename: str, data: bytes) -> str:
    """An upload as the gateway makes it for a team: start, PUT the bytes to the presigned URL, complete."""
    ticket = await call(nc, ops.START_UPLOAD, ops.StartUpload(task_id=task_id, filename=filename,
                                                              size_bytes=len(data)), 30, TEAM)
    assert isinstance(ticket, ops.UploadTicket), ticket
    async with httpx.AsyncClient() as s3:
        assert (await s3.put(ticket.upload_url, content=data)).status_code == 200
    view = await call(nc, ops.COMPLETE_UPLOAD, ops.CompleteUpload(submission_id=ticket.submission_id), 30, TEAM)
    assert isinstance(view, ops.SubmissionView) and view.status == "received", view
    return str(ticket.submission_id)


async def relayed(js: JetStreamContext, task_id: str, after: int = 0) -> int:
    """The stream sequence of the latest submission of `task_id` on SUBMISSIONS, once the outbox relayed one after
    sequence `after`."""
    async with asyncio.timeout(60):
        while True:
            with contextlib.suppress(NotFoundError):
                sequence = (await js.get_last_msg(SUBMISSIONS.name, subjects.submission_received("cpu", task_id))).seq
                if sequence is not None and sequence > after:
                    return sequence
            await asyncio.sleep(0.1)


async def acknowledged(js: JetStreamContext, durable: str, sequence: int) -> None:
    """Until the durable consumer has acknowledged every message up to `sequence` (its handler has returned)."""
    async with asyncio.timeout(120):
        while True:
            floor = (await js.consumer_info(SUBMISSIONS.name, durable)).ack_floor
            if floor is not None and floor.stream_seq >= sequence:
                return
            await asyncio.sleep(0.1)


async def received_lines(subscription: Subscription) -> list[JobLogged]:
    """The job log lines this client has received so far (those already in its subscription's queue)."""
    lines: list[JobLogged] = []
    while True:
        try:
            message = await subscription.next_msg(timeout=0.5)
        except NatsTimeout:
            return lines
        event = codec.decode(message.data)
        assert isinstance(event, JobLogged), event
        lines.append(event)


async def test_the_pool_scores_the_program_tasks_and_the_metrics_scorer_the_others_each_once(
    platform: Platform,
) -> None:
    settings = platform.stack.settings()
    nc = await nats.connect(settings.nats_servers, **settings.nats_auth)
    job_logs = await nc.subscribe("job.log.>")
    js = nc.jetstream()
    try:
        # Before the pool exists: the metrics scorer leaves the program submission alone (acknowledged, no event).
        early = await submit(nc, "ranked", "early.txt", b"7\n")
        early_sequence = await relayed(js, "ranked")
        await acknowledged(js, CPU_SCORER.durable, early_sequence)

        with contextlib.ExitStack() as pool:
            await asyncio.to_thread(pool.enter_context, service_process(
                "cpu_scorer", platform.stack, platform.folder / "programs", PODIUM_CPU_SCORER_ROLE="programs"))
            truth = make_ground_truth(platform.competition.tasks[0])
            metric = await submit(nc, "psnr", "s.zip", npy_zip(noisy_submission(truth, 0.05, seed=1)))
            program = await submit(nc, "ranked", "late.txt", b"42\n")
            unknown = SubmissionReceived(
                submission_id="999999", team_id=TEAM.account_id, task_id="no-such-task", kind="cpu",
                object_key="no-such-task/999999.zip", sha256="0" * 64, size_bytes=10,
                submitted_at=datetime.now(UTC), scorer_version="v1", competition_version=1)
            last = (await publish_event(js, unknown)).seq
            last = max(last, await relayed(js, "psnr"), await relayed(js, "ranked", after=early_sequence))
            # Both pools have handled every submission: whatever either would do with one, it has done.
            for durable in (CPU_SCORER.durable, PROGRAM_POOL.durable):
                await acknowledged(js, durable, last)

        by_submission: dict[str, list[ScoreComputed | ScoreFailed]] = {}
        for event in await score_outcomes(js):
            by_submission.setdefault(event.submission_id, []).append(event)
        computed = {sid: [type(e).__name__ for e in events] for sid, events in by_submission.items()}
        assert computed == {metric: ["ScoreComputed"], program: ["ScoreComputed"], unknown.submission_id:
                            ["ScoreFailed"]}, computed
        [scored_program] = by_submission[program]
        assert isinstance(scored_program, ScoreComputed) and scored_program.public_score == 42.0
        # Each job ran in the process whose role takes it, once; the early one in neither (a new pool starts at the
        # next submission).
        assert platform.scored("metrics") == {metric: 1}
        assert platform.scored("programs") == {program: 1}
        assert early not in by_submission
        # One refusal for the unknown task, from the metrics side: its team reads one failure, not two. A scorer sends
        # a refusal's log line before its ack, so every such line is here already: the lines are read until none is
        # left, not waited for.
        refusals = [(line.submission_id, line.line) for line in await received_lines(job_logs)
                    if line.line.startswith("not scored:")]
        assert refusals == [
            (unknown.submission_id, "not scored: task 'no-such-task' is not a CPU task of this competition")], refusals
    finally:
        await nc.drain()
