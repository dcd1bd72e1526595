"""A host's changes to the competition: applying a document (TOML or JSON, guarded by the version it was edited
from), a task's ground-truth and scoring-program uploads, the history, and what participants may see. Every change is
a new immutable version in the schema with its CompetitionChanged event (one transaction), then the `competition`
bucket every service follows. A document with any error changes nothing and says which task and field are wrong."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import tempfile
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
from podium_runtime import program_files as programs
from podium_runtime.competition import KEY, CurrentCompetition
from podium_runtime.connections import ObjectTooLarge, read_object
from podium_runtime.programs.contracts import ProgramResult
from podium_runtime.programs.sandbox import SandboxConfig, SandboxUnavailable
from podium_runtime.rpc import Refused
from proto import hosting as ops
from proto.competition import Competition, CompetitionError, CompetitionVersion, Task, parse_competition
from proto.rpc import Principal
from proto.storage import PROGRAMS_BUCKET
from submission_service import competition as domain
from submission_service import competition_store as store
from submission_service.program_check import run_on_sample
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
    # How a host's program is sandboxed when it is checked on a sample at upload.
    sandbox: SandboxConfig

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
            carried = domain.carry_program(before.competition, domain.carry_ground_truth(before.competition, document))
            candidate, notes = await self._settle_ground_truth(before.competition, carried, checked)
            candidate = await self._settle_programs(before.competition, candidate, checked, notes)
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

    async def _settle_programs(self, current: Competition, document: Competition, checked: frozenset[str],
                               notes: list[str]) -> Competition:
        """Each program task's program, where the document names one the current version does not use (unless its
        identity was just `checked`), read back from the programs bucket and checked like an upload (its digest
        recorded where the document gives none). A program task without one is kept (noted)."""
        tasks = []
        for task in document.tasks:
            before = current.task(task.id)
            if task.uses_program and not task.program.key:
                notes.append(f"task {task.id} has no scoring program yet: it takes no submissions until the host puts "
                             "it (`podium admin program put`)")
            elif task.uses_program and task.scorer_version not in checked and (
                    before is None or before.program.key != task.program.key or not task.program.sha256
                    or before.program.sha256 != task.program.sha256):
                task = await self._stored_program(task)
            tasks.append(task)
        return msgspec.structs.replace(document, tasks=tuple(tasks))

    async def _stored_program(self, task: Task) -> Task:
        spec = task.program
        try:
            data = await asyncio.to_thread(_read_object, self.s3, PROGRAMS_BUCKET, spec.key,
                                           programs.MAX_PROGRAM_BYTES)
            if data is None:
                raise programs.ProgramRejected(f"no object {spec.key!r} in the programs bucket: put the program with "
                                               "`podium admin program put`")
            digest = hashlib.sha256(data).hexdigest()
            if spec.sha256 and spec.sha256 != digest:
                raise programs.ProgramRejected(f"the program object's sha256 is {digest}, not {spec.sha256}")
            await asyncio.to_thread(_check_zip, data)
        except programs.ProgramRejected as exc:
            raise CompetitionError(str(exc), task=task.id, field="program") from None
        return msgspec.structs.replace(task, program=msgspec.structs.replace(spec, sha256=digest))

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

    # --- scoring programs --------------------------------------------------------------------

    async def start_program(self, request: ops.StartProgram, actor: Principal) -> ops.ProgramTicket:
        _require_admin(actor)
        task = self._task(request.task_id)
        if not task.uses_program:
            raise Refused(409, f"task {task.id} is not scored by a program (its metric is {task.metric}): apply it "
                               'with metric = "program" and its columns first', task=task.id, field="metric")
        _check_program_name(request.filename)
        _check_size("size_bytes", request.size_bytes, programs.MAX_PROGRAM_BYTES, "a program")
        _check_digest("sha256", request.sha256)
        sample = request.sample
        if sample is not None:
            if not task.has_ground_truth:
                raise Refused(409, f"task {task.id} has no ground truth yet, and the program is checked on the "
                                   "sample against it: put the ground truth first (`podium admin ground-truth put`), "
                                   "or put the program without a sample (stored unchecked)", task=task.id)
            _check_size("sample.size_bytes", sample.size_bytes, task.max_upload_bytes,
                        f"a sample submission to task {task.id} (its upload limit)")
            _check_digest("sample.sha256", sample.sha256)
        upload_id = uuid.uuid4().hex
        key = f"staging/{task.id}/{upload_id}/program"
        sample_key = f"staging/{task.id}/{upload_id}/sample" if sample is not None else ""
        expires_at = datetime.now(UTC) + self.upload_ttl
        async with self.pool.acquire() as conn:
            await store.add_program_upload(
                conn, upload_id=upload_id, task_id=task.id, filename=request.filename, staging_key=key,
                size_bytes=request.size_bytes, sha256=request.sha256,
                sample_filename=sample.filename if sample else "", sample_key=sample_key,
                sample_size_bytes=sample.size_bytes if sample else 0, sample_sha256=sample.sha256 if sample else "",
                started_by=actor.name, expires_at=expires_at)
        sign = self.presigner.put_url
        return ops.ProgramTicket(
            upload_id=upload_id, upload_url=sign(PROGRAMS_BUCKET, key, request.size_bytes, self.upload_ttl),
            method="PUT", expires_at=expires_at, max_bytes=request.size_bytes,
            sample_upload_url=sign(PROGRAMS_BUCKET, sample_key, sample.size_bytes, self.upload_ttl) if sample else "",
            sample_max_bytes=sample.size_bytes if sample else 0)

    async def complete_program(self, request: ops.CompleteProgram, actor: Principal) -> ops.ProgramApplied:
        """Package the uploaded program (a .py as a ZIP with score.py), run it once on the sample when there is one;
        a good one is kept under its digest and becomes the task's program in a new version; a refused one is
        removed and nothing changes."""
        _require_admin(actor)
        task = self._task(request.task_id)
        async with self.pool.acquire() as conn:
            upload = await store.program_upload(conn, request.upload_id)
        if upload is None or upload["task_id"] != task.id:
            raise Refused(404, f"no program upload {request.upload_id[:64]!r} for task {task.id}")
        if upload["completed_at"] is not None:
            raise Refused(409, f"upload {upload['id']} was completed already")
        staged = [upload["staging_key"], *([upload["sample_key"]] if upload["sample_key"] else [])]
        try:
            program_zip, sample = await self._read_upload(upload)
            result = await self._check_on_sample(task, program_zip, sample, upload["sample_filename"])
        except Refused as refusal:
            if refusal.status == 422:  # a bad upload is over; one not PUT yet (409) may still be
                await self._drop_upload(upload["id"], staged)
            raise
        digest = hashlib.sha256(program_zip).hexdigest()
        key = programs.program_key(task.id, digest)
        await asyncio.to_thread(self._store_program, key, program_zip)
        await self._drop_upload(upload["id"], staged)
        document = domain.with_program(self.competition.current, task.id, key, digest)
        # Read and checked above: the identity it gives is not read again (nor the unchanged ground truth).
        applied = await self.change(document, by=actor.name,
                                    checked=frozenset(t.scorer_version for t in document.tasks if t.id == task.id))
        log.info("scoring program replaced", extra={"task_id": task.id, "sha256": digest, "by": actor.name,
                                                    "checked": result is not None})
        notes = applied.notes if result is not None else [
            *applied.notes, f"the program of task {task.id} is stored unchecked: no sample was given, so its first "
                            "run is on a participant's submission (put it again with --sample to check it now)"]
        return ops.ProgramApplied(
            **{**msgspec.structs.asdict(applied), "notes": notes}, sha256=digest, checked=result is not None,
            public=result.public if result else {}, stdout=result.stdout if result else "",
            stderr=result.stderr if result else "")

    async def _read_upload(self, upload: asyncpg.Record) -> tuple[bytes, bytes | None]:
        """The program as it is stored (packaged, checked) and the sample's bytes; a Refused says what is wrong."""
        program = await asyncio.to_thread(_read_object, self.s3, PROGRAMS_BUCKET, upload["staging_key"],
                                          upload["size_bytes"])
        sample = None
        if upload["sample_key"]:
            sample = await asyncio.to_thread(_read_object, self.s3, PROGRAMS_BUCKET, upload["sample_key"],
                                             upload["sample_size_bytes"])
            if sample is None:
                raise Refused(409, "the sample was not uploaded yet: PUT it to the sample upload URL first")
        if program is None:
            raise Refused(409, "nothing was uploaded yet: PUT the program to the upload URL first")
        for what, data, announced in (("program", program, upload["sha256"]),
                                      ("sample", sample, upload["sample_sha256"])):
            if data is not None and announced and (digest := hashlib.sha256(data).hexdigest()) != announced:
                raise Refused(422, f"the {what}'s sha256 is {digest}, but {announced} was announced",
                              field=what)
        try:
            with tempfile.TemporaryDirectory(prefix="podium-program-") as scratch:
                packaged = await asyncio.to_thread(programs.package, upload["filename"], program,
                                                   Path(scratch) / "program")
        except programs.ProgramRejected as exc:
            raise Refused(422, str(exc), field="program") from None
        return packaged, sample

    async def _check_on_sample(self, task: Task, program_zip: bytes, sample: bytes | None,
                               sample_name: str) -> ProgramResult | None:
        """The program's run on the sample against the task's ground truth (None without a sample); a failure is a
        422 with the host's reason, the traceback and the program's output."""
        if sample is None:
            return None
        truth = await self._ground_truth_of(task)
        try:
            result = await asyncio.to_thread(run_on_sample, self.sandbox, task, program_zip, truth, sample,
                                             sample_name or "sample")
        except programs.ProgramRejected as exc:
            raise Refused(422, str(exc), field="program") from None
        except SandboxUnavailable as exc:
            raise Refused(503, f"programs cannot be checked on this platform now: {exc}") from None
        if not result.ok:
            raise Refused(422, result.host_reason, field="program", missing_module=result.missing_module,
                          traceback=result.traceback, participant_message=result.participant_message,
                          stdout=result.stdout, stderr=result.stderr)
        return result

    async def _ground_truth_of(self, task: Task) -> bytes:
        if not task.has_ground_truth:
            raise Refused(409, f"task {task.id} has no ground truth yet, and the program is checked on the sample "
                               "against it: put the ground truth first (`podium admin ground-truth put`)")
        try:
            data = await asyncio.to_thread(ground_truth.read_object, self.s3, task.ground_truth)
        except ground_truth.GroundTruthRejected as exc:
            raise Refused(409, f"the ground truth of task {task.id} cannot be read: {exc}") from None
        if data is None or hashlib.sha256(data).hexdigest() != task.ground_truth_sha256:
            raise Refused(409, f"the ground truth of task {task.id} is not the object its version records; put it "
                               "again (`podium admin ground-truth put`)")
        return data

    def _store_program(self, key: str, data: bytes) -> None:
        self.s3.put_object(PROGRAMS_BUCKET, key, io.BytesIO(data), len(data), content_type="application/zip")

    async def _drop_upload(self, upload_id: str, keys: list[str]) -> None:
        for key in keys:
            await asyncio.to_thread(_remove_quietly, self.s3, PROGRAMS_BUCKET, key)
        async with self.pool.acquire() as conn:
            await store.finish_program_upload(conn, upload_id)

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


def _check_program_name(filename: str) -> None:
    if Path(filename).suffix.lower() not in (".py", ".zip"):
        raise Refused(422, f"a program is a .py file, or a .zip with {programs.ENTRY_POINT} at its root; "
                           f"got filename {filename[:100]!r}", field="filename")


def _check_size(field: str, size: int, limit: int, what: str) -> None:
    if not 0 < size <= limit:
        raise Refused(413 if size > 0 else 422, f"{field} must be 1 to {limit} ({what}), got {size}", field=field)


def _check_digest(field: str, sha256: str) -> None:
    if sha256 and not (len(sha256) == 64 and all(c in "0123456789abcdef" for c in sha256)):
        raise Refused(422, f"{field} must be 64 lowercase hex digits", field=field)


def _read_object(s3: Minio, bucket: str, key: str, max_bytes: int) -> bytes | None:
    """The object at `key` (None when there is none); one larger than `max_bytes` (what was announced) is refused
    unread."""
    try:
        return read_object(s3, bucket, key, max_bytes)
    except ObjectTooLarge as exc:
        raise Refused(422, f"the uploaded file is {exc.size} bytes, more than the {exc.limit} announced") from None


def _check_zip(data: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="podium-program-") as scratch:
        programs.unpack_program(data, Path(scratch) / "program")


def _remove_quietly(s3: Minio, bucket: str, key: str) -> None:
    try:
        s3.remove_object(bucket, key)
    except Exception as exc:  # storage away: a staged object is never read again
        log.warning("could not remove a staged upload", extra={"key": key, "error": repr(exc)})


def _check_expected(expected: int | None, current: int) -> None:
    if expected is not None and expected != current:
        raise Refused(412, f"the competition is at version {current}, not {expected}: someone changed it since you "
                           "read it; fetch it again and reapply your change", current_version=current)
