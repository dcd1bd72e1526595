"""Leaderboards from the gateway's in-memory copy (MLS-GOAT's `/leaderboard/{task}` and `/api/v1`), CSV
export, the board at a past moment, and the decisions about boards: hide/disqualify, reveal, finals."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from gateway.board_views import column_headers, for_viewer
from gateway.csv_export import to_csv
from gateway.goat_paths import goat_paths
from gateway.identity import admin_only, principal, signed_in
from gateway.problems import Problem
from gateway.state import GatewayState
from proto import leaderboard as ops
from proto import submissions as submission_ops
from proto.rpc import Principal


class GoatEntry(msgspec.Struct, frozen=True):
    """MLS-GOAT's leaderboard line, plus what Podium adds."""

    team_name: str
    score: float
    rank: int
    private_score: float | None
    details: str | None
    team_id: str
    submissions: int
    last_submission_at: datetime
    rank_change: int | None
    highlighted: bool
    # Every column the viewer may see, by header (`score` is the primary one's); the private values once revealed
    # (and for admins), else null.
    columns: dict[str, float] = {}
    private_columns: dict[str, float] | None = None


class BoardView(msgspec.Struct, frozen=True):
    task_id: str
    revision: int
    sort: str
    private_revealed: bool
    public: list[ops.Entry]
    private: list[ops.Entry] | None
    # The columns of the board the viewer may see, in display order (the primary one first): a line's `columns`
    # holds their values by header.
    columns: list[ops.BoardColumn] = []


async def task_id_of(state: GatewayState, name: str) -> str:
    """A task id from its id or MLS-GOAT alias (e.g. "task1"), in the competition version this process uses (followed
    from the `competition` bucket): every gateway process and replica resolves a name alike, and a task or alias a new
    version adds is known as soon as that version is, with nothing kept to forget."""
    if state.boards.get(name) is not None:
        return name  # a task id with a board
    task = state.competition.current.task(name)
    if task is None:
        raise Problem(404, f"no task {name!r}")
    return task.id


def _viewer(request: Request) -> Principal | None:
    return request.scope.get("user")


def _admin(request: Request) -> bool:
    viewer = _viewer(request)
    return viewer is not None and viewer.is_admin


async def current(state: GatewayState, name: str, request: Request) -> tuple[int, ops.Board]:
    """The task's board as the request's viewer may see it (hidden columns for admins only)."""
    found = state.boards.get(await task_id_of(state, name))
    if found is None:
        raise Problem(503, "the board is not loaded yet; try again in a moment", headers={"Retry-After": "1"})
    revision, board = found
    return revision, for_viewer(board, _admin(request))


def _private_visible(request: Request, board: ops.Board) -> bool:
    viewer = _viewer(request)
    return board.private_revealed or (viewer is not None and viewer.is_admin)


class LeaderboardController(Controller):
    tags = ["leaderboard"]

    @get(goat_paths("/leaderboard/{task:str}"), summary="MLS-GOAT's board: ranked teams; ?team_name= highlights one")
    async def goat_board(self, request: Request, state: GatewayState, task: FromPath[str],
                         team_name: FromQuery[str] = "") -> list[GoatEntry]:
        _, board = await current(state, task, request)
        private = {e.team_id: e for e in board.private} if _private_visible(request, board) else {}
        return [
            GoatEntry(team_name=e.team_name, score=e.score, rank=e.rank,
                      private_score=mine.score if (mine := private.get(e.team_id)) else None,
                      details=None, team_id=e.team_id, submissions=e.submissions,
                      last_submission_at=e.last_submission_at, rank_change=e.rank_change,
                      highlighted=bool(team_name) and e.team_name == team_name, columns=e.columns,
                      private_columns=mine.columns if mine else None)
            for e in board.public
        ]

    @get("/api/v1/leaderboards/{task:str}",
         summary="A task's board; the private board for admins or once revealed; ?at= for a past moment")
    async def board(self, request: Request, state: GatewayState, task: FromPath[str],
                    at: FromQuery[datetime | None] = None) -> BoardView:
        if at is not None:
            snapshot = await state.services.call(
                ops.BOARD_AT, ops.BoardAt(task_id=await task_id_of(state, task), at=at), actor=_viewer(request))
            past = for_viewer(msgspec.convert(snapshot.board, ops.Board), _admin(request))
            return BoardView(past.task_id, 0, past.sort, past.private_revealed, past.public,
                             past.private if past.private else None, past.columns)
        revision, board = await current(state, task, request)
        return BoardView(board.task_id, revision, board.sort, board.private_revealed, board.public,
                         board.private if _private_visible(request, board) else None, board.columns)

    @get("/api/v1/leaderboards/{task:str}/export.csv", summary="The board as CSV (private columns for admins)")
    async def export(self, request: Request, state: GatewayState, task: FromPath[str]) -> Response[str]:
        _, board = await current(state, task, request)
        private = {e.team_id: e for e in board.private} if _private_visible(request, board) else None
        headers = column_headers(board)
        header = ["rank", "team_id", "team_name", "score", "submission_id", "submitted_at", "submissions"]
        if private is not None:
            header += ["private_rank", "private_score"]
        header += headers + ([f"private {name}" for name in headers] if private is not None else [])
        rows = []
        for e in board.public:
            row = [e.rank, e.team_id, e.team_name, e.score, e.submission_id, e.submitted_at.isoformat(),
                   e.submissions]
            mine = private.get(e.team_id) if private is not None else None
            if private is not None:
                row += [mine.rank, mine.score] if mine else ["", ""]
            row += [e.columns.get(name, "") for name in headers]
            if private is not None:
                row += [mine.columns.get(name, "") if mine else "" for name in headers]
            rows.append(row)
        text = to_csv(header, rows)
        return Response(text, media_type="text/csv",
                        headers={"content-disposition": f'attachment; filename="{board.task_id}-leaderboard.csv"'})

    @put("/api/v1/tasks/{task:str}/finals", guards=[signed_in], summary="Choose the submissions that count "
         "for the private board (empty: the best public ones)")
    async def finals(self, request: Request, state: GatewayState, task: FromPath[str], data: JSONBody[ops.FinalsChoice]
                     ) -> ops.Accepted:
        return await state.services.call(
            ops.SELECT_FINALS, ops.SelectFinals(task_id=await task_id_of(state, task), **msgspec.structs.asdict(data)),
            actor=principal(request))


class BoardAdminController(Controller):
    tags = ["admin"]
    guards = [admin_only]

    @post("/api/v1/admin/teams/{team_id:int}/standing", status_code=200,
          summary="Hide a team from the public boards or disqualify it (or undo; a flag left out keeps its "
          "value); audited")
    async def standing(self, request: Request, state: GatewayState, team_id: FromPath[int],
                       data: JSONBody[ops.StandingDecision]) -> ops.StandingAccepted:
        return await state.services.call(
            ops.SET_STANDING, ops.SetStanding(team_id=team_id, **msgspec.structs.asdict(data)),
            actor=principal(request))

    @get("/api/v1/admin/standings", summary="Every hidden or disqualified team, with the latest decision's reason, "
         "who took it and when (a team not listed stands on every board)")
    async def standings(self, request: Request, state: GatewayState) -> list[ops.TeamStanding]:
        reply = await state.services.call(ops.LIST_STANDINGS, ops.ListStandings(), actor=principal(request))
        return reply.teams

    @post("/api/v1/admin/leaderboards/{task:str}/reveal", status_code=200,
          summary="Show the private board to everyone (or hide it again); audited")
    async def reveal(self, request: Request, state: GatewayState, task: FromPath[str],
                     data: JSONBody[ops.RevealDecision]) -> ops.Accepted:
        return await state.services.call(
            ops.SET_REVEAL, ops.SetReveal(task_id=await task_id_of(state, task), **msgspec.structs.asdict(data)),
            actor=principal(request))

    @get(["/api/v1/admin/audit", "/api/v1/admin/board-audit"],
         summary="The audit trail, newest first: who created, changed or deleted teams, hid or disqualified, "
                 "revealed, rescored, cancelled or moderated Q&A, and when (read-only)")
    async def audit(self, request: Request, state: GatewayState, action: FromQuery[str] = "", by: FromQuery[str] = "",
                    target: FromQuery[str] = "", since: FromQuery[datetime | None] = None,
                    until: FromQuery[datetime | None] = None,
                    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 200) -> list[ops.AuditEntry]:
        reply = await state.services.call(
            ops.LIST_AUDIT, ops.ListAudit(action=action, by=by, target=target, since=since, until=until, limit=limit),
            actor=principal(request))
        return reply.entries

    @post("/api/v1/admin/rescores", status_code=202,
          summary="Rescore a task (all, a time range or ids) under a new scorer version; the board switches when "
                  "every submission has its new outcome")
    async def rescore(self, request: Request, state: GatewayState, data: JSONBody[submission_ops.RescoreScope]
                      ) -> submission_ops.RescoreStarted:
        scope = msgspec.structs.replace(data, task_id=await task_id_of(state, data.task_id))  # an alias: the task's id
        return await state.services.call(submission_ops.START_RESCORE, scope, actor=principal(request))

    @get("/api/v1/admin/rescores/{rescore_id:str}", summary="A rescore's progress, and who moved when it completed")
    async def rescore_status(self, request: Request, state: GatewayState, rescore_id: FromPath[str]
                             ) -> ops.RescoreReport:
        return await state.services.call(
            ops.RESCORE_STATUS, ops.RescoreStatus(rescore_id=rescore_id), actor=principal(request))
