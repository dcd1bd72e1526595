"""The submission service's operations (tasks, upload start and completion, history) and its reactions to
score events, progress, job logs and JetStream's MaxDeliver advisories. The handlers object is built from the
service's Deps (`submission_service.app.wire`) and reaches the subscribers through FastStream's context; SQL lives
in `store`."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

import asyncpg
import msgspec
from faststream import Context
from faststream.nats import NatsBroker, NatsMessage, NatsRouter
from minio import Minio
from minio.commonconfig import CopySource
from minio.error import S3Error
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import ConsumerInfo
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NoStreamResponseError, NotFoundError
from nats.js.kv import KeyValue

from podium_runtime.coalesce import Coalescer
from podium_runtime.competition import CurrentCompetition
from podium_runtime.connections import PgConnection, read_bytes
from podium_runtime.consumers import durable_subscriber
from podium_runtime.metrics import SUBMISSIONS_OLDEST_UNFINISHED_AGE, SUBMISSIONS_TOTAL, SUBMISSIONS_UNFINISHED
from podium_runtime.rpc import Method, Refused, rpc_methods_router
from proto import codec, hosting
from proto import submissions as ops
from proto.competition import Task
from proto.events import JobLogged, RescoreRequested, ScoreComputed, ScoreFailed, ScoreProgress, SubmissionCancelled
from proto.leaderboard import BoardReveal
from proto.rpc import Operation, Principal
from proto.storage import DETAILS_BUCKET
from proto.streams import CPU_SCORER, GPU_SCORER, SUBMISSION_STATUS, SUBMISSIONS
from proto.subjects import token
from submission_service import competition as domain
from submission_service import public_status, store
from submission_service.hosting import CompetitionHost, find_task
from submission_service.queue import POSITIONS_INTERVAL_S, PUSHED_POSITIONS, PoolState
from submission_service.reconciler import (
    MAX_DELIVERIES_ADVISORY,
    MaxDeliveriesAdvisory,
    fail_exhausted,
    republish_in_flight,
)
from submission_service.store import BUCKET
from submission_service.upload_files import stored_extension, upload_refusal
from submission_service.upload_url import UploadSigner
from submission_service.visibility import public_details, without_private

log = logging.getLogger(__name__)
# Each scorer pool's JetStream consumer, by submission kind.
SCORER_CONSUMERS = {"cpu": CPU_SCORER, "gpu": GPU_SCORER}
LiveEvent = TypeVar("LiveEvent", ScoreProgress, JobLogged)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_encoder = msgspec.json.Encoder()
_reveal = msgspec.json.Decoder(BoardReveal)


def _team_id(actor: Principal) -> int:
    return int(actor.account_id)


def display_filename(name: str) -> str:
    """The participant's file name, for display only (never part of a key): printable, short."""
    cleaned = "".join(ch for ch in name.replace("\\", "/").rsplit("/", 1)[-1] if ch.isprintable())
    return cleaned[:200] or "submission"


def accept_object(s3: Minio, upload_key: str, object_key: str) -> tuple[int, str]:
    """Copy the upload to its final key (server-side), remove the upload, and return the size and digest of the
    copy: the bytes checked are the bytes scored, whatever is PUT to the upload URL afterwards."""
    s3.copy_object(BUCKET, object_key, CopySource(BUCKET, upload_key))
    s3.remove_object(BUCKET, upload_key)
    return sha256_of(s3, object_key)


def remove_quietly(s3: Minio, key: str) -> None:
    """Remove an object that should not stay; a failure is logged (the reconciler's sweep tries again later)."""
    try:
        s3.remove_object(BUCKET, key)
    except Exception as exc:  # storage away: the sweep of expired upload keys removes it later
        log.warning("could not remove an object", extra={"key": key, "error": repr(exc)})


def sha256_of(s3: Minio, key: str) -> tuple[int, str]:
    """Size and digest of a stored object, streamed (never held whole in memory)."""
    digest, size = hashlib.sha256(), 0
    response = s3.get_object(BUCKET, key)
    try:
        for chunk in response.stream(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    finally:
        response.close()
        response.release_conn()
    return size, digest.hexdigest()


@dataclass
class SubmissionHandlers:
    competition: CurrentCompetition
    upload_ttl: timedelta
    pool: asyncpg.Pool
    s3: Minio
    # Signs upload URLs for the address participants reach S3 at (may differ from the internal one).
    presigner: UploadSigner
    broker: NatsBroker
    cancellations: KeyValue
    # The `leaderboards` bucket: the leaderboard service owns the reveal and writes it with each task's board.
    boards: KeyValue
    # A pool's places are announced at most this often: a deadline rush's submissions share one announcement.
    positions_interval_s: float = POSITIONS_INTERVAL_S
    _positions: Coalescer = field(init=False)

    def __post_init__(self) -> None:
        self._positions = Coalescer(self.positions_interval_s, failed="queue places were not announced")

    def _task(self, task_id: str) -> Task:
        return find_task(self.competition.current, task_id)

    async def _announce(self, row: asyncpg.Record) -> None:
        """Tell live listeners (the gateway's sockets and `?wait=`) about the new status, and the submissions
        queued in the same pool about their new places (one entering or leaving the queue moves them)."""
        event = ops.SubmissionStatusChanged(submission_id=row["id"], team_id=row["team_id"], status=row["status"])
        await self.broker.publish(_encoder.encode(event), event.subject())
        if row["status"] in ("received", "scoring", *ops.TERMINAL):
            kind = row["kind"]
            self._positions.soon(kind, lambda: self._announce_positions(kind))

    async def _announce_positions(self, kind: str) -> None:
        """The pool's first places, in one message (the gateways pass each team its own)."""
        async with self.pool.acquire() as conn:
            state = await self._pool_state(conn, kind)
        moved = ops.QueueMoved(kind=kind, places=tuple(
            ops.QueuePlace(submission_id=submission_id, team_id=team_id, queue_position=place,
                           eta_s=state.eta_s(place))
            for place, (submission_id, team_id) in enumerate(state.queued[:PUSHED_POSITIONS], start=1)))
        await self.broker.publish(_encoder.encode(moved), moved.subject())

    async def _revealed(self, task_id: str) -> bool:
        """Whether `task_id`'s private board is revealed now, read from its board in the `leaderboards` bucket on
        every call (never kept), so hiding the board again hides every private value at once. A board not
        written yet is not revealed; a bucket that cannot be read counts as not revealed (and is logged)."""
        try:
            entry = await self.boards.get(task_id)
        except KeyNotFoundError:
            return False
        except (BucketNotFoundError, NoStreamResponseError, NatsTimeout) as exc:
            log.warning("the reveal state could not be read: private values withheld",
                        extra={"task_id": task_id, "error": repr(exc)})
            return False
        return bool(entry.value) and _reveal.decode(entry.value).private_revealed

    async def shown(self, actor: Principal, views: list[ops.SubmissionView]) -> list[ops.SubmissionView]:
        """The views as `actor` may see them: everything for an admin; for a team, no private value of a task
        whose private board is not revealed (each task's state read once per request)."""
        if actor.is_admin:
            return views
        revealed: dict[str, bool] = {}
        shown = []
        for view in views:
            if view.task_id not in revealed:
                revealed[view.task_id] = await self._revealed(view.task_id)
            shown.append(view if revealed[view.task_id] else without_private(view))
        return shown

    async def _consumer(self, kind: str) -> ConsumerInfo | None:
        spec = SCORER_CONSUMERS[kind]
        try:
            return await self.broker.connection.jetstream().consumer_info(spec.stream, spec.durable)
        except NotFoundError:
            return None  # no scorer of this kind has ever started

    async def _pool_state(self, conn: PgConnection, kind: str) -> PoolState:
        queued = await store.queued(conn, kind)
        pace = await store.scoring_pace(conn, kind)
        info = await self._consumer(kind)
        in_flight = (info.num_ack_pending or 0) if info else 0
        return PoolState(kind=kind, queued=tuple((r["id"], r["team_id"]) for r in queued),
                         average_s=float(pace["average_s"]) if pace["average_s"] is not None else None,
                         workers=((info.num_waiting or 0) + in_flight) if info else 0, in_flight=in_flight)

    async def _view(self, conn: PgConnection, row: asyncpg.Record,
                    states: dict[str, PoolState] | None = None) -> ops.SubmissionView:
        """The submission as its team sees it; a queued one with its place and expected wait."""
        if row["status"] != "received":
            return store.view(row)
        states = {} if states is None else states
        if row["kind"] not in states:
            states[row["kind"]] = await self._pool_state(conn, row["kind"])
        state = states[row["kind"]]
        position = state.position(row["id"])
        return store.view(row, position, state.eta_s(position) if position else None)

    async def get_log(self, request: ops.GetSubmission, actor: Principal) -> ops.JobLog:
        row = await self._own(actor, request.submission_id)
        async with self.pool.acquire() as conn:
            lines = await store.log_lines(conn, row["id"], host=actor.is_admin)
        return ops.JobLog(submission_id=row["id"], lines=[
            ops.LogLine(at=r["logged_at"], level=r["level"], line=r["line"], host_only=r["host_only"]) for r in lines])

    async def on_log(self, event: JobLogged) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await store.add_log_line(conn, event)

    async def stats(self, _request: ops.SubmissionStatsRequest, actor: Principal) -> ops.SubmissionStats:
        if not actor.is_admin:
            raise Refused(403, "Admin privileges required")
        async with self.pool.acquire() as conn:
            counts = await store.stats(conn)
        queues = (await self.list_queues(ops.ListQueues())).queues
        return msgspec.convert({**counts, "queues": [msgspec.to_builtins(q) for q in queues]}, ops.SubmissionStats)

    async def list_queues(self, _request: ops.ListQueues) -> ops.QueueList:
        queues = []
        async with self.pool.acquire() as conn:
            for kind, spec in SCORER_CONSUMERS.items():
                state = await self._pool_state(conn, kind)
                pace = await store.scoring_pace(conn, kind)
                info = await self._consumer(kind)
                queues.append(ops.ScorerQueue(
                    kind=kind, consumer=spec.durable, queued=len(state.queued),
                    pending=(info.num_pending or 0) if info else 0, in_flight=state.in_flight,
                    redeliveries=(info.num_redelivered or 0) if info else 0, workers_alive=state.workers,
                    scored_last_5_min=pace["last_5_min"], throughput_per_min=round(pace["last_15_min"] / 15, 2),
                    average_scoring_s=state.average_s))
        return ops.QueueList(queues=queues)

    # --- operations --------------------------------------------------------------------------

    async def list_tasks(self, _request: ops.ListTasks, actor: Principal | None) -> ops.TaskList:
        """The tasks as participants see them: what to upload, the phase now and when it closes, whether the task
        takes submissions (and why not), and for a team its quota left today."""
        in_use = self.competition.version
        now = datetime.now(UTC)
        used: dict[str, int] = {}
        if actor is not None and not actor.is_admin:
            async with self.pool.acquire() as conn:
                used = await store.quota_used_by_task(conn, _team_id(actor), store.utc_day(now))
        tasks = []
        for t in in_use.competition.tasks:
            phase = t.phase_at(now)
            upcoming = domain.next_phase(t, now) if phase is None else None
            refusal = domain.refusal(t, now)
            tasks.append(ops.TaskInfo(
                id=t.id, title=t.title, kind=t.kind, metric=t.metric, sort=t.board_sort, daily_quota=t.daily_quota,
                max_upload_bytes=t.max_upload_bytes, aliases=t.aliases, samples=t.samples,
                # A tensors task's members are named by sample; other formats name their own (ids, cases, images).
                sample_names=t.sample_names() if t.effective_format == "tensors" else [],
                shape=t.shape, phases=t.phases,
                scorer_version=t.scorer_version, final_submissions=t.final_submissions, description=t.description,
                expected_format=domain.expected_format(t), archived=t.archived, has_ground_truth=t.has_ground_truth,
                accepting=not refusal, not_accepting_reason=refusal,
                current_phase=phase if t.phases else None,
                closes_at=phase.closes_at if phase is not None and t.phases else None,
                next_opens_at=upcoming.opens_at if upcoming else None,
                quota_left=max(t.daily_quota - used.get(t.id, 0), 0) if actor is not None and not actor.is_admin
                else None, columns=domain.task_columns(t, admin=actor is not None and actor.is_admin)))
        return ops.TaskList(competition=in_use.competition.competition.name, tasks=tasks, version=in_use.version)

    async def start_upload(self, request: ops.StartUpload, actor: Principal) -> ops.UploadTicket:
        task = self._task(request.task_id)
        if actor.is_admin:
            raise Refused(403, "admins do not submit; log in as a team")
        if refusal := upload_refusal(task.effective_format, task.id, request.filename, request.content_type):
            raise Refused(415, refusal)
        if not 0 < request.size_bytes <= task.max_upload_bytes:
            raise Refused(413 if request.size_bytes > 0 else 422,
                          f"size must be 1 to {task.max_upload_bytes} bytes for task {task.id}, "
                          f"got {request.size_bytes}")
        if request.sha256 and not _SHA256.fullmatch(request.sha256):
            raise Refused(422, "sha256 must be 64 lowercase hex digits")
        _check_batch_size(task, request.batch_size)
        now = datetime.now(UTC)
        phase = task.phase_at(now)
        if refusal := domain.refusal(task, now):
            # No ground truth yet is a state the host ends (409); a closed phase or an archived task is a rule (403).
            raise Refused(409 if phase is not None and not task.archived else 403, refusal)
        assert phase is not None  # no refusal: a phase is open
        in_use = self.competition.version.version
        day = store.utc_day(now)
        async with self.pool.acquire() as conn, conn.transaction():
            used = await store.take_quota(conn, _team_id(actor), task, day)
            if used is None:
                raise Refused(429, f"daily quota of {task.daily_quota} submissions for task {task.id} is used up; "
                                   "it resets at 00:00 UTC", retry_after=_seconds_to_midnight(now))
            row = await store.create(
                conn, team_id=_team_id(actor), task=task, phase_id=phase.id,
                filename=display_filename(request.filename), declared_size=request.size_bytes,
                declared_sha256=request.sha256, day=day, expires_at=now + self.upload_ttl,
                extension=stored_extension(task.effective_format, request.filename),
                status_key=public_status.new_key(), batch_size=request.batch_size, competition_version=in_use,
            )
        # The URL stores exactly the announced size at the upload key; storage refuses any other length.
        url = self.presigner.put_url(BUCKET, row["upload_key"], request.size_bytes, self.upload_ttl)
        return ops.UploadTicket(
            submission_id=row["id"], upload_url=url, method="PUT", expires_at=row["upload_expires_at"],
            max_bytes=task.max_upload_bytes, quota_left=task.daily_quota - used,
            status_id=public_status.status_id(row["id"], row["status_key"]),
        )

    async def complete_upload(self, request: ops.CompleteUpload, actor: Principal) -> ops.SubmissionView:
        row = await self._own(actor, request.submission_id)
        if row["status"] != "awaiting_upload":
            return store.view(row)  # completing twice is harmless: answer the current state
        task = self._task(row["task_id"])
        try:
            size, digest = await asyncio.to_thread(accept_object, self.s3, row["upload_key"], row["object_key"])
        except S3Error as exc:
            if exc.code not in ("NoSuchKey", "NoSuchUpload"):
                raise
            async with self.pool.acquire() as conn:
                current = await store.by_id(conn, row["id"])
            if current is not None and current["status"] != "awaiting_upload":
                return store.view(current)  # a concurrent `complete` took the upload first
            raise Refused(409, "nothing was uploaded yet: PUT the file to the upload URL first") from None
        expected = request.sha256 or row["declared_sha256"]
        problem = None
        if size > task.max_upload_bytes:
            problem = f"the upload is {size} bytes, over the task's limit of {task.max_upload_bytes}"
        elif size != row["declared_size"]:
            problem = f"the upload is {size} bytes, but {row['declared_size']} were announced"
        elif expected and expected != digest:
            problem = f"the upload's sha256 is {digest}, but {expected} was announced"
        async with self.pool.acquire() as conn, conn.transaction():
            locked = await store.by_id(conn, row["id"], for_update=True)
            if locked is None or locked["status"] != "awaiting_upload":
                return store.view(locked or row)
            if problem is not None:
                updated = await store.reject(conn, locked, problem)
            else:
                updated = await store.accept(conn, locked, size, digest)
        if problem is not None:
            await asyncio.to_thread(remove_quietly, self.s3, row["object_key"])
        await self._announce(updated)
        if problem is not None:
            raise Refused(422, problem, submission_id=row["id"])
        return store.view(updated)

    async def _own(self, actor: Principal, submission_id: int) -> asyncpg.Record:
        async with self.pool.acquire() as conn:
            row = await store.by_id(conn, submission_id)
        # Another team's submission answers exactly like a missing one.
        if row is None or (not actor.is_admin and row["team_id"] != _team_id(actor)):
            raise Refused(404, "Submission not found")
        return row

    async def get_submission(self, request: ops.GetSubmission, actor: Principal) -> ops.SubmissionView:
        row = await self._own(actor, request.submission_id)
        async with self.pool.acquire() as conn:
            return await self._view(conn, row)

    async def cancel(self, request: ops.GetSubmission, actor: Principal) -> ops.SubmissionView:
        """Cancel a submission of the caller's team (any, for an admin) that has no outcome yet; the scorers
        learn it from the cancellations bucket (a queued job is skipped, a running one stops)."""
        row = await self._own(actor, request.submission_id)
        async with self.pool.acquire() as conn, conn.transaction():
            locked = await store.by_id(conn, row["id"], for_update=True)
            assert locked is not None
            if locked["status"] not in ops.CANCELLABLE:
                raise Refused(409, f"submission {locked['id']} is already {locked['status']}: nothing to cancel")
            cancelled = await store.cancel(conn, locked, actor.name, actor.is_admin)
        await self.cancellations.put(str(row["id"]), actor.name.encode())
        if locked["status"] == "awaiting_upload":
            # Nothing will read the upload: it goes now. A signed URL cannot be revoked; whatever it writes
            # later is never read, and the reconciler sweeps it once the URL has expired.
            await asyncio.to_thread(remove_quietly, self.s3, row["upload_key"])
        log.info("submission cancelled", extra={"submission_id": str(row["id"]), "by": actor.name})
        await self._announce(cancelled)
        return store.view(cancelled)

    async def withdraw(self, request: ops.GetSubmission, actor: Principal) -> ops.SubmissionView:
        """An admin removes a submission (MLS-GOAT's delete): one still waiting or being scored is cancelled; a
        scored one is withdrawn from the boards through the outcome stream (status `cancelled`, the reason saying
        so), and kept with its scores (audited)."""
        _require_admin(actor)
        row = await self._own(actor, request.submission_id)
        if row["status"] in ops.CANCELLABLE:
            return await self.cancel(request, actor)
        async with self.pool.acquire() as conn, conn.transaction():
            locked = await store.by_id(conn, row["id"], for_update=True)
            assert locked is not None
            if locked["status"] != "scored":
                raise Refused(409, f"submission {locked['id']} is {locked['status']}: it is on no board, so there is "
                                   "nothing to withdraw")
            withdrawn = await store.withdraw(conn, locked, actor.name)
        log.info("submission withdrawn", extra={"submission_id": str(row["id"]), "by": actor.name})
        await self._announce(withdrawn)
        return store.view(withdrawn)

    async def list_all(self, request: ops.ListAllSubmissions, actor: Principal) -> ops.SubmissionList:
        _require_admin(actor)
        task_id = self._task(request.task_id).id if request.task_id else ""
        async with self.pool.acquire() as conn:
            rows = await store.list_all(conn, task_id, max(request.skip, 0), min(max(request.limit, 0), 1000))
            states: dict[str, PoolState] = {}
            return ops.SubmissionList(submissions=[await self._view(conn, row, states) for row in rows])

    async def get_public_status(self, request: ops.PublicStatusRequest) -> ops.PublicStatus:
        """Anyone holding the status id the submitter received; a wrong key answers like a missing submission."""
        task = self._task(request.task_id)
        parsed = public_status.parse_status_id(request.status_id)
        async with self.pool.acquire() as conn:
            row = await store.by_id(conn, parsed[0]) if parsed is not None else None
            if (parsed is None or row is None or row["task_id"] != task.id
                    or not public_status.key_matches(row["status_key"], parsed[1])):
                raise Refused(404, f"no submission of task {task.id} has the status id {request.status_id[:80]!r}; "
                                   "use the submission_id the upload answered")
            state = await self._pool_state(conn, row["kind"])
        position = state.position(row["id"]) if row["status"] == "received" else None
        return public_status.public_status(row, position, len(state.queued))

    async def get_details(self, request: ops.GetSubmission, actor: Principal) -> ops.SubmissionDetails:
        row = await self._own(actor, request.submission_id)
        if not row["details_key"]:
            raise Refused(404, f"submission {row['id']} has no scoring details (status {row['status']})")
        data = await asyncio.to_thread(read_details, self.s3, row["details_key"])
        details = json.loads(data)
        if not actor.is_admin:
            details = public_details(details)
        return ops.SubmissionDetails(submission_id=row["id"], details=details)

    async def list_submissions(self, request: ops.ListSubmissions, actor: Principal) -> ops.SubmissionList:
        task_id = self._task(request.task_id).id if request.task_id else ""
        async with self.pool.acquire() as conn:
            rows = await store.list_for_team(conn, _team_id(actor), task_id, min(request.limit, 1000))
            states: dict[str, PoolState] = {}
            return ops.SubmissionList(submissions=[await self._view(conn, row, states) for row in rows])

    async def start_rescore(self, request: ops.RescoreScope, actor: Principal) -> ops.RescoreStarted:
        """Publish the matching accepted submissions again under a new scorer version, with the request
        itself, in one transaction; old scores stay, the board switches when every one has an outcome."""
        if not actor.is_admin:
            raise Refused(403, "Admin privileges required")
        task = self._task(request.task_id)
        rescore_id = uuid.uuid4().hex[:12]
        version = request.scorer_version or f"{task.scorer_version}-r{rescore_id}"
        try:
            token(version)  # the version becomes part of Msg-Ids and object keys
        except ValueError as exc:
            raise Refused(422, f"scorer version: {exc}") from None
        if version == task.scorer_version:
            raise Refused(422, f"scorer version {version!r} is the task's own scoring identity (its submissions' "
                               "first scores); name a new one, or leave it out for a fresh one")
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await store.rescore_candidates(conn, task.id, request.submitted_after, request.submitted_before,
                                                  request.submission_ids)
            if not rows:
                raise Refused(404, f"no scored or failed submission of task {task.id} matches")
            requested = RescoreRequested(
                rescore_id=rescore_id, requested_by=actor.name, scorer_version=version, task_id=task.id,
                submitted_after=request.submitted_after, submitted_before=request.submitted_before,
                submission_ids=tuple(str(r["id"]) for r in rows))
            if not await store.add_rescore(conn, requested, rows, self.competition.version.version):
                raise Refused(409, f"scorer version {version!r} was used by an earlier rescore")
        return ops.RescoreStarted(rescore_id=rescore_id, task_id=task.id, scorer_version=version,
                                  submissions=len(rows))

    async def get_quota(self, request: ops.GetQuota, actor: Principal) -> ops.Quota:
        """The calling team's quota for a task today: used, left, when it resets (next 00:00 UTC), the rule."""
        task = self._task(request.task_id)
        if actor.is_admin:
            raise Refused(403, "admins do not submit and have no quota; log in as a team")
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn:
            used = await store.quota_used(conn, _team_id(actor), task.id, store.utc_day(now))
        return ops.Quota(task_id=task.id, daily_quota=task.daily_quota, used=used,
                         left=max(task.daily_quota - used, 0), resets_at=_next_midnight(now), rule=store.QUOTA_RULE)

    # --- reactions ---------------------------------------------------------------------------

    async def on_score(self, event: ScoreComputed | ScoreFailed | SubmissionCancelled) -> None:
        if isinstance(event, SubmissionCancelled):
            return  # our own outcome event: the status changed when it was written
        async with self.pool.acquire() as conn, conn.transaction():
            updated = await store.record_outcome(conn, event)
        if updated is not None:
            SUBMISSIONS_TOTAL.labels(task=updated["task_id"], status=updated["status"]).inc()
            await self._announce(updated)

    async def refresh_metrics(self) -> None:
        async with self.pool.acquire() as conn:
            counts, oldest_age = await store.unfinished(conn)
        for status, count in counts.items():
            SUBMISSIONS_UNFINISHED.labels(status=status).set(count)
        SUBMISSIONS_OLDEST_UNFINISHED_AGE.set(oldest_age)

    async def on_progress(self, event: ScoreProgress) -> None:
        async with self.pool.acquire() as conn:
            row = await store.mark_scoring(conn, int(event.submission_id))
        if row is not None:
            await self._announce(row)

    async def on_max_deliveries(self, advisory: MaxDeliveriesAdvisory) -> None:
        await fail_exhausted(self.pool, self.broker.connection.jetstream(), advisory)

    async def restore(self, wiped: frozenset[str]) -> None:
        """JetStream's store was wiped: the submissions in flight are published again (their events were lost)."""
        if SUBMISSIONS.name in wiped:
            await republish_in_flight(self.pool)


def _as_seen(operation: Method) -> Method:
    """`operation` with its submission views passed through `_shown` for the caller: the one place every view a
    caller receives goes through, so no operation can forget it."""

    async def answer(handlers: SubmissionHandlers, request: Any, actor: Principal) -> Any:
        reply = await operation(handlers, request, actor)
        if isinstance(reply, ops.SubmissionView):
            return (await handlers.shown(actor, [reply]))[0]
        if isinstance(reply, ops.SubmissionList):
            return ops.SubmissionList(submissions=await handlers.shown(actor, reply.submissions))
        return reply

    return answer


OPERATIONS: dict[Operation, Method] = {
    ops.START_RESCORE: SubmissionHandlers.start_rescore,
    ops.LIST_TASKS: SubmissionHandlers.list_tasks, ops.START_UPLOAD: SubmissionHandlers.start_upload,
    ops.COMPLETE_UPLOAD: _as_seen(SubmissionHandlers.complete_upload),
    ops.LIST_SUBMISSIONS: _as_seen(SubmissionHandlers.list_submissions),
    ops.GET_SUBMISSION: _as_seen(SubmissionHandlers.get_submission), ops.GET_DETAILS: SubmissionHandlers.get_details,
    ops.CANCEL: _as_seen(SubmissionHandlers.cancel),
    ops.LIST_QUEUES: SubmissionHandlers.list_queues, ops.STATS: SubmissionHandlers.stats,
    ops.GET_LOG: SubmissionHandlers.get_log, ops.GET_QUOTA: SubmissionHandlers.get_quota,
    ops.ADMIN_LIST: _as_seen(SubmissionHandlers.list_all), ops.WITHDRAW: _as_seen(SubmissionHandlers.withdraw),
    ops.PUBLIC_STATUS: SubmissionHandlers.get_public_status,
    hosting.PUBLIC_COMPETITION: SubmissionHandlers.list_tasks,
}

# The competition's definition (`submission_service.hosting`): its own handlers object, `host` in the context.
HOSTING: dict[Operation, Method] = {
    hosting.GET_COMPETITION: CompetitionHost.get, hosting.APPLY_COMPETITION: CompetitionHost.apply,
    hosting.LIST_VERSIONS: CompetitionHost.versions, hosting.START_GROUND_TRUTH: CompetitionHost.start_ground_truth,
    hosting.COMPLETE_GROUND_TRUTH: CompetitionHost.complete_ground_truth,
    hosting.START_PROGRAM: CompetitionHost.start_program, hosting.COMPLETE_PROGRAM: CompetitionHost.complete_program,
}


# How a subscriber takes the handlers object `wire` put in FastStream's context.
FromContext = Annotated[SubmissionHandlers, Context("handlers")]


def live_event(message: NatsMessage, kind: type[LiveEvent]) -> LiveEvent | None:
    """The core-NATS event of `kind` a message carries; None for another kind, or (logged) a malformed one."""
    try:
        event = codec.decode(message.body)
    except msgspec.DecodeError:
        log.warning("ignored a malformed live message", extra={"subject": message.raw_message.subject})
        return None
    return event if isinstance(event, kind) else None


def create_routers(queue: str) -> tuple[NatsRouter, NatsRouter, NatsRouter]:
    """The request/reply operations, and the reactions: score outcomes (a durable consumer), scorers' progress and
    log lines (core NATS), JetStream's MaxDeliver advisories. The handlers arrive through FastStream's context
    (`wire`)."""
    events = NatsRouter()

    @durable_subscriber(events, SUBMISSION_STATUS)
    async def on_score(event: ScoreComputed | ScoreFailed | SubmissionCancelled, handlers: FromContext) -> None:
        await handlers.on_score(event)

    @events.subscriber("job.progress.>", title="submission_service progress")
    async def on_progress(message: NatsMessage, handlers: FromContext) -> None:
        if (event := live_event(message, ScoreProgress)) is not None:
            await handlers.on_progress(event)

    # One replica keeps each line (a queue group): the log is bounded, duplicates would crowd it.
    @events.subscriber("job.log.>", queue=queue, title="submission_service job logs")
    async def on_log(message: NatsMessage, handlers: FromContext) -> None:
        """Keep a scorer's log line about a submission."""
        if (event := live_event(message, JobLogged)) is not None:
            await handlers.on_log(event)

    @events.subscriber(MAX_DELIVERIES_ADVISORY, title="submission_service max deliveries")
    async def on_max_deliveries(message: NatsMessage, handlers: FromContext) -> None:
        await handlers.on_max_deliveries(msgspec.json.decode(message.body, type=MaxDeliveriesAdvisory))

    return rpc_methods_router(queue, "handlers", OPERATIONS), rpc_methods_router(queue, "host", HOSTING), events


def read_details(s3: Minio, key: str) -> bytes:
    return read_bytes(s3, DETAILS_BUCKET, key)


def _require_admin(actor: Principal) -> None:
    if not actor.is_admin:
        raise Refused(403, "Admin privileges required")


def _check_batch_size(task: Task, batch_size: int | None) -> None:
    """MLS-GOAT's batch size: a model task's only, 1 to MAX_BATCH_SIZE (recorded; the scorer runs the task's own)."""
    if batch_size is None:
        return
    if task.kind != "gpu":
        raise Refused(422, f"batch_size applies to model tasks only; task {task.id} takes result archives")
    if not 1 <= batch_size <= ops.MAX_BATCH_SIZE:
        raise Refused(422, f"batch_size must be 1 to {ops.MAX_BATCH_SIZE}, got {batch_size}")


def _seconds_to_midnight(now: datetime) -> int:
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return int((tomorrow - now).total_seconds()) + 1


def _next_midnight(now: datetime) -> datetime:
    """When a daily quota taken at `now` resets: the next 00:00 UTC."""
    return datetime.combine(store.utc_day(now) + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
