"""Request/reply contracts of the competition's definition, served by submission_service (which owns it): what
participants may see of it, the whole versioned document for admins, applying a new one (TOML or JSON, guarded by
the version it was edited from), its history, and a task's ground-truth upload (presigned PUT, then `complete`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from proto.competition import Competition
from proto.rpc import ActorNeed, Operation, Rep, Req
from proto.submissions import SUBMISSIONS_PREFIX, ListTasks, TaskList


class GetCompetition(msgspec.Struct, frozen=True, kw_only=True):
    # 0: the current version.
    version: int = 0


class CompetitionDocument(msgspec.Struct, frozen=True, kw_only=True, tag="competition_document"):
    """A whole version, for admins; `stale` counts, per task, the scored submissions whose score was computed under
    an older scoring identity than the task's current one (a rescore brings them up to date)."""

    version: int
    competition: Competition
    created_at: datetime
    created_by: str
    changes: tuple[str, ...] = ()
    # Per task: its scoring identity now (derived) and its scored submissions scored under an older one.
    identities: dict[str, str] = {}
    stale: dict[str, int] = {}


class ApplyCompetition(msgspec.Struct, frozen=True, kw_only=True):
    """A new document, as text (`format` says how to read it). `expected_version`: the version it was edited from
    (an HTTP If-Match); another current version refuses it with 412. `dry_run`: say what would change, change
    nothing."""

    document: str
    format: Literal["toml", "json"] = "toml"
    expected_version: int | None = None
    dry_run: bool = False


class CompetitionApplied(msgspec.Struct, frozen=True, kw_only=True, tag="competition_applied"):
    """What an apply did (or, dry, would do): the version now current, and whether it is a new one."""

    version: int
    changed: bool
    changes: list[str]
    # Tasks whose scoring identity changed, and per task how many scored submissions that leaves stale.
    identity_changed: list[str] = []
    stale: dict[str, int] = {}
    dry_run: bool = False
    # Things that are allowed but worth a host's eye (e.g. a task without ground truth yet).
    notes: list[str] = []


class ListVersions(msgspec.Struct, frozen=True, kw_only=True):
    pass


class VersionSummary(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    created_at: datetime
    created_by: str
    changes: tuple[str, ...]


class VersionList(msgspec.Struct, frozen=True, kw_only=True, tag="competition_versions"):
    versions: list[VersionSummary]  # newest first


class GroundTruthUpload(msgspec.Struct, frozen=True, kw_only=True):
    """What a host says of the ground-truth file it is about to upload (`POST …/tasks/{task}/ground-truth`)."""

    size_bytes: int
    filename: str = ""
    sha256: str = ""  # optional: `complete` refuses a file whose digest differs


class StartGroundTruth(GroundTruthUpload, frozen=True, kw_only=True):
    task_id: str


class GroundTruthTicket(msgspec.Struct, frozen=True, kw_only=True, tag="ground_truth_ticket"):
    upload_id: str
    upload_url: str
    method: str
    expires_at: datetime
    max_bytes: int


class GroundTruthCompletion(msgspec.Struct, frozen=True, kw_only=True):
    upload_id: str


class CompleteGroundTruth(GroundTruthCompletion, frozen=True, kw_only=True):
    task_id: str


class SampleFile(msgspec.Struct, frozen=True, kw_only=True):
    """A sample submission the program is run on once before it is applied (`podium admin program put --sample`)."""

    size_bytes: int
    filename: str = ""
    sha256: str = ""


class ProgramUpload(msgspec.Struct, frozen=True, kw_only=True):
    """What a host says of the scoring program it is about to upload (`POST …/tasks/{task}/program`): a `.py`
    file or a `.zip` with score.py at its root, and optionally a sample submission to check it on."""

    size_bytes: int
    filename: str
    sha256: str = ""  # optional: `complete` refuses a file whose digest differs
    sample: SampleFile | None = None


class StartProgram(ProgramUpload, frozen=True, kw_only=True):
    task_id: str


class ProgramTicket(msgspec.Struct, frozen=True, kw_only=True, tag="program_ticket"):
    """Where to PUT the program (and the sample, when one was announced), each body exactly its announced size."""

    upload_id: str
    upload_url: str
    method: str
    expires_at: datetime
    max_bytes: int
    sample_upload_url: str = ""
    sample_max_bytes: int = 0


class ProgramCompletion(msgspec.Struct, frozen=True, kw_only=True):
    upload_id: str


class CompleteProgram(ProgramCompletion, frozen=True, kw_only=True):
    task_id: str


class ProgramApplied(CompetitionApplied, frozen=True, kw_only=True, tag="program_applied"):
    """A program put: the version it made (as an apply says it) and what the run on the sample gave, for the host
    (`checked` false: no sample was given, the program is stored unchecked)."""

    sha256: str = ""
    checked: bool = False
    # The sample's public values, and the tails of the program's stdout and stderr on it.
    public: dict[str, float] = {}
    stdout: str = ""
    stderr: str = ""


def _op(name: str, request: type[Req], reply: type[Rep], actor: ActorNeed = "required") -> Operation[Req, Rep]:
    return Operation(SUBMISSIONS_PREFIX, name, request, reply, actor)


PUBLIC_COMPETITION = _op("competition_public", ListTasks, TaskList, "optional")
GET_COMPETITION = _op("competition_get", GetCompetition, CompetitionDocument)
APPLY_COMPETITION = _op("competition_apply", ApplyCompetition, CompetitionApplied)
LIST_VERSIONS = _op("competition_versions", ListVersions, VersionList)
START_GROUND_TRUTH = _op("ground_truth_start", StartGroundTruth, GroundTruthTicket)
COMPLETE_GROUND_TRUTH = _op("ground_truth_complete", CompleteGroundTruth, CompetitionApplied)
START_PROGRAM = _op("program_start", StartProgram, ProgramTicket)
COMPLETE_PROGRAM = _op("program_complete", CompleteProgram, ProgramApplied)

OPERATIONS: tuple[Operation[Any, Any], ...] = (
    PUBLIC_COMPETITION, GET_COMPETITION, APPLY_COMPETITION, LIST_VERSIONS, START_GROUND_TRUTH,
    COMPLETE_GROUND_TRUTH, START_PROGRAM, COMPLETE_PROGRAM,
)
