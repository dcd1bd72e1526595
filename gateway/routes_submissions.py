"""Submissions: the tasks, presigned uploads (start → PUT to storage → complete), direct multipart uploads (Podium's,
and MLS-GOAT's as its `submit.py` sends them: waiting for a result's score, queueing a model), a team's history, the
anonymous status of a model, and the admins' view of every submission."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotAuthorizedException
from litestar.params import Body, FromPath, FromQuery, JSONBody
from nats.aio.msg import Msg

from gateway.goat_paths import goat_paths
from gateway.identity import admin_only, principal, signed_in
from gateway.problems import BODY_LIMIT, Problem
from gateway.routes_competition import participant_tasks
from gateway.state import GatewayState
from gateway.tokens import InvalidToken
from proto import submissions as ops
from proto.rpc import Principal

# Direct uploads stream through the gateway to storage; larger files should use the presigned path. This is the
# ceiling for any task; each request is held to its task's own `max_upload_bytes` (`limit_upload_body`).
MAX_DIRECT_UPLOAD_BYTES = 1024 * 1024 * 1024
# What a multipart body adds around the file: boundaries, part headers (a long file name), a few small fields.
MULTIPART_ALLOWANCE_BYTES = 64 * 1024
MAX_WAIT_S = 600.0  # MLS-GOAT's client waits up to ten minutes for its score
# Where `limit_upload_body` leaves the upload's task for the handler (scope state, as Litestar keeps it).
UPLOAD_TASK = "podium_upload_task"


class FileUpload(msgspec.Struct):
    file: UploadFile


class GoatUpload(msgspec.Struct):
    """MLS-GOAT's form: the file; `submit.py` sends a model with the access token in `team_token` (its GPU server
    took no Authorization header) and a `batch_size` (1 to 32)."""

    file: UploadFile
    team_token: str = ""
    batch_size: str = ""


class GoatQueued(msgspec.Struct, frozen=True):
    """MLS-GOAT's GPU server's answer to a model: queued; poll `/submit/<task>/status/<submission_id>`."""

    message: str
    submission_id: str  # the status id: only its holder may read the anonymous status
    id: int  # the submission's id in the team's own history
    task_id: str
    status: str
    queue_position: int
    model_size_mb: float
    batch_size: int | None


def _size(upload: UploadFile) -> int:
    stream = upload.file
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    return size


async def _put(state: GatewayState, ticket: ops.UploadTicket, upload: UploadFile, size: int) -> None:
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


async def _wait_for_outcome(state: GatewayState, actor: Principal, submission: ops.SubmissionView, seconds: float,
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
            ops.GET_SUBMISSION, ops.GetSubmission(submission_id=submission.id), actor=actor
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
    request.scope.setdefault("state", {}).update({BODY_LIMIT: limit, UPLOAD_TASK: task})


async def direct_upload(request: Request, state: GatewayState, task_id: str, upload: UploadFile, wait: float, *,
                        actor: Principal | None = None, batch_size: int | None = None
                        ) -> tuple[ops.SubmissionView, ops.UploadTicket]:
    actor = actor or principal(request)
    size = _size(upload)
    ticket = await state.services.call(
        ops.START_UPLOAD,
        ops.StartUpload(task_id=task_id, filename=upload.filename or "submission", size_bytes=size,
                        content_type=upload.content_type or "", batch_size=batch_size), actor=actor,
    )
    try:
        await _put(state, ticket, upload, size)
    except Problem:
        # Nothing was stored: give the quota back at once rather than when the upload URL expires.
        with contextlib.suppress(Problem):
            await state.services.call(ops.CANCEL, ops.GetSubmission(submission_id=ticket.submission_id), actor=actor)
        raise
    changed: asyncio.Queue[bytes] = asyncio.Queue()

    async def on_change(message: Msg) -> None:
        changed.put_nowait(message.data)

    # Subscribed before completing, so no status change can slip between the two.
    subscription = await state.broker.connection.subscribe(
        ops.live_submission(actor.account_id, str(ticket.submission_id)), cb=on_change
    )
    try:
        submission = await state.services.call(
            ops.COMPLETE_UPLOAD, ops.CompleteUpload(submission_id=ticket.submission_id), actor=actor
        )
        if wait > 0:
            submission = await _wait_for_outcome(state, actor, submission, wait, changed)
    finally:
        await subscription.unsubscribe()
    return submission, ticket


async def goat_uploader(request: Request, state: GatewayState, team_token: str) -> Principal:
    """The team behind an MLS-GOAT upload: its bearer token, else the access token in the form's `team_token`."""
    user = request.scope.get("user")
    if user is not None:
        return user
    if not team_token.strip():
        raise NotAuthorizedException("Not authenticated: send 'Authorization: Bearer <token>' or the access token in "
                                     "the form field 'team_token'", headers={"WWW-Authenticate": "Bearer"})
    try:
        return await state.identity.verify(team_token.strip())
    except InvalidToken as exc:
        raise NotAuthorizedException(f"Could not validate credentials: {exc}",
                                     headers={"WWW-Authenticate": "Bearer"}) from None


def goat_batch_size(text: str) -> int | None:
    """The form's `batch_size` (absent: none asked); its range is the submission service's rule."""
    if not text.strip():
        return None
    try:
        return int(text.strip())
    except ValueError:
        raise Problem(422, f"batch_size must be a whole number from 1 to {ops.MAX_BATCH_SIZE}, got "
                           f"{text.strip()[:40]!r}") from None


# What MLS-GOAT's upload answers: the submission, or (a model queued) where to poll its status.
GoatAnswer = Response[ops.SubmissionView | GoatQueued]


def goat_outcome(submission: ops.SubmissionView) -> GoatAnswer:
    """MLS-GOAT's contract for a waited-for upload: 200 with the score, a 4xx with the reason when it has none."""
    if submission.status == "scored":
        return Response(submission, status_code=200)
    if submission.status not in ops.TERMINAL:
        return Response(submission, status_code=202)  # still being scored after the longest wait: poll its id
    raise Problem(422, f"submission {submission.id} {submission.status}: {submission.reason or 'no reason given'}",
                  extra={"submission_id": submission.id, "status": submission.status})


async def task_of_number(state: GatewayState, task_id: str) -> str:
    """MLS-GOAT's frontend names tasks by number: 1 and 2 are the competition's first and second, in the competition
    file's order (any other id is passed on as it is)."""
    if not (task_id.isascii() and task_id.isdigit()):
        return task_id
    tasks = (await state.services.call(ops.LIST_TASKS, ops.ListTasks())).tasks
    if any(task_id == t.id or task_id in t.aliases for t in tasks):
        return task_id  # a task whose own id (or alias) is a number
    number = int(task_id)
    if not 1 <= number <= len(tasks):
        raise Problem(404, f"no task number {number}: tasks are numbered 1 to {len(tasks)} "
                           f"({', '.join(f'{i}: {t.id}' for i, t in enumerate(tasks, start=1))})")
    return tasks[number - 1].id


class SubmissionController(Controller):
    tags = ["submissions"]

    @get("/api/v1/tasks", summary="The competition's tasks: how to submit to each (the same list as "
                                   "/api/v1/competition; a signed-in team also gets its quota left today)")
    async def tasks(self, request: Request, state: GatewayState) -> ops.TaskList:
        return await participant_tasks(request, state)

    @get("/api/v1/tasks/{task_id:str}/quota", guards=[signed_in],
         summary="The calling team's daily quota for a task: used, left, when it resets (UTC) and which submissions "
                 "count")
    async def quota(self, request: Request, state: GatewayState, task_id: FromPath[str]) -> ops.Quota:
        return await state.services.call(ops.GET_QUOTA, ops.GetQuota(task_id=task_id), actor=principal(request))

    @post("/api/v1/submissions", guards=[signed_in], status_code=200,
          summary="Start a presigned upload: returns the submission id and a short-lived PUT URL")
    async def start(self, request: Request, state: GatewayState, data: JSONBody[ops.NewUpload]) -> ops.UploadTicket:
        return await state.services.call(
            ops.START_UPLOAD, ops.StartUpload(**msgspec.structs.asdict(data)), actor=principal(request))

    @post("/api/v1/submissions/{submission_id:int}/complete", guards=[signed_in], status_code=200,
          summary="Finish a presigned upload: size and sha256 are checked, then the submission is scored")
    async def complete(self, request: Request, state: GatewayState, submission_id: FromPath[int],
                       data: JSONBody[ops.UploadCompletion]) -> ops.SubmissionView:
        return await state.services.call(
            ops.COMPLETE_UPLOAD, ops.CompleteUpload(submission_id=submission_id, **msgspec.structs.asdict(data)),
            actor=principal(request))

    @post("/api/v1/tasks/{task_id:str}/submissions", guards=[signed_in], status_code=200,
          request_max_body_size=MAX_DIRECT_UPLOAD_BYTES, before_request=limit_upload_body,
          summary="Upload a submission in one request (multipart field 'file'); ?wait=N waits up to N s for "
                  "its score")
    async def upload(self, request: Request, state: GatewayState, task_id: FromPath[str],
                     data: Annotated[FileUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
                     wait: FromQuery[float] = 0.0) -> ops.SubmissionView:
        if math.isnan(wait):  # a NaN deadline would go into the event loop's timer heap and stall every timer
            raise Problem(400, f"wait must be a number of seconds (0 to {MAX_WAIT_S:.0f}), not NaN")
        return (await direct_upload(request, state, task_id, data.file, wait))[0]

    @post(goat_paths("/submissions/{task_id:str}", "/submit/{task_id:str}"), status_code=200,
          request_max_body_size=MAX_DIRECT_UPLOAD_BYTES, before_request=limit_upload_body,
          summary="MLS-GOAT's upload (multipart 'file'; a bearer token or the form's 'team_token'). A result "
                  "archive waits for its score (200; a 422 with the reason when it fails); a model is queued (202 "
                  "with its status id, polled at /submit/{task}/status/{id}); ?wait=N answers after N s at most "
                  "with the submission, whatever its state")
    async def goat_upload(self, request: Request, state: GatewayState, task_id: FromPath[str],
                          data: Annotated[GoatUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
                          wait: FromQuery[float | None] = None) -> GoatAnswer:
        if wait is not None and math.isnan(wait):  # a NaN deadline would stall every timer of the event loop
            raise Problem(400, f"wait must be a number of seconds (0 to {MAX_WAIT_S:.0f}), not NaN")
        actor = await goat_uploader(request, state, data.team_token)
        batch_size = goat_batch_size(data.batch_size)
        task: ops.TaskInfo = request.scope["state"][UPLOAD_TASK]
        queue_model = task.kind == "gpu" and wait is None
        submission, ticket = await direct_upload(
            request, state, task_id, data.file, 0 if queue_model else MAX_WAIT_S if wait is None else wait,
            actor=actor, batch_size=batch_size)
        if wait is not None:
            return GoatAnswer(submission, status_code=200)
        if not queue_model:
            return goat_outcome(submission)
        if submission.status in ops.TERMINAL and submission.status != "scored":
            return goat_outcome(submission)  # refused on arrival: the reason now, not at the first poll
        return Response(GoatQueued(
            message="Model submitted successfully", submission_id=ticket.status_id, id=submission.id,
            task_id=submission.task_id, status="queued", queue_position=submission.queue_position or 0,
            model_size_mb=round((submission.size_bytes or 0) / 2**20, 2), batch_size=batch_size), status_code=202)

    @get(goat_paths("/submit/{task_id:str}/status/{status_id:str}"),
         summary="MLS-GOAT's anonymous status of a submission, by the status id its upload answered: its state, its "
                 "public score and how the model ran (never a private value or the team)")
    async def goat_status(self, state: GatewayState, task_id: FromPath[str], status_id: FromPath[str]
                          ) -> dict[str, Any]:
        found = await state.services.call(ops.PUBLIC_STATUS, ops.PublicStatusRequest(task_id=task_id,
                                                                                     status_id=status_id))
        return goat_status_body(status_id, found)

    @get(["/api/v1/submissions", *goat_paths("/submissions", "/teams/me/submissions")], guards=[signed_in],
         summary="The calling team's submissions, newest first")
    async def history(self, request: Request, state: GatewayState, task_id: FromQuery[str] = ""
                      ) -> list[ops.SubmissionView]:
        reply = await state.services.call(
            ops.LIST_SUBMISSIONS, ops.ListSubmissions(task_id=task_id), actor=principal(request)
        )
        return reply.submissions

    @get(goat_paths("/teams/me/submissions/{task_id:str}"), guards=[signed_in],
         summary="MLS-GOAT: history for one task, named by its id, an alias, or its number (1 = the first task)")
    async def task_history(self, request: Request, state: GatewayState, task_id: FromPath[str]
                           ) -> list[ops.SubmissionView]:
        reply = await state.services.call(
            ops.LIST_SUBMISSIONS,
            ops.ListSubmissions(task_id=await task_of_number(state, task_id)), actor=principal(request),
        )
        return reply.submissions

    @get("/api/v1/queues", guards=[signed_in],
         summary="Each scorer pool's queue: waiting, in flight, redeliveries, workers alive, recent throughput")
    async def queues(self, state: GatewayState) -> list[ops.ScorerQueue]:
        return (await state.services.call(ops.LIST_QUEUES, ops.ListQueues())).queues

    @post("/api/v1/submissions/{submission_id:int}/cancel", guards=[signed_in], status_code=200,
          summary="Cancel a submission that is waiting or being scored (its team or an admin); the quota comes back")
    async def cancel(self, request: Request, state: GatewayState, submission_id: FromPath[int]) -> ops.SubmissionView:
        return await state.services.call(
            ops.CANCEL, ops.GetSubmission(submission_id=submission_id), actor=principal(request)
        )

    @get("/api/v1/submissions/{submission_id:int}/logs", guards=[signed_in],
         summary="The scorer's last 500 log lines about a submission (streamed live over /ws while it runs)")
    async def logs(self, request: Request, state: GatewayState, submission_id: FromPath[int]) -> ops.JobLog:
        return await state.services.call(
            ops.GET_LOG, ops.GetSubmission(submission_id=submission_id), actor=principal(request)
        )

    @get("/api/v1/submissions/{submission_id:int}/details", guards=[signed_in],
         summary="What the scorer found, per sample (CPU) or per class (models); teams see the public split only")
    async def details(self, request: Request, state: GatewayState, submission_id: FromPath[int]
                      ) -> ops.SubmissionDetails:
        return await state.services.call(
            ops.GET_DETAILS, ops.GetSubmission(submission_id=submission_id), actor=principal(request)
        )

    @get(["/api/v1/submissions/{submission_id:int}", *goat_paths("/submissions/{submission_id:int}")],
         guards=[signed_in],
         summary="One submission: status, scores, reason")
    async def one(self, request: Request, state: GatewayState, submission_id: FromPath[int]) -> ops.SubmissionView:
        return await state.services.call(
            ops.GET_SUBMISSION, ops.GetSubmission(submission_id=submission_id), actor=principal(request)
        )


class AdminSubmissionController(Controller):
    tags = ["admin"]
    guards = [admin_only]

    @get(["/api/v1/admin/submissions", *goat_paths("/admin/submissions")],
         summary="Every team's submissions, newest first (?task_id=, ?skip=, ?limit= up to 1000)")
    async def list_all(self, request: Request, state: GatewayState, task_id: FromQuery[str] = "",
                       skip: FromQuery[int] = 0, limit: FromQuery[int] = 200) -> list[ops.SubmissionView]:
        reply = await state.services.call(ops.ADMIN_LIST, ops.ListAllSubmissions(
            task_id=await task_of_number(state, task_id) if task_id else "", skip=skip, limit=limit),
            actor=principal(request))
        return reply.submissions

    @delete(["/api/v1/admin/submissions/{submission_id:int}", *goat_paths("/admin/submissions/{submission_id:int}")],
            status_code=200,
            summary="Remove a submission: cancelled if it waits or is being scored; withdrawn from the boards if "
                    "scored (kept with its scores, audited); 409 if it never counted")
    async def withdraw(self, request: Request, state: GatewayState, submission_id: FromPath[int]) -> ops.SubmissionView:
        return await state.services.call(
            ops.WITHDRAW, ops.GetSubmission(submission_id=submission_id), actor=principal(request))


# MLS-GOAT's words for a submission's state on its status route.
GOAT_STATUS = {"awaiting_upload": "queued", "received": "queued", "scoring": "processing", "scored": "completed"}


def goat_status_body(status_id: str, found: ops.PublicStatus) -> dict[str, Any]:
    """MLS-GOAT's status answer: `status` queued|processing|completed|failed, `score`, `details` (the model's
    inference time, throughput and size), `error`, `queue_length`. Unknown values are left out (its client reads them
    with defaults)."""
    details: dict[str, Any] = {}
    if found.scoring_s is not None:
        details["inference_time"] = found.scoring_s
    if found.throughput_samples_per_s is not None:
        details["throughput_samples_per_sec"] = found.throughput_samples_per_s
    if found.latency_p50_ms is not None:
        details["latency_p50_ms"] = found.latency_p50_ms
    if found.size_bytes is not None:
        details["model_size_mb"] = round(found.size_bytes / 2**20, 4)
    if found.batch_size is not None:
        details["batch_size"] = found.batch_size
    return {"submission_id": status_id, "status": GOAT_STATUS.get(found.status, "failed"),
            "score": found.public_score, "details": details, "error": found.error,
            "queue_position": found.queue_position, "queue_length": found.queue_length}
