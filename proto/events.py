"""The events Podium's services exchange: tagged, versioned msgspec Structs.

Evolution rules (see STYLE.md): add fields only with defaults, never change a field's type, never forbid
unknown fields; a breaking change is a new Struct with a new tag (`....v2`) decoded beside the old one.
Events carry ids, object keys and digests — never tensors or models.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import ClassVar, Literal

import msgspec

from proto.subjects import (
    BOARD_FINALS_SELECTED,
    BOARD_PRIVATE_REVEALED,
    BOARD_TEAM_STANDING,
    COMPETITION_CHANGED,
    RESCORE_REQUESTED,
    TEAM_CREATED,
    TEAM_DELETED,
    TEAM_UPDATED,
    job_log,
    job_progress,
    leaderboard_updated,
    qa_question,
    score_cancelled,
    score_computed,
    score_failed,
    submission_received,
    submission_rejected,
)

SubmissionKind = Literal["cpu", "gpu"]


def _new_event_id() -> str:
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """The envelope every event shares; subclasses add the payload and a versioned tag."""

    event_id: str = msgspec.field(default_factory=_new_event_id)
    occurred_at: datetime = msgspec.field(default_factory=_now)
    # Ties every event of one submission (or one admin action) together across services.
    correlation_id: str = ""

    # Where the event is published; filled in by each subclass (see `subject()`).
    persisted: ClassVar[bool] = True

    def subject(self) -> str:
        raise NotImplementedError

    @classmethod
    def subject_pattern(cls) -> str:
        """The subject with each field it is built from shown as `{field}` (an AsyncAPI channel address):
        `subject()` is run on placeholders that are valid subject tokens, which are then renamed."""
        placeholders = SimpleNamespace(**{name: f"__{name}__" for name in cls.__struct_fields__})
        return re.sub(r"__([a-z_]+?)__", r"{\1}", cls.subject(placeholders))  # type: ignore[arg-type]

    def msg_id(self) -> str:
        """The `Nats-Msg-Id`: derived from the event's identity, so a re-publish is deduplicated."""
        raise NotImplementedError


# --- submissions -------------------------------------------------------------------------------


class SubmissionReceived(Event, frozen=True, tag="submission.received.v1"):
    """An accepted submission whose object is in storage, ready to be scored under `scorer_version`."""

    submission_id: str
    team_id: str
    task_id: str
    kind: SubmissionKind
    object_key: str
    sha256: str
    size_bytes: int
    submitted_at: datetime
    scorer_version: str
    phase_id: str = ""
    # Set when this is a re-publish for a rescore; the original submission's event has none.
    rescore_id: str = ""
    # The competition version in use when the submission (or the rescore) was accepted: a scorer scores under
    # this version or a newer one, never an older one it might still hold.
    competition_version: int = 0

    def subject(self) -> str:
        return submission_received(self.kind, self.task_id)

    def msg_id(self) -> str:
        # The scorer version is part of the identity: a rescore under a new version is a new message,
        # while the outbox relay's or the reconciler's re-publish of the same one is dropped.
        return f"submission:{self.submission_id}:{self.scorer_version}"


class SubmissionRejected(Event, frozen=True, tag="submission.rejected.v1"):
    """A submission refused before scoring (bad object, size mismatch, quota), with a readable reason."""

    submission_id: str
    team_id: str
    task_id: str
    reason: str

    def subject(self) -> str:
        return submission_rejected(self.task_id)

    def msg_id(self) -> str:
        return f"submission-rejected:{self.submission_id}"


class RescoreRequested(Event, frozen=True, tag="submission.rescore.requested.v1"):
    """An admin asked to rescore: by task, time range or ids (empty filters mean "all")."""

    rescore_id: str
    requested_by: str
    scorer_version: str
    task_id: str = ""
    submitted_after: datetime | None = None
    submitted_before: datetime | None = None
    submission_ids: tuple[str, ...] = ()

    def subject(self) -> str:
        return RESCORE_REQUESTED

    def msg_id(self) -> str:
        return f"rescore:{self.rescore_id}"


# --- scores ------------------------------------------------------------------------------------


class ScoreComputed(Event, frozen=True, tag="score.computed.v1"):
    """A submission's score under one scorer version: public and private split means plus provenance."""

    submission_id: str
    team_id: str
    task_id: str
    scorer_version: str
    public_score: float
    private_score: float
    submitted_at: datetime
    phase_id: str = ""
    # Every metric the scorer computed, by name (e.g. {"psnr_public": 31.2, "psnr_private": 30.9}).
    metrics: dict[str, float] = msgspec.field(default_factory=dict)
    # Per-sample values and plots live in object storage, never in the event.
    details_key: str = ""
    archive_sha256: str = ""
    ground_truth_sha256: str = ""
    durations_ms: dict[str, float] = msgspec.field(default_factory=dict)
    # What the score was computed under: the competition version the scorer used and that version's scoring
    # identity of the task (`Task.scorer_version`); a later definition with another identity makes it stale.
    competition_version: int = 0
    identity: str = ""
    # Every board column's value (`Task.columns`, by header) on the public and the private split; `public_score` and
    # `private_score` are the primary column's. Empty in events from before columns: the primary alone.
    public_columns: dict[str, float] = msgspec.field(default_factory=dict)
    private_columns: dict[str, float] = msgspec.field(default_factory=dict)

    def subject(self) -> str:
        return score_computed(self.task_id)

    def msg_id(self) -> str:
        return f"score:{self.submission_id}:{self.scorer_version}"


class ScoreFailed(Event, frozen=True, tag="score.failed.v1"):
    """A submission that could not be scored; `reason` is written for the participant to read."""

    submission_id: str
    team_id: str
    task_id: str
    scorer_version: str
    reason: str
    # True when the platform, not the participant, was at fault (the scorer retries it first).
    infrastructure: bool = False
    phase_id: str = ""

    def subject(self) -> str:
        return score_failed(self.task_id)

    def msg_id(self) -> str:
        # Same identity as ScoreComputed: one outcome per submission and scorer version.
        return f"score:{self.submission_id}:{self.scorer_version}"


class SubmissionCancelled(Event, frozen=True, tag="submission.cancelled.v1"):
    """A submission its team or an admin cancelled before it had an outcome, or (`withdrawn`) a scored one an admin
    took off the boards. It is the submission's outcome, so it goes on the SCORES stream (`score.cancelled.<task>`):
    whoever reads outcomes (its status, the board, a rebuild) sees it in order with the scores, and its score — one
    that still arrives afterwards, or the one it already had — no longer counts."""

    submission_id: str
    team_id: str
    task_id: str
    scorer_version: str
    cancelled_by: str
    by_admin: bool = False
    phase_id: str = ""
    withdrawn: bool = False

    def subject(self) -> str:
        return score_cancelled(self.task_id)

    def msg_id(self) -> str:
        return f"{'withdraw' if self.withdrawn else 'cancel'}:{self.submission_id}"


class ScoreProgress(Event, frozen=True, tag="score.progress.v1"):
    """How far a running job is (core NATS only: not persisted, not replayed)."""

    persisted: ClassVar[bool] = False

    submission_id: str
    team_id: str
    done: int
    total: int
    message: str = ""

    def subject(self) -> str:
        return job_progress(self.submission_id)

    def msg_id(self) -> str:
        return f"progress:{self.submission_id}:{self.done}"


class JobLogged(Event, frozen=True, tag="job.log.v1"):
    """One line of a scorer's log about a submission (core NATS: submission_service keeps the last lines, the
    gateway streams them to the team). Scorers write only what the team may read: never ground truth, never
    values of the hidden private split."""

    persisted: ClassVar[bool] = False

    submission_id: str
    team_id: str
    line: str
    level: str = "info"
    # A line for the host only (a scoring program's stdout and stderr): kept with the submission's log for admins,
    # never sent to its team.
    host_only: bool = False

    def subject(self) -> str:
        return job_log(self.submission_id)

    def msg_id(self) -> str:
        return f"log:{self.event_id}"


# --- teams -------------------------------------------------------------------------------------


class TeamMember(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    email: str = ""


class TeamCreated(Event, frozen=True, tag="team.created.v1"):
    team_id: str
    name: str
    members: tuple[TeamMember, ...] = ()
    revision: int = 1
    # Who made the change (an admin's or the team's name), for the audit trail.
    actor: str = ""

    def subject(self) -> str:
        return TEAM_CREATED

    def msg_id(self) -> str:
        return f"team:{self.team_id}:{self.revision}"


class TeamUpdated(Event, frozen=True, tag="team.updated.v1"):
    """A team's new state; `revision` grows by one per change so each update has its own Msg-Id."""

    team_id: str
    name: str
    revision: int
    members: tuple[TeamMember, ...] = ()
    # A disabled team cannot log in; its submissions stay (the leaderboard decides what to show).
    disabled: bool = False
    actor: str = ""

    def subject(self) -> str:
        return TEAM_UPDATED

    def msg_id(self) -> str:
        return f"team:{self.team_id}:{self.revision}"


class TeamDeleted(Event, frozen=True, tag="team.deleted.v1"):
    team_id: str
    revision: int
    actor: str = ""

    def subject(self) -> str:
        return TEAM_DELETED

    def msg_id(self) -> str:
        return f"team:{self.team_id}:{self.revision}"


# --- Q&A ---------------------------------------------------------------------------------------


class QuestionChanged(Event, frozen=True, tag="qa.question.changed.v1"):
    """A question was posted, answered, edited, hidden, announced or deleted, or its answer removed (for live
    pushes and the audit trail)."""

    question_id: int
    team_id: int
    change: str  # posted | announced | answered | edited | hidden | shown | unanswered | deleted
    revision: int
    visible_to_all: bool
    actor: str = ""

    def subject(self) -> str:
        return qa_question(self.change)

    def msg_id(self) -> str:
        return f"question:{self.question_id}:{self.revision}"


# --- board administration (hide/disqualify, reveal, final selection) ------------------------------


class TeamStandingChanged(Event, frozen=True, tag="board.team.standing.v1"):
    """An admin hid a team from the public boards or disqualified it (from every board), or undid it."""

    team_id: str
    hidden: bool
    disqualified: bool
    revision: int
    actor: str
    reason: str = ""

    def subject(self) -> str:
        return BOARD_TEAM_STANDING

    def msg_id(self) -> str:
        return f"standing:{self.team_id}:{self.revision}"


class PrivateBoardRevealed(Event, frozen=True, tag="board.private.revealed.v1"):
    """An admin showed (or hid again) a task's private board to everyone."""

    task_id: str
    revealed: bool
    revision: int
    actor: str

    def subject(self) -> str:
        return BOARD_PRIVATE_REVEALED

    def msg_id(self) -> str:
        return f"reveal:{self.task_id}:{self.revision}"


class FinalsSelected(Event, frozen=True, tag="board.finals.selected.v1"):
    """A team chose which of its submissions count for the private board (empty: its best public ones)."""

    team_id: str
    task_id: str
    submission_ids: tuple[str, ...]
    revision: int
    actor: str

    def subject(self) -> str:
        return BOARD_FINALS_SELECTED

    def msg_id(self) -> str:
        return f"finals:{self.team_id}:{self.task_id}:{self.revision}"


# --- leaderboard -------------------------------------------------------------------------------


class LeaderboardUpdated(Event, frozen=True, tag="leaderboard.updated.v1"):
    """A task's board changed; the board itself is in the KV bucket under `kv_key` (core NATS only)."""

    persisted: ClassVar[bool] = False

    task_id: str
    revision: int
    kv_key: str
    phase_id: str = ""

    def subject(self) -> str:
        return leaderboard_updated(self.task_id)

    def msg_id(self) -> str:
        return f"leaderboard:{self.task_id}:{self.phase_id}:{self.revision}"


# --- the competition ---------------------------------------------------------------------------


class CompetitionChanged(Event, frozen=True, tag="competition.changed.v1"):
    """A new version of the competition definition (the whole document is in the `competition` KV bucket and in
    submission_service's history; the event names the version, who made it and what changed)."""

    version: int
    changed_by: str
    changes: tuple[str, ...] = ()
    # Tasks whose scoring identity changed: their earlier scores are stale until rescored.
    identity_changed: tuple[str, ...] = ()

    def subject(self) -> str:
        return COMPETITION_CHANGED

    def msg_id(self) -> str:
        return f"competition:{self.version}"


AnyEvent = (
    SubmissionReceived
    | SubmissionRejected
    | RescoreRequested
    | ScoreComputed
    | ScoreFailed
    | SubmissionCancelled
    | ScoreProgress
    | JobLogged
    | TeamCreated
    | TeamUpdated
    | TeamDeleted
    | QuestionChanged
    | TeamStandingChanged
    | PrivateBoardRevealed
    | FinalsSelected
    | LeaderboardUpdated
    | CompetitionChanged
)

EVENT_TYPES: tuple[type[Event], ...] = (
    SubmissionReceived,
    SubmissionRejected,
    RescoreRequested,
    ScoreComputed,
    ScoreFailed,
    SubmissionCancelled,
    ScoreProgress,
    JobLogged,
    TeamCreated,
    TeamUpdated,
    TeamDeleted,
    QuestionChanged,
    TeamStandingChanged,
    PrivateBoardRevealed,
    FinalsSelected,
    LeaderboardUpdated,
    CompetitionChanged,
)
