"""Request/reply contracts of the auth service (teams, admins, tokens, Q&A) and its Q&A events.

The gateway sends a request Struct to `rpc.auth.<operation>` and decodes `<Reply> | ServiceError`.
The verified `Principal` of a caller travels beside the request (`proto.rpc.Call`), never inside it; the service
re-checks role and ownership. Where the caller sends a body, that body's Struct (the gateway's HTTP body) is the
request, or a request Struct extends it with the ids from the path, so no field is declared twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from proto.events import TeamMember
from proto.rpc import AUTH_PREFIX, ActorNeed, Operation, Rep, Req

# --- tokens ------------------------------------------------------------------------------------


class LoginRequest(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    password: str


class RefreshRequest(msgspec.Struct, frozen=True, kw_only=True):
    refresh_token: str


class TokenPair(msgspec.Struct, frozen=True, kw_only=True, tag="token_pair"):
    access_token: str
    refresh_token: str
    expires_in: int
    account_id: str
    role: str
    token_version: int
    token_type: str = "bearer"


class JwksRequest(msgspec.Struct, frozen=True, kw_only=True):
    pass


class Jwks(msgspec.Struct, frozen=True, kw_only=True, tag="jwks"):
    keys: list[dict[str, str]]
    issuer: str
    audience: str


class RulesRequest(msgspec.Struct, frozen=True, kw_only=True):
    pass


class AccountRules(msgspec.Struct, frozen=True, kw_only=True, tag="account_rules"):
    """What auth_service accepts, for a form to show before anyone types (the service enforcing them says them)."""

    password_min_length: int
    password_max_length: int
    name_max_length: int
    team_max_size: int  # the largest size limit a team may be given
    default_team_max_size: int


# --- accounts and teams ------------------------------------------------------------------------


class TeamView(msgspec.Struct, frozen=True, kw_only=True, tag="team"):
    id: int
    name: str
    is_admin: bool = False
    members: list[TeamMember] = []
    max_size: int = 0
    disabled: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None


class TeamList(msgspec.Struct, frozen=True, kw_only=True, tag="team_list"):
    teams: list[TeamView]


class MeRequest(msgspec.Struct, frozen=True, kw_only=True):
    pass


class ListTeams(msgspec.Struct, frozen=True, kw_only=True):
    skip: int = 0
    limit: int = 300


class GetTeam(msgspec.Struct, frozen=True, kw_only=True):
    team_id: int


class NewTeam(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    password: str
    members: list[TeamMember] = []
    max_size: int | None = None


class TeamChanges(msgspec.Struct, frozen=True, kw_only=True):
    """Fields left `None` stay as they are. `max_size` and `disabled` are for admins only."""

    name: str | None = None
    password: str | None = None
    members: list[TeamMember] | None = None
    max_size: int | None = None
    disabled: bool | None = None


class UpdateTeam(TeamChanges, frozen=True, kw_only=True):
    team_id: int


class DeleteTeam(msgspec.Struct, frozen=True, kw_only=True):
    team_id: int


class Deleted(msgspec.Struct, frozen=True, kw_only=True, tag="deleted"):
    message: str


# Base64 in a JSON request grows it by a third; this keeps the request under NATS's 1 MiB payload limit
# with room to spare (and is still some ten thousand teams).
MAX_TEAMS_CSV_BYTES = 512 * 1024


class ImportTeamsCsv(msgspec.Struct, frozen=True, kw_only=True):
    csv: bytes


class ImportRow(msgspec.Struct, frozen=True, kw_only=True):
    line: int
    name: str
    status: str  # "created" | "refused"
    reason: str = ""
    team_id: int | None = None


class ImportReport(msgspec.Struct, frozen=True, kw_only=True, tag="import_report"):
    created: int
    refused: int
    rows: list[ImportRow]
    # The MLS-GOAT frontend's fields: created names and "Row N: reason" strings.
    teams: list[str] = []
    errors: list[str] = []
    updated: int = 0
    skipped: int = 0


class StatsRequest(msgspec.Struct, frozen=True, kw_only=True):
    pass


class IdentityStats(msgspec.Struct, frozen=True, kw_only=True, tag="identity_stats"):
    teams: int
    disabled_teams: int
    admins: int
    members: int
    questions: int
    unanswered_questions: int
    hidden_questions: int
    announcements: int


# --- Q&A ---------------------------------------------------------------------------------------


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    """An admin's answer, shaped like an MLS-GOAT answer so its frontend can show it."""

    id: int
    question_id: int
    content: str
    author_name: str
    author_is_admin: bool = True
    team_id: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None


class QuestionView(msgspec.Struct, frozen=True, kw_only=True, tag="question"):
    id: int
    team_id: int
    title: str
    content: str
    author_name: str
    author_is_admin: bool
    is_announcement: bool
    is_answered: bool
    hidden: bool
    answer: str | None
    answered_by: str | None
    answered_at: datetime | None
    created_at: datetime
    updated_at: datetime
    answer_count: int = 0
    latest_answers: list[Answer] = []


class QuestionList(msgspec.Struct, frozen=True, kw_only=True, tag="question_list"):
    questions: list[QuestionView]


class ListQuestions(msgspec.Struct, frozen=True, kw_only=True):
    skip: int = 0
    limit: int = 50


class GetQuestion(msgspec.Struct, frozen=True, kw_only=True):
    question_id: int


class NewQuestion(msgspec.Struct, frozen=True, kw_only=True):
    title: str
    content: str


class PostQuestion(NewQuestion, frozen=True, kw_only=True):
    """A team's question, or (from an admin with `announcement=True`) an announcement to everyone."""

    announcement: bool = False


class QuestionChanges(msgspec.Struct, frozen=True, kw_only=True):
    """Admins answer, edit and hide; the asking team may edit its own question until it is answered."""

    title: str | None = None
    content: str | None = None
    answer: str | None = None
    hidden: bool | None = None


class UpdateQuestion(QuestionChanges, frozen=True, kw_only=True):
    question_id: int


class DeleteQuestion(msgspec.Struct, frozen=True, kw_only=True):
    """Admins delete any question; the asking team its own while it is unanswered."""

    question_id: int


class DeleteAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """Admins remove a question's answer (its id is the question's: one answer per question)."""

    answer_id: int


# --- operations: subject, request type, reply type ------------------------------------------


def _auth(name: str, request: type[Req], reply: type[Rep], actor: ActorNeed = "required") -> Operation[Req, Rep]:
    return Operation(AUTH_PREFIX, name, request, reply, actor)


LOGIN = _auth("login", LoginRequest, TokenPair, "none")
REFRESH = _auth("refresh", RefreshRequest, TokenPair, "none")
JWKS = _auth("jwks", JwksRequest, Jwks, "none")
RULES = _auth("rules", RulesRequest, AccountRules, "none")
ME = _auth("me", MeRequest, TeamView)
LIST_TEAMS = _auth("teams.list", ListTeams, TeamList)
GET_TEAM = _auth("teams.get", GetTeam, TeamView)
CREATE_TEAM = _auth("teams.create", NewTeam, TeamView)
UPDATE_TEAM = _auth("teams.update", UpdateTeam, TeamView)
DELETE_TEAM = _auth("teams.delete", DeleteTeam, Deleted)
IMPORT_TEAMS = _auth("teams.import", ImportTeamsCsv, ImportReport)
STATS = _auth("stats", StatsRequest, IdentityStats)
LIST_QUESTIONS = _auth("qa.list", ListQuestions, QuestionList)
GET_QUESTION = _auth("qa.get", GetQuestion, QuestionView)
POST_QUESTION = _auth("qa.post", PostQuestion, QuestionView)
UPDATE_QUESTION = _auth("qa.update", UpdateQuestion, QuestionView)
DELETE_QUESTION = _auth("qa.delete", DeleteQuestion, Deleted)
DELETE_ANSWER = _auth("qa.answer_delete", DeleteAnswer, QuestionView)

OPERATIONS: tuple[Operation[Any, Any], ...] = (
    LOGIN, REFRESH, JWKS, RULES, ME, LIST_TEAMS, GET_TEAM, CREATE_TEAM, UPDATE_TEAM, DELETE_TEAM, IMPORT_TEAMS, STATS,
    LIST_QUESTIONS, GET_QUESTION, POST_QUESTION, UPDATE_QUESTION, DELETE_QUESTION, DELETE_ANSWER,
)

