"""Teams: a team reads and edits its own; admins create, import (CSV), edit, disable and delete any.
Routes under /api/v1 and MLS-GOAT's /teams and /admin paths."""

from __future__ import annotations

import asyncio
from typing import Annotated

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, JSONBody

from gateway.goat_paths import goat_paths
from gateway.identity import admin_only, principal, signed_in
from gateway.problems import JSON_ERRORS, Problem, json_problem
from gateway.state import GatewayState
from podium_runtime.metrics import WEBSOCKET_CLIENTS, service_total
from proto import identity as ops
from proto import submissions as submission_ops

# Hashing a password per row takes tens of milliseconds: a large import needs more than the usual timeout.
IMPORT_TIMEOUT_S = 120.0


class AdminStats(ops.IdentityStats, frozen=True, kw_only=True, tag=False):
    """MLS-GOAT's counts (teams, members, questions) at the top level, then the submissions' and this gateway's."""

    submissions: submission_ops.SubmissionStats
    # Open on this gateway replica, all its processes together (each replica also exports podium_websocket_clients).
    websocket_clients: int


class CsvUpload(msgspec.Struct):
    file: UploadFile


async def _create(request: Request, state: GatewayState, data: ops.NewTeam) -> ops.TeamView:
    return await state.services.call(ops.CREATE_TEAM, data, actor=principal(request))


async def _import(request: Request, state: GatewayState, csv: bytes) -> ops.ImportReport:
    if len(csv) > ops.MAX_TEAMS_CSV_BYTES:
        raise Problem(413, f"the CSV is larger than {ops.MAX_TEAMS_CSV_BYTES // 1024} KiB; split it")
    return await state.services.call(
        ops.IMPORT_TEAMS, ops.ImportTeamsCsv(csv=csv), actor=principal(request), timeout_s=IMPORT_TIMEOUT_S
    )


class TeamController(Controller):
    tags = ["teams"]

    @get(["/api/v1/teams", *goat_paths("/teams/")], guards=[signed_in],
         summary="Teams: all for admins, one's own for a team")
    async def list_teams(
        self, request: Request, state: GatewayState, skip: FromQuery[int] = 0, limit: FromQuery[int] = 300
    ) -> list[ops.TeamView]:
        reply = await state.services.call(ops.LIST_TEAMS, ops.ListTeams(skip=skip, limit=limit),
                                          actor=principal(request))
        return reply.teams

    @post(["/api/v1/teams", *goat_paths("/teams/")], guards=[admin_only], status_code=200,
          summary="Create a team (admin)")
    async def create_team(self, request: Request, state: GatewayState, data: JSONBody[ops.NewTeam]) -> ops.TeamView:
        return await _create(request, state, data)

    @get(["/api/v1/teams/{team_id:int}", *goat_paths("/teams/{team_id:int}")], guards=[signed_in], summary="One team")
    async def get_team(self, request: Request, state: GatewayState, team_id: FromPath[int]) -> ops.TeamView:
        return await state.services.call(ops.GET_TEAM, ops.GetTeam(team_id=team_id), actor=principal(request))

    @put(["/api/v1/teams/{team_id:int}", *goat_paths("/teams/{team_id:int}")], guards=[signed_in],
         summary="Change a team's name, password or members (size limit and disabling: admins)")
    async def update_team(
        self, request: Request, state: GatewayState, team_id: FromPath[int], data: JSONBody[ops.TeamChanges]
    ) -> ops.TeamView:
        team = await state.services.call(
            ops.UPDATE_TEAM, ops.UpdateTeam(team_id=team_id, **msgspec.structs.asdict(data)), actor=principal(request))
        if data.password is not None or data.disabled:
            state.identity.note_version(str(team_id), None)  # this gateway refuses the old tokens at once
        return team


class AdminTeamController(Controller):
    tags = ["admin"]
    guards = [admin_only]

    @get(["/api/v1/admin/teams", *goat_paths("/admin/teams")], summary="Every team and admin")
    async def list_teams(
        self, request: Request, state: GatewayState, skip: FromQuery[int] = 0, limit: FromQuery[int] = 300
    ) -> list[ops.TeamView]:
        reply = await state.services.call(ops.LIST_TEAMS, ops.ListTeams(skip=skip, limit=limit),
                                          actor=principal(request))
        return reply.teams

    @post(["/api/v1/admin/teams", *goat_paths("/admin/teams")], status_code=200,
          summary="Create teams: a CSV body (text/csv or a multipart 'file') imports many; JSON creates one",
          description="CSV columns: name,password[,max_size][,members]. The answer reports each row: "
                      "created, or refused with the reason.")
    async def create_teams(self, request: Request, state: GatewayState) -> ops.ImportReport | ops.TeamView:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            body = await request.body()
            try:
                data = msgspec.json.decode(body, type=ops.NewTeam)
            except JSON_ERRORS as exc:
                status, reason = json_problem(body, exc)
                raise Problem(status, f"invalid team: {reason}") from None
            return await _create(request, state, data)
        if content_type.startswith("multipart/form-data"):
            form = await request.form()
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise Problem(400, "the multipart body needs a 'file' field holding the CSV")
            return await _import(request, state, await upload.read())
        if content_type.startswith(("text/csv", "text/plain", "application/csv")):
            return await _import(request, state, await request.body())
        raise Problem(415, "send JSON (one team), text/csv or a multipart 'file' (a CSV of teams)")

    @post(["/api/v1/admin/teams/batch", *goat_paths("/admin/teams/batch")], status_code=200,
          summary="Import teams from a CSV upload (multipart field 'file')")
    async def import_teams(
        self, request: Request, state: GatewayState,
        data: Annotated[CsvUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> ops.ImportReport:
        return await _import(request, state, await data.file.read())

    @delete(["/api/v1/admin/teams/{team_id:int}", *goat_paths("/admin/teams/{team_id:int}")], status_code=200,
            summary="Delete a team (its tokens stop working at once)")
    async def delete_team(self, request: Request, state: GatewayState, team_id: FromPath[int]) -> ops.Deleted:
        result = await state.services.call(ops.DELETE_TEAM, ops.DeleteTeam(team_id=team_id), actor=principal(request))
        state.identity.note_version(str(team_id), None)
        return result

    @get(["/api/v1/admin/stats", *goat_paths("/admin/stats")],
         summary="The competition at a glance: teams, submissions per task and hour, outcomes, failure reasons "
                 "ranked, scoring times, queues, live WebSocket clients")
    async def stats(self, request: Request, state: GatewayState) -> AdminStats:
        actor = principal(request)
        identity, submissions = await asyncio.gather(
            state.services.call(ops.STATS, ops.StatsRequest(), actor=actor),
            state.services.call(submission_ops.STATS, submission_ops.SubmissionStatsRequest(), actor=actor))
        every_process = service_total(WEBSOCKET_CLIENTS)  # several workers: the open sockets of all of them
        return AdminStats(**msgspec.structs.asdict(identity), submissions=submissions,
                          websocket_clients=len(state.live.clients) if every_process is None else int(every_process))
