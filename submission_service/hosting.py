"""A host's changes to the competition: applying a document (TOML or JSON, guarded by the version it was edited
from), a task's ground-truth upload, the history, and what participants may see. Every change is a new immutable
version in the schema with its CompetitionChanged event (one transaction), then the `competition` bucket every
service follows. A document with any error changes nothing and says which task and field are wrong."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import msgspec
from minio import Minio
from minio.commonconfig import CopySource
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from podium_runtime import ground_truth
from podium_runtime.competition import KEY, CurrentCompetition
from podium_runtime.rpc import Refused
from proto import hosting as ops
from proto.competition import Competition, CompetitionError, CompetitionVersion, Task, parse_competition
from proto.rpc import Principal
from submission_service import competition as domain
from submission_service import competition_store as store
from submission_service.upload_url import UploadSigner

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder()
_decode_version = msgspec.json.Decoder(CompetitionVersion)


def _require_admin(actor: Principal | None) -> Principal:
    if actor is None or not actor.is_admin:
        raise Refused(403, "Admin privileges required")
    return actor


def _refusal(error: CompetitionError) -> Refused:
    return Refused(422, str(error), task=error.task, field=error.field)


async def put_newest(kv: KeyValue, version: CompetitionVersion) -> None:
    """Put `version` into the competition bucket unless the bucket already holds it or a newer one (replicas may
    publish concurrently: a compare-and-set on the entry's revision)."""
    value = _encode.encode(version)
    while True:
        try:
            entry = await kv.get(KEY)
        except KeyNotFoundError:
            entry = None
        if entry is not None and entry.value and _decode_version.decode(entry.value).version >= version.version:
            return
        try:
            if entry is None:
                await kv.create(KEY, value)
            else:
                await kv.update(KEY, value, last=entry.revision)
            return
        except KeyWrongLastSequenceError:
            continue  # another replica wrote meanwhile: read again


@dataclass
class CompetitionHost:
    competition: CurrentCompetition
    pool: asyncpg.Pool
    s3: Minio
    presigner: UploadSigner
    bucket: KeyValue  # the `competition` KV bucket
    upload_ttl: timedelta

    async def publish(self, version: CompetitionVersion) -> None:
        """Use `version` here at once and put it where every service follows it."""
        self.competition.offer(version)
        await put_newest(self.bucket, version)

    async def publish_current(self) -> None:
        """Make the bucket hold the schema's current version (at start, after JetStream lost its store, and on the
        reconciler's pass: a put that failed after a commit is made good)."""
        async with self.pool.acquire() as conn:
            now = await store.current(conn)
        if now.version:
            await self.publish(now)

    async def keep_published(self, interval_s: float) -> None:
        """Every `interval_s`, make good a bucket put that failed after its commit (NATS away at that moment)."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.publish_current()
            except Exception as exc:  # NATS or PostgreSQL away: the next pass tries again
                log.warning("could not publish the competition", extra={"error": repr(exc)})

    # --- operations --------------------------------------------------------------------------

    async def get(self, request: ops.GetCompetition, actor: Principal) -> ops.CompetitionDocument:
        _require_admin(actor)
        async with self.pool.acquire() as conn:
            found = await (store.version(conn, request.version) if request.version else store.current(conn))
            if found is None:
                raise Refused(404, f"no competition version {request.version}")
            identities = {task.id: task.scorer_version for task in found.competition.tasks}
            stale = await store.stale_counts(conn, identities) if not request.version else {}
        return ops.CompetitionDocument(version=found.version, competition=found.competition,
                                       created_at=found.created_at, created_by=found.created_by,
                                       changes=found.changes, identities=identities, stale=stale)

    async def versions(self, _request: ops.ListVersions, actor: Principal) -> ops.VersionList:
        _require_admin(actor)
        async with self.pool.acquire() as conn:
            found = await store.history(conn)
        return ops.VersionList(versions=[
            ops.VersionSummary(version=v.version, created_at=v.created_at, created_by=v.created_by, changes=v.changes)
            for v in found])

    async def apply(self, request: ops.ApplyCompetition, actor: Principal) -> ops.CompetitionApplied:
        _require_admin(actor)
        try:
            document = parse_competition(request.document, content_type=request.format)
        except CompetitionError as exc:
            raise _refusal(exc) from None
        return await self.change(document, by=actor.name, expected=request.expected_version,
                                 dry_run=request.dry_run)

    async def change(self, document: Competition, *, by: str, expected: int | None = None, dry_run: bool = False,
                     checked: frozenset[str] = frozenset()) -> ops.CompetitionApplied:
        """Make `document` the current version (unless it changes nothing), or refuse it whole. `checked`: scoring
        identities whose ground truth the caller has just read and checked (not read again)."""
        async with self.pool.acquire() as conn:
            before = await store.current(conn)
        _check_expected(expected, before.version)
        try:
            domain.check_metric_parameters(document)
            candidate, notes = await self._settle_ground_truth(
                before.competition, domain.carry_ground_truth(before.competition, document), checked)
        except CompetitionError as exc:
            raise _refusal(exc) from None
        changes = domain.diff(before.competition, candidate)
        if not changes:
            return ops.CompetitionApplied(version=before.version, changed=False, changes=[], dry_run=dry_run,
                                          notes=[*notes, "the document matches the current version: nothing changed"])
        identity_changed = domain.identity_changed(before.competition, candidate)
        async with self.pool.acquire() as conn, conn.transaction():
            locked = await store.current(conn, lock=True)
            if locked.version != before.version:  # another change committed while the ground truth was read
                _check_expected(expected, locked.version)
                raise Refused(409, f"the competition changed meanwhile (now version {locked.version}); apply again",
                              current_version=locked.version)
            if kept := await store.tasks_with_submissions(conn, domain.removed_tasks(before.competition, candidate)):
                raise Refused(409, f"task {kept[0]} has submissions, so it cannot be removed; archive it instead "
                                   "(archived = true keeps it visible and read-only with its boards)",
                              task=kept[0], field="tasks")
            stale = await store.stale_counts(conn, {t: candidate.task(t).scorer_version  # type: ignore[union-attr]
                                                    for t in identity_changed})
            if dry_run:
                return ops.CompetitionApplied(version=before.version, changed=True, changes=changes,
                                              identity_changed=identity_changed, stale=stale, dry_run=True,
                                              notes=notes)
            created = await store.add_version(conn, candidate, created_by=by, changes=changes,
                                              identity_changed=identity_changed, after=before.version)
        log.info("competition changed", extra={"competition_version": created.version, "by": by,
                                               "changes": changes[:20]})
        await self.publish(created)
        return ops.CompetitionApplied(version=created.version, changed=True, changes=changes,
                                      identity_changed=identity_changed, stale=stale, notes=notes)

    async def _settle_ground_truth(self, current: Competition, document: Competition,
                                   checked: frozenset[str]) -> tuple[Competition, list[str]]:
        """Each task's ground truth checked against the task where it is new or the task changed how it is scored
        (unless that identity is among those just `checked`); its digest recorded. A task whose key names no object
        yet is kept without ground truth (noted)."""
        tasks, notes = [], []
        for task in document.tasks:
            before = next((t for t in current.tasks if t.id == task.id), None)
            if not task.ground_truth:
                notes.append(f"task {task.id} has no ground truth yet: it takes no submissions until the host puts "
                             "it (`podium admin ground-truth put`)")
            elif task.scorer_version not in checked and (
                    before is None or before.scorer_version != task.scorer_version or not task.ground_truth_sha256):
                task = await self._checked(task, notes)
            tasks.append(task)
        return msgspec.structs.replace(document, tasks=tuple(tasks)), notes

    async def _checked(self, task: Task, notes: list[str]) -> Task:
        try:
            data = await asyncio.to_thread(ground_truth.read_object, self.s3, task.ground_truth)
        except ground_truth.GroundTruthRejected as exc:
            raise CompetitionError(str(exc), task=task.id, field="ground_truth") from None
        if data is None:
            if task.ground_truth_sha256:
                raise CompetitionError(f"no object {task.ground_truth!r} in the ground-truth bucket", task=task.id,
                                       field="ground_truth")
            notes.append(f"task {task.id}: no ground truth at {task.ground_truth!r} yet; it takes no submissions "
                         "until the host puts it (`podium admin ground-truth put`)")
            return task
        digest = hashlib.sha256(data).hexdigest()
        if task.ground_truth_sha256 and task.ground_truth_sha256 != digest:
            raise CompetitionError(f"the object's sha256 is {digest}, not {task.ground_truth_sha256}", task=task.id,
                                   field="ground_truth_sha256")
        try:
            await asyncio.to_thread(ground_truth.check, data, task)
        except ground_truth.GroundTruthRejected as exc:
            raise CompetitionError(f"the ground truth does not fit the task: {exc}", task=task.id,
                                   field="ground_truth") from None
        return msgspec.structs.replace(task, ground_truth_sha256=digest)

    # --- ground truth ------------------------------------------------------------------------

    def _task(self, task_id: str) -> Task:
        return find_task(self.competition.current, task_id)

    async def start_ground_truth(self, request: ops.StartGroundTruth, actor: Principal) -> ops.GroundTruthTicket:
        _require_admin(actor)
        task = self._task(request.task_id)
        if not 0 < request.size_bytes <= ground_truth.MAX_BYTES:
            raise Refused(413 if request.size_bytes > 0 else 422,
                          f"size_bytes must be 1 to {ground_truth.MAX_BYTES}, got {request.size_bytes}")
        if request.sha256 and not (len(request.sha256) == 64 and all(c in "0123456789abcdef" for c in request.sha256)):
            raise Refused(422, "sha256 must be 64 lowercase hex digits")
        upload_id = uuid.uuid4().hex
        key = f"staging/{task.id}/{upload_id}{ground_truth.extension(task)}"
        expires_at = datetime.now(UTC) + self.upload_ttl
        async with self.pool.acquire() as conn:
            await store.add_upload(conn, upload_id=upload_id, task_id=task.id, staging_key=key,
                                   size_bytes=request.size_bytes, sha256=request.sha256, started_by=actor.name,
                                   expires_at=expires_at)
        url = self.presigner.put_url(ground_truth.BUCKET, key, request.size_bytes, self.upload_ttl)
        return ops.GroundTruthTicket(upload_id=upload_id, upload_url=url, method="PUT", expires_at=expires_at,
                                     max_bytes=request.size_bytes)

    async def complete_ground_truth(self, request: ops.CompleteGroundTruth,
                                    actor: Principal) -> ops.CompetitionApplied:
        """Check the uploaded file against the task; a good one gets its own key (named by its digest, never
        overwritten) and becomes the task's ground truth in a new version; a bad one is removed, nothing changes."""
        _require_admin(actor)
        task = self._task(request.task_id)
        async with self.pool.acquire() as conn:
            upload = await store.upload(conn, request.upload_id)
        if upload is None or upload["task_id"] != task.id:
            raise Refused(404, f"no ground-truth upload {request.upload_id[:64]!r} for task {task.id}")
        if upload["completed_at"] is not None:
            raise Refused(409, f"upload {upload['id']} was completed already")
        try:
            data = await asyncio.to_thread(ground_truth.read_object, self.s3, upload["staging_key"],
                                           upload["size_bytes"])
        except ground_truth.GroundTruthRejected as exc:
            await asyncio.to_thread(self._remove, upload["staging_key"])
            raise Refused(422, str(exc)) from None
        if data is None:
            raise Refused(409, "nothing was uploaded yet: PUT the file to the upload URL first")
        digest = hashlib.sha256(data).hexdigest()
        problem = None
        if upload["sha256"] and upload["sha256"] != digest:
            problem = f"the file's sha256 is {digest}, but {upload['sha256']} was announced"
        else:
            try:
                await asyncio.to_thread(ground_truth.check, data, task)
            except ground_truth.GroundTruthRejected as exc:
                problem = f"the ground truth does not fit task {task.id}: {exc}"
        if problem is not None:
            await asyncio.to_thread(self._remove, upload["staging_key"])
            async with self.pool.acquire() as conn:
                await store.finish_upload(conn, upload["id"])
            raise Refused(422, problem, task=task.id, field="ground_truth")
        key = f"{task.id}/{digest}{ground_truth.extension(task)}"
        await asyncio.to_thread(self._keep, upload["staging_key"], key)
        async with self.pool.acquire() as conn:
            await store.finish_upload(conn, upload["id"])
        # The file was read and checked against this task above: the identity it gives is not read again.
        document = domain.with_ground_truth(self.competition.current, task.id, key, digest)
        applied = await self.change(document, by=actor.name,
                                    checked=frozenset(t.scorer_version for t in document.tasks if t.id == task.id))
        log.info("ground truth replaced", extra={"task_id": task.id, "sha256": digest, "by": actor.name})
        return applied

    def _keep(self, staging_key: str, key: str) -> None:
        self.s3.copy_object(ground_truth.BUCKET, key, CopySource(ground_truth.BUCKET, staging_key))
        self._remove(staging_key)

    def _remove(self, key: str) -> None:
        try:
            self.s3.remove_object(ground_truth.BUCKET, key)
        except Exception as exc:  # storage away: the staged object is never read again
            log.warning("could not remove a staged ground truth", extra={"key": key, "error": repr(exc)})

    # --- start-up ----------------------------------------------------------------------------

    async def start_up(self, seed: Path | None, file: Path | None) -> None:
        """`file` (PODIUM_COMPETITION_FILE): applied whenever it differs from the current version. `seed`: applied
        only while no competition exists. Then the bucket holds the current version."""
        async with self.pool.acquire() as conn:
            now = await store.current(conn)
        source = file or (seed if now.version == 0 else None)
        if source is not None:
            try:
                document = parse_competition(source.read_bytes())
                applied = await self.change(document, by=f"file:{source.name}")
            except (CompetitionError, Refused) as exc:
                log.error("the competition file was not applied", extra={"file": str(source), "error": str(exc)})
                raise
            if applied.changed:
                log.info("applied the competition file", extra={"file": str(source), "competition_version":
                                                                applied.version, "changes": applied.changes[:20]})
        await self.publish_current()


def find_task(competition: Competition, task_id: str) -> Task:
    """A task by id or alias, or a 404 that lists the competition's tasks."""
    task = competition.task(task_id)
    if task is None:
        raise Refused(404, f"no task {task_id!r}; tasks: {', '.join(t.id for t in competition.tasks)}")
    return task


def _check_expected(expected: int | None, current: int) -> None:
    if expected is not None and expected != current:
        raise Refused(412, f"the competition is at version {current}, not {expected}: someone changed it since you "
                           "read it; fetch it again and reapply your change", current_version=current)
