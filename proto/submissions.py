"""Request/reply contracts of the submission service and its live status event (core NATS)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import msgspec

from proto.competition import Phase
from proto.events import Event
from proto.rpc import ActorNeed, Operation, Rep, Req
from proto.subjects import token

SUBMISSIONS_PREFIX = "rpc.submissions"
# Upload statuses, in order; the last five are terminal. `cancelled` also ends a scored submission an admin withdrew
# from the boards (its reason says so).
STATUSES = ("awaiting_upload", "received", "scoring", "scored", "failed", "rejected", "expired", "cancelled")
TERMINAL = frozenset({"scored", "failed", "rejected", "expired", "cancelled"})
# What a team (or an admin) may still cancel.
CANCELLABLE = frozenset({"awaiting_upload", "received", "scoring"})


class TaskColumn(msgspec.Struct, frozen=True, kw_only=True):
    """A column of a task's boards as participants read it (`GET /api/v1/tasks`): its header, the metric it shows
    and how it ranks. A hidden column is listed to admins only."""

    header: str
    metric: str
    # desc: higher is better; asc: lower is better.
    direction: str
    # What the metric measures, in words (`proto.metrics.METRIC_INFO`).
    definition: str
    # Digits shown after the decimal point.
    precision: int = 4
    primary: bool = False
    tie_break: bool = False
    hidden: bool = False


class TaskInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A task as participants see it (`GET /api/v1/tasks`, `GET /api/v1/competition`): how to submit, the phase
    now and when it closes, and (for a signed-in team) the quota left today."""

    id: str
    title: str
    kind: str
    metric: str
    sort: str
    daily_quota: int
    max_upload_bytes: int
    aliases: tuple[str, ...]
    samples: int
    sample_names: list[str]
    shape: tuple[int, ...]
    phases: tuple[Phase, ...]
    scorer_version: str
    # How many submissions a team may choose for the private board (`PUT /api/v1/tasks/{task}/finals`).
    final_submissions: int = 2
    # Markdown, as the host wrote it (the gateway adds `description_html`, rendered without any HTML passing).
    description: str = ""
    description_html: str = ""
    # What to upload, in one sentence.
    expected_format: str = ""
    archived: bool = False
    has_ground_truth: bool = False
    # Whether the task takes submissions now, and if not, why (no open phase, no ground truth yet, archived).
    accepting: bool = True
    not_accepting_reason: str = ""
    current_phase: Phase | None = None
    # When the current phase closes (None: it never does), or when the next one opens while none is open.
    closes_at: datetime | None = None
    next_opens_at: datetime | None = None
    # The calling team's submissions left today (None for an anonymous caller or an admin).
    quota_left: int | None = None
    # The boards' columns, the primary one first (hidden ones for admins only).
    columns: list[TaskColumn] = []


class TaskList(msgspec.Struct, frozen=True, kw_only=True, tag="task_list"):
    competition: str
    tasks: list[TaskInfo]
    # The competition version these tasks come from.
    version: int = 0


class ListTasks(msgspec.Struct, frozen=True, kw_only=True):
    pass


class NewUpload(msgspec.Struct, frozen=True, kw_only=True):
    """What a team says of the file it is about to upload (the body of `POST /api/v1/submissions`)."""

    task_id: str
    filename: str
    size_bytes: int
    # Optional: when given, `complete` refuses an object whose digest differs.
    sha256: str = ""
    # Optional: the file's media type as the client declared it (a multipart part's Content-Type).
    content_type: str = ""


class StartUpload(NewUpload, frozen=True, kw_only=True):
    # MLS-GOAT's `submit.py` asks for a batch size (1 to MAX_BATCH_SIZE) for a model: recorded with the submission;
    # the scorer runs the task's own `model.batch_size`, so every team's timings are measured alike.
    batch_size: int | None = None


# The batch sizes MLS-GOAT's GPU server accepted.
MAX_BATCH_SIZE = 32


class UploadTicket(msgspec.Struct, frozen=True, kw_only=True, tag="upload_ticket"):
    submission_id: int
    upload_url: str
    method: str
    expires_at: datetime
    max_bytes: int
    quota_left: int
    # The submission's id on the anonymous status route (`<id>-<key>`): only the submitter receives it.
    status_id: str = ""


class UploadCompletion(msgspec.Struct, frozen=True, kw_only=True):
    sha256: str = ""  # optional: when given, an object whose digest differs is refused


class CompleteUpload(UploadCompletion, frozen=True, kw_only=True):
    submission_id: int


class SubmissionView(msgspec.Struct, frozen=True, kw_only=True, tag="submission"):
    id: int
    team_id: int
    task_id: str
    phase_id: str
    filename: str
    status: str
    scorer_version: str
    public_score: float | None
    private_score: float | None
    reason: str | None
    size_bytes: int | None
    sha256: str | None
    timestamp: datetime
    scored_at: datetime | None
    metrics: dict[str, float] = {}
    # MLS-GOAT's frontend shows `details` as a JSON string.
    details: str = "{}"
    # While queued: its place in its scorer pool's queue (1 = next) and the expected seconds until its score.
    queue_position: int | None = None
    eta_s: float | None = None


class SubmissionList(msgspec.Struct, frozen=True, kw_only=True, tag="submission_list"):
    submissions: list[SubmissionView]


class ListSubmissions(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str = ""
    limit: int = 200


class GetSubmission(msgspec.Struct, frozen=True, kw_only=True):
    submission_id: int


class SubmissionDetails(msgspec.Struct, frozen=True, kw_only=True, tag="submission_details"):
    """What the scorer wrote beside the score: per-sample PSNR (CPU tasks) or the confusion matrix, ROC points
    and latency (model tasks). A team never sees values of the hidden private split."""

    submission_id: int
    details: dict[str, Any]


class ListQueues(msgspec.Struct, frozen=True, kw_only=True):
    pass


class ScorerQueue(msgspec.Struct, frozen=True, kw_only=True):
    """One scorer pool's queue, from its JetStream consumer and the submissions' own timestamps."""

    kind: str
    consumer: str
    queued: int  # accepted submissions waiting for a scorer
    pending: int  # jobs JetStream has not yet delivered (rescores included)
    in_flight: int  # delivered, not yet acknowledged
    redeliveries: int  # delivered more than once and still unacknowledged
    workers_alive: int  # scorer workers asking for jobs or holding one
    scored_last_5_min: int
    throughput_per_min: float  # outcomes per minute over the last 15 minutes
    average_scoring_s: float | None  # of the last 20 scored submissions


class QueueList(msgspec.Struct, frozen=True, kw_only=True, tag="queues"):
    queues: list[ScorerQueue]


class LogLine(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    level: str
    line: str
    # A scoring program's own output (its stdout and stderr): only admins are ever sent such a line.
    host_only: bool = False


class JobLog(msgspec.Struct, frozen=True, kw_only=True, tag="job_log"):
    """The last lines the scorers wrote about a submission, oldest first (a team's reply leaves out the lines for the
    host only)."""

    submission_id: int
    lines: list[LogLine]


class SubmissionStatsRequest(msgspec.Struct, frozen=True, kw_only=True):
    pass


class Count(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    count: int


class SubmissionStats(msgspec.Struct, frozen=True, kw_only=True, tag="submission_stats"):
    """What an admin watches during a competition (times over the scored submissions, in seconds)."""

    submissions: int
    by_status: dict[str, int]
    by_task: dict[str, dict[str, int]]
    per_hour: list[Count]  # the last 24 hours, oldest first (key: the hour, ISO 8601)
    failure_reasons: list[Count]  # most frequent first; numbers in reasons are folded into "N"
    scoring_time_median_s: float | None
    scoring_time_p95_s: float | None
    queues: list[ScorerQueue]


class QueuePlace(msgspec.Struct, frozen=True, kw_only=True):
    submission_id: int
    team_id: int
    queue_position: int
    eta_s: float | None = None


class QueueMoved(Event, frozen=True, tag="submission.queue.v2"):
    """The first places of a scorer pool's queue after it changed (core NATS: live pushes only). One message per
    change of a pool, not one per place: the gateway passes each team its own submissions' places."""

    persisted: ClassVar[bool] = False

    kind: str
    places: tuple[QueuePlace, ...]

    def subject(self) -> str:
        return f"live.queue.{token(self.kind)}"

    def msg_id(self) -> str:
        return f"queue:{self.kind}:{self.event_id}"


class ListAllSubmissions(msgspec.Struct, frozen=True, kw_only=True):
    """Every team's submissions, newest first (admins only)."""

    task_id: str = ""
    skip: int = 0
    limit: int = 200


class PublicStatusRequest(msgspec.Struct, frozen=True, kw_only=True):
    """MLS-GOAT's anonymous status poll: `status_id` is the `<id>-<key>` only the submitter received."""

    task_id: str
    status_id: str


class PublicStatus(msgspec.Struct, frozen=True, kw_only=True, tag="public_status"):
    """What anyone holding a submission's status id may read: its state, its public score and how the model ran.
    Never a private value, never the team, never a reason that names anyone."""

    status: str
    public_score: float | None = None
    error: str | None = None
    queue_position: int | None = None
    queue_length: int = 0
    size_bytes: int | None = None
    batch_size: int | None = None
    scoring_s: float | None = None
    throughput_samples_per_s: float | None = None
    latency_p50_ms: float | None = None


def _op(name: str, request: type[Req], reply: type[Rep], actor: ActorNeed = "required") -> Operation[Req, Rep]:
    return Operation(SUBMISSIONS_PREFIX, name, request, reply, actor)


LIST_TASKS = _op("tasks", ListTasks, TaskList, "optional")
START_UPLOAD = _op("start", StartUpload, UploadTicket)
COMPLETE_UPLOAD = _op("complete", CompleteUpload, SubmissionView)
LIST_SUBMISSIONS = _op("list", ListSubmissions, SubmissionList)
GET_SUBMISSION = _op("get", GetSubmission, SubmissionView)
GET_DETAILS = _op("details", GetSubmission, SubmissionDetails)
CANCEL = _op("cancel", GetSubmission, SubmissionView)
LIST_QUEUES = _op("queues", ListQueues, QueueList, "none")
STATS = _op("stats", SubmissionStatsRequest, SubmissionStats)
GET_LOG = _op("log", GetSubmission, JobLog)
ADMIN_LIST = _op("admin_list", ListAllSubmissions, SubmissionList)
# Admins: a queued or running submission is cancelled; a scored one is withdrawn from the boards (kept, audited).
WITHDRAW = _op("withdraw", GetSubmission, SubmissionView)
PUBLIC_STATUS = _op("public_status", PublicStatusRequest, PublicStatus, "none")

class SubmissionStatusChanged(Event, frozen=True, tag="submission.status.v1"):
    """A submission's status changed (core NATS: for live pushes and `?wait=`, not persisted)."""

    persisted: ClassVar[bool] = False

    submission_id: int
    team_id: int
    status: str

    def subject(self) -> str:
        return live_submission(str(self.team_id), str(self.submission_id))

    def msg_id(self) -> str:
        return f"status:{self.submission_id}:{self.status}"


def live_submission(team_id: str, submission_id: str) -> str:
    return f"live.submission.{token(team_id)}.{token(submission_id)}"


class RescoreScope(msgspec.Struct, frozen=True, kw_only=True):
    """Rescore a task's submissions (all, a time range, or given ids) under a new scorer version."""

    task_id: str
    scorer_version: str = ""
    submitted_after: datetime | None = None
    submitted_before: datetime | None = None
    submission_ids: list[int] = []


class RescoreStarted(msgspec.Struct, frozen=True, kw_only=True, tag="rescore_started"):
    rescore_id: str
    task_id: str
    scorer_version: str
    submissions: int


START_RESCORE = _op("rescore", RescoreScope, RescoreStarted)


class GetQuota(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str


class Quota(msgspec.Struct, frozen=True, kw_only=True, tag="quota"):
    """A team's submissions to a task today (UTC), what is left, when it resets and which submissions count."""

    task_id: str
    daily_quota: int
    used: int
    left: int
    resets_at: datetime
    rule: str


GET_QUOTA = _op("quota", GetQuota, Quota)

OPERATIONS: tuple[Operation[Any, Any], ...] = (
    LIST_TASKS, START_UPLOAD, COMPLETE_UPLOAD, LIST_SUBMISSIONS, GET_SUBMISSION, GET_DETAILS, CANCEL, LIST_QUEUES,
    STATS, GET_LOG, ADMIN_LIST, WITHDRAW, PUBLIC_STATUS, START_RESCORE, GET_QUOTA,
)
