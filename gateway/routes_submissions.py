"""Submissions: the tasks, presigned uploads (start → PUT to storage → complete), direct multipart uploads
for clients such as MLS-GOAT's `submit.py` (optionally waiting for the score), and a team's history."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import State, UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, JSONBody

from gateway.identity import principal, signed_in
from gateway.problems import BODY_LIMIT, Problem
from proto import submissions as ops

# Direct uploads stream through the gateway to storage; larger files should use the presigned path. This is the
# ceiling for any task; each request is held to its task's own `max_upload_bytes` (`limit_upload_body`).
MAX_DIRECT_UPLOAD_BYTES = 1024 * 1024 * 1024
# What a multipart body adds around the file: boundaries, part headers (a long file name), a few small fields.
MULTIPART_ALLOWANCE_BYTES = 64 * 1024
MAX_WAIT_S = 600.0  # MLS-GOAT's client waits up to ten minutes for its score


class StartBody(msgspec.Struct, frozen=True):
    task_id: str
    filename: str
    size_bytes: int
    sha256: str = ""
    content_type: str = ""


class CompleteBody(msgspec.Struct, frozen=True):
    sha256: str = ""


class FileUpload(msgspec.Struct):
    file: UploadFile


def _size(upload: UploadFile) -> int:
    stream = upload.file
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    return size


async def _put(state: State, ticket: ops.UploadTicket, upload: UploadFile, size: int) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        while chunk := await upload.read(1 << 20):
            yield chunk

    try:
        response = await state.http.put(ticket.upload_url, content=chunks(), headers={"content-length": str(size)})
    except httpx.TransportError:
        response = None
    if response is None or response.status_code >= 500:
        raise Problem(503, "object storage is unavailable for a moment; send the file again shortly",
                      headers={"Retry-After": "2"})
    if response.status_code >= 300:
        raise Problem(502, f"object storage refused the upload ({response.status_code})")


async def _wait_for_outcome(state: State, request: Request, submission: ops.SubmissionView, seconds: float,
                            changed: asyncio.Queue[bytes]) -> ops.SubmissionView:
    deadline = asyncio.get_running_loop().time() + min(seconds, MAX_WAIT_S)
    while submission.status not in ops.TERMINAL:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            break
        try:
            await asyncio.wait_for(changed.get(), remaining)
        except TimeoutError:
            break
        submission = await state.services.call(
            ops.GET_SUBMISSION, ops.GetSubmission(actor=principal(request), submission_id=submission.id)
        )
    return submission


async def limit_upload_body(request: Request) -> None:
    """Before the body is read: hold a direct upload to its task's limit. A Content-Length over it is refused
    at once (413); a body without one (chunked) is counted as it arrives and refused as it grows past."""
    task_id = request.path_params["task_id"]
    tasks = (await request.app.state.services.call(ops.LIST_TASKS, ops.ListTasks())).tasks
    task = next((t for t in tasks if t.id == task_id or task_id in t.aliases), None)
    if task is None:
        raise Problem(404, f"no task {task_id!r}; tasks: {', '.join(t.id for t in tasks)}")
    limit = task.max_upload_bytes + MULTIPART_ALLOWANCE_BYTES
    announced = request.headers.get("content-length")
    if announced is not None and announced.isdigit() and int(announced) > limit:
        raise Problem(413, f"size must be 1 to {task.max_upload_bytes} bytes for task {task.id}, got a request "
                           f"of {int(announced)} bytes")
    request.scope.setdefault("state", {})[BODY_LIMIT] = limit


async def direct_upload(request: Request, state: State, task_id: str, upload: UploadFile, wait: float
                        ) -> ops.SubmissionView:
    actor = principal(request)
    size = _size(upload)
    ticket = await state.services.call(
        ops.START_UPLOAD,
        ops.StartUpload(actor=actor, task_id=task_id, filename=upload.filename or "submission", size_bytes=size,
                        content_type=upload.content_type or ""),
    )
    try:
        await _put(state, ticket, upload, size)
    except Problem:
        # Nothing was stored: give the quota back at once rather than when the upload URL expires.
        with contextlib.suppress(Problem):
            await state.services.call(ops.CANCEL, ops.GetSubmission(actor=actor, submission_id=ticket.submission_id))
        raise
    changed: asyncio.Queue[bytes] = asyncio.Queue()

    async def on_change(message: Any) -> None:
        changed.put_nowait(message.data)

    # Subscribed before completing, so no status change can slip between the two.
    subscription = await state.broker.connection.subscribe(
        ops.live_submission(actor.account_id, str(ticket.submission_id)), cb=on_change
    )
    try:
        submission = await state.services.call(
            ops.COMPLETE_UPLOAD, ops.CompleteUpload(actor=actor, submission_id=ticket.submission_id)
        )
        if wait > 0:
            submission = await _wait_for_outcome(state, request, submission, wait, changed)
    finally:
        await subscription.unsubscribe()
    return submission


class SubmissionController(Controller):
    tags = ["submissions"]

    @get("/api/v1/tasks", summary="The competition's tasks: how to submit to each")
    async def tasks(self, state: State) -> ops.TaskList:
        return await state.services.call(ops.LIST_TASKS, ops.ListTasks())

    @get("/api/v1/tasks/{task_id:str}/quota", guards=[signed_in],
         summary="The calling team's daily quota for a task: used, left, when it resets (UTC) and which submissions "
                 "count")
    async def quota(self, request: Request, state: State, task_id: FromPath[str]) -> ops.Quota:
        return await state.services.call(ops.GET_QUOTA, ops.GetQuota(actor=principal(request), task_id=task_id))

    @post("/api/v1/submissions", guards=[signed_in], status_code=200,
          summary="Start a presigned upload: returns the submission id and a short-lived PUT URL")
    async def start(self, request: Request, state: State, data: JSONBody[StartBody]) -> ops.UploadTicket:
        return await state.services.call(
            ops.START_UPLOAD,
            ops.StartUpload(actor=principal(request), task_id=data.task_id, filename=data.filename,
                            size_bytes=data.size_bytes, sha256=data.sha256, content_type=data.content_type),
        )

    @post("/api/v1/submissions/{submission_id:int}/complete", guards=[signed_in], status_code=200,
          summary="Finish a presigned upload: size and sha256 are checked, then the submission is scored")
    async def complete(self, request: Request, state: State, submission_id: FromPath[int],
                       data: JSONBody[CompleteBody]) -> ops.SubmissionView:
        return await state.services.call(
            ops.COMPLETE_UPLOAD,
            ops.CompleteUpload(actor=principal(request), submission_id=submission_id, sha256=data.sha256),
        )

    @post(["/api/v1/tasks/{task_id:str}/submissions", "/submissions/{task_id:str}", "/submit/{task_id:str}"],
          guards=[signed_in], status_code=200, request_max_body_size=MAX_DIRECT_UPLOAD_BYTES,
          before_request=limit_upload_body,
          summary="Upload a submission in one request (multipart field 'file'); ?wait=N waits up to N s for "
                  "its score")
    async def upload(self, request: Request, state: State, task_id: FromPath[str],
                     data: Annotated[FileUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
                     wait: FromQuery[float] = 0.0) -> ops.SubmissionView:
        if math.isnan(wait):  # a NaN deadline would go into the event loop's timer heap and stall every timer
            raise Problem(400, f"wait must be a number of seconds (0 to {MAX_WAIT_S:.0f}), not NaN")
        return await direct_upload(request, state, task_id, data.file, wait)

    @get(["/api/v1/submissions", "/submissions", "/teams/me/submissions"], guards=[signed_in],
         summary="The calling team's submissions, newest first")
    async def history(self, request: Request, state: State, task_id: FromQuery[str] = "") -> list[ops.SubmissionView]:
        reply = await state.services.call(
            ops.LIST_SUBMISSIONS, ops.ListSubmissions(actor=principal(request), task_id=task_id)
        )
        return reply.submissions

    @get("/teams/me/submissions/{task_id:str}", guards=[signed_in], summary="MLS-GOAT: history for one task")
    async def task_history(self, request: Request, state: State, task_id: FromPath[str]) -> list[ops.SubmissionView]:
        reply = await state.services.call(
            ops.LIST_SUBMISSIONS, ops.ListSubmissions(actor=principal(request), task_id=task_id)
        )
        return reply.submissions

    @get("/api/v1/queues", guards=[signed_in],
         summary="Each scorer pool's queue: waiting, in flight, redeliveries, workers alive, recent throughput")
    async def queues(self, state: State) -> list[ops.ScorerQueue]:
        return (await state.services.call(ops.LIST_QUEUES, ops.ListQueues())).queues

    @post("/api/v1/submissions/{submission_id:int}/cancel", guards=[signed_in], status_code=200,
          summary="Cancel a submission that is waiting or being scored (its team or an admin); the quota comes back")
    async def cancel(self, request: Request, state: State, submission_id: FromPath[int]) -> ops.SubmissionView:
        return await state.services.call(
            ops.CANCEL, ops.GetSubmission(actor=principal(request), submission_id=submission_id)
        )

    @get("/api/v1/submissions/{submission_id:int}/logs", guards=[signed_in],
         summary="The scorer's last 500 log lines about a submission (streamed live over /ws while it runs)")
    async def logs(self, request: Request, state: State, submission_id: FromPath[int]) -> ops.JobLog:
        return await state.services.call(
            ops.GET_LOG, ops.GetSubmission(actor=principal(request), submission_id=submission_id)
        )

    @get("/api/v1/submissions/{submission_id:int}/details", guards=[signed_in],
         summary="What the scorer found, per sample (CPU) or per class (models); teams see the public split only")
    async def details(self, request: Request, state: State, submission_id: FromPath[int]) -> ops.SubmissionDetails:
        return await state.services.call(
            ops.GET_DETAILS, ops.GetSubmission(actor=principal(request), submission_id=submission_id)
        )

    @get(["/api/v1/submissions/{submission_id:int}", "/submissions/{submission_id:int}"], guards=[signed_in],
         summary="One submission: status, scores, reason")
    async def one(self, request: Request, state: State, submission_id: FromPath[int]) -> ops.SubmissionView:
        return await state.services.call(
            ops.GET_SUBMISSION, ops.GetSubmission(actor=principal(request), submission_id=submission_id)
        )
