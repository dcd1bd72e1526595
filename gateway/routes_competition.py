"""The competition as data: what participants may see of it (each task's description rendered by `gateway.markdown`),
and the hosts' routes — the whole versioned document with its version as an ETag (JSON, or a TOML file), applying a
new one (TOML or JSON, `If-Match` required, a dry run), the history, and a task's ground-truth and scoring-program
uploads. Every refusal
(a stale version, a document with a problem and where it is) comes from submission_service, which owns it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

from litestar import Controller, Request, Response, get, post, put
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, RequestBody, Schema
from litestar.openapi.spec.operation import Operation
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter

from gateway.identity import admin_only, principal
from gateway.markdown import with_html
from gateway.problems import BODY_LIMIT, Problem
from gateway.state import GatewayState
from proto import hosting as ops
from proto.competition import to_toml
from proto.submissions import ListTasks, TaskList

# A document travels to submission_service in one NATS message, and its whole version comes back in one: both must
# stay well under NATS's default 1 MiB payload. A competition of dozens of tasks with long descriptions fits.
MAX_DOCUMENT_BYTES = 512 * 1024
TOML_MEDIA_TYPE = "application/toml"
MAX_VERSION = 2**31 - 1  # versions are PostgreSQL integers
# If-Match names one version, as the ETag gave it: "N", weakly W/"N", or bare N (what a hand-written curl sends).
# Applying a document or completing a ground-truth upload reads and checks the ground truth (up to 2 GiB, a model
# task's whole test set): far longer than an ordinary request may take.
CHECKING_TIMEOUT_S = 120.0
# Completing a program upload may run the program on the host's sample: its worker's start (importing pandas or
# scikit-learn on a busy core) and the run itself.
PROGRAM_CHECK_TIMEOUT_S = 300.0
_IF_MATCH = re.compile(r'^(?:W/)?"(\d{1,18})"$|^(\d{1,18})$')


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(if_match: str | None) -> int:
    """The version an edit was made from, read from its If-Match header: 428 without one, 400 for anything else."""
    if if_match is None:
        raise Problem(428, 'If-Match is required: send the version your edit starts from, as GET '
                           '/api/v1/admin/competition gave it in its ETag (e.g. If-Match: "3"), so that a change '
                           'someone made meanwhile is never overwritten')
    found = _IF_MATCH.match(if_match.strip())
    if found is None:
        raise Problem(400, 'If-Match must name one competition version, as "N", W/"N" or N (the ETag of GET '
                           f'/api/v1/admin/competition), got {if_match.strip()[:40]!r}')
    return int(found.group(1) or found.group(2))


def document_format(request: Request) -> Literal["toml", "json"]:
    """JSON for `application/json` (or any `+json` type), TOML for any other content type."""
    media_type = request.content_type[0].lower()
    return "json" if media_type == "application/json" or media_type.endswith("+json") else "toml"


def document_text(body: bytes) -> str:
    if not body.strip():
        raise Problem(400, "the body is empty: send the competition as TOML (any content type) or as JSON "
                           "(Content-Type: application/json)")
    try:
        return body.decode()
    except UnicodeDecodeError as bad:
        raise Problem(400, f"the document is not valid UTF-8 (byte {bad.start})") from None


async def limit_document_body(request: Request) -> None:
    """Before the body is read: a Content-Length over the limit is refused at once (413); a body without one
    (chunked) is counted as it arrives (`gateway.problems.GatewayRequest`)."""
    announced = request.headers.get("content-length")
    if announced is not None and announced.isdigit() and int(announced) > MAX_DOCUMENT_BYTES:
        raise Problem(413, f"the competition document may be at most {MAX_DOCUMENT_BYTES} bytes, got "
                           f"{int(announced)}")
    request.scope.setdefault("state", {})[BODY_LIMIT] = MAX_DOCUMENT_BYTES


@dataclass
class DocumentOperation(Operation):
    """OpenAPI for the PUT, whose body is read as text: a TOML file or the competition as JSON."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(required=True, description=(
            "The whole competition: a TOML file (as `podium admin competition show --toml` writes it; any content "
            "type but JSON) or, with `Content-Type: application/json`, the object "
            f'`{{"competition": {{...}}, "tasks": [...]}}`. At most {MAX_DOCUMENT_BYTES} bytes.'),
            content={TOML_MEDIA_TYPE: OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING)),
                     "application/json": OpenAPIMediaType(schema=Schema(type=OpenAPIType.OBJECT))})


async def participant_tasks(request: Request, state: GatewayState) -> TaskList:
    """The tasks as participants see them, descriptions rendered; a signed-in team also learns its quota left."""
    tasks = await state.services.call(ops.PUBLIC_COMPETITION, ListTasks(), actor=request.scope.get("user"))
    return with_html(tasks)


class CompetitionController(Controller):
    tags = ["competition"]

    @get("/api/v1/competition",
         summary="The competition as participants see it: each task's description (Markdown and safe HTML), expected "
                 "format, current phase and when it closes, whether it takes submissions (and why not), and for a "
                 "signed-in team its quota left today")
    async def competition(self, request: Request, state: GatewayState) -> TaskList:
        return await participant_tasks(request, state)


class AdminCompetitionController(Controller):
    tags = ["admin"]
    guards = [admin_only]

    @get("/api/v1/admin/competition",
         summary="The whole current competition with its version as the ETag, each task's scoring identity and its "
                 "scored submissions scored under an older one (`stale`); ?format=toml: as a TOML file to edit")
    async def document(self, request: Request, state: GatewayState,
                       as_format: Annotated[Literal["json", "toml"], QueryParameter(name="format")] = "json"
                       ) -> Response[ops.CompetitionDocument | str]:
        found = await state.services.call(ops.GET_COMPETITION, ops.GetCompetition(), actor=principal(request))
        headers = {"ETag": etag(found.version)}
        if as_format == "toml":
            headers["Content-Disposition"] = f'inline; filename="competition-v{found.version}.toml"'
            return Response(to_toml(found.competition), media_type=TOML_MEDIA_TYPE, headers=headers)
        return Response(found, headers=headers)

    @put("/api/v1/admin/competition", status_code=200, before_request=limit_document_body,
         request_max_body_size=2 * MAX_DOCUMENT_BYTES,  # a backstop: `limit_document_body` says it in words first
         operation_class=DocumentOperation,
         summary="Apply a new competition (TOML, or JSON with Content-Type: application/json). If-Match: the "
                 "version it was edited from (428 without; 412 with `current_version` when someone changed it "
                 "since). A document with a problem changes nothing: 422 naming its `task` and `field`; 409 for "
                 "removing a task that has submissions (archive it). ?dry_run=true: what would change, changing "
                 "nothing")
    async def apply(self, request: Request, state: GatewayState,
                    if_match: Annotated[str | None, HeaderParameter(name="If-Match", description=(
                        'The version the document was edited from: "N", W/"N" or N (the ETag of the GET)'))] = None,
                    dry_run: FromQuery[bool] = False) -> Response[ops.CompetitionApplied]:
        expected = expected_version(if_match)
        document = document_text(await request.body())
        applied = await state.services.call(ops.APPLY_COMPETITION, ops.ApplyCompetition(
            document=document, format=document_format(request), expected_version=expected, dry_run=dry_run),
            actor=principal(request), timeout_s=CHECKING_TIMEOUT_S)
        return Response(applied, headers={"ETag": etag(applied.version)})

    @get("/api/v1/admin/competition/versions", summary="Every version of the competition, newest first: who, when, "
                                                        "and what changed")
    async def versions(self, request: Request, state: GatewayState) -> ops.VersionList:
        return await state.services.call(ops.LIST_VERSIONS, ops.ListVersions(), actor=principal(request))

    @get("/api/v1/admin/competition/versions/{version:int}", summary="One version of the competition, whole")
    async def version(self, request: Request, state: GatewayState, version: FromPath[int]
                      ) -> Response[ops.CompetitionDocument]:
        if not 1 <= version <= MAX_VERSION:
            raise Problem(404, f"no competition version {version}: versions are numbered from 1")
        found = await state.services.call(ops.GET_COMPETITION, ops.GetCompetition(version=version),
                                          actor=principal(request))
        return Response(found, headers={"ETag": etag(found.version)})

    @post("/api/v1/admin/tasks/{task_id:str}/ground-truth", status_code=200,
          summary="Start a task's ground-truth upload: returns an upload id and a short-lived PUT URL (the body's "
                  "Content-Length must be size_bytes); then POST …/ground-truth/complete")
    async def start_ground_truth(self, request: Request, state: GatewayState, task_id: FromPath[str],
                                 data: JSONBody[ops.GroundTruthUpload]) -> ops.GroundTruthTicket:
        return await state.services.call(ops.START_GROUND_TRUTH, ops.StartGroundTruth(
            task_id=task_id, size_bytes=data.size_bytes, filename=data.filename, sha256=data.sha256),
            actor=principal(request))

    @post("/api/v1/admin/tasks/{task_id:str}/ground-truth/complete", status_code=200,
          summary="Finish a ground-truth upload: the file is checked against the task (members, shapes and dtypes; "
                  "a model task's test set) and becomes its ground truth in a new version; a file that does not fit "
                  "is refused (422 with the reason) and nothing changes")
    async def complete_ground_truth(self, request: Request, state: GatewayState, task_id: FromPath[str],
                                    data: JSONBody[ops.GroundTruthCompletion]) -> ops.CompetitionApplied:
        return await state.services.call(ops.COMPLETE_GROUND_TRUTH, ops.CompleteGroundTruth(
            task_id=task_id, upload_id=data.upload_id), actor=principal(request), timeout_s=CHECKING_TIMEOUT_S)

    @post("/api/v1/admin/tasks/{task_id:str}/program", status_code=200,
          summary="Start a program task's scoring-program upload (a .py file, or a .zip with score.py at its root; "
                  "optionally a sample submission to check it on): returns an upload id and short-lived PUT URLs "
                  "(each body's Content-Length must be its announced size); then POST …/program/complete")
    async def start_program(self, request: Request, state: GatewayState, task_id: FromPath[str],
                            data: JSONBody[ops.ProgramUpload]) -> ops.ProgramTicket:
        return await state.services.call(ops.START_PROGRAM, ops.StartProgram(
            task_id=task_id, size_bytes=data.size_bytes, filename=data.filename, sha256=data.sha256,
            sample=data.sample), actor=principal(request))

    @post("/api/v1/admin/tasks/{task_id:str}/program/complete", status_code=200,
          summary="Finish a program upload: the program is checked (a ZIP under the archive limits with score.py at "
                  "its root), run once on the sample against the task's ground truth when one was given, and becomes "
                  "the task's program in a new version (a new scoring identity: earlier scores are stale until a "
                  "rescore). A program that fails is refused (422 with the reason, the traceback, the missing module, "
                  "its output) and nothing changes")
    async def complete_program(self, request: Request, state: GatewayState, task_id: FromPath[str],
                               data: JSONBody[ops.ProgramCompletion]) -> ops.ProgramApplied:
        return await state.services.call(ops.COMPLETE_PROGRAM, ops.CompleteProgram(
            task_id=task_id, upload_id=data.upload_id), actor=principal(request), timeout_s=PROGRAM_CHECK_TIMEOUT_S)
