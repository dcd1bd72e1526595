"""MLS-GOAT's routes that have no Podium twin: where its `submit.py` sends models (`/gpu-server-ip`, kept in the
`gateway_settings` KV bucket so every gateway replica answers the same), and its leaderboard settings — one switch,
"show private scores", which here reveals (or hides) the private board of every task."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.params import FromQuery
from nats.js.errors import KeyNotFoundError

from gateway.goat_paths import goat_paths
from gateway.identity import admin_only, principal
from gateway.kv_store import bus_available
from gateway.problems import JSON_ERRORS, Problem, json_problem
from gateway.state import GatewayState
from proto import leaderboard as board_ops
from proto import submissions as submission_ops

GPU_SERVER_KEY = "gpu_server_url"
MAX_URL_LENGTH = 2048


class GpuServerBody(msgspec.Struct, frozen=True):
    gpu_server_ip: str


class GpuServer(msgspec.Struct, frozen=True, omit_defaults=True):
    gpu_server_ip: str
    message: str = ""


class LeaderboardSettings(msgspec.Struct, frozen=True):
    """MLS-GOAT's shape (`show_private_scores`): true once every task's private board is revealed; each task's own
    state beside it."""

    show_private_scores: bool
    tasks: dict[str, bool]


def checked_url(text: str) -> str:
    """An http(s) URL a client can append `/submit/<task>` to: a host, no credentials, query or fragment."""
    url = text.strip()
    if not url:
        raise Problem(422, "gpu_server_ip must be an http(s) URL such as https://gpu.example.org, got nothing")
    if len(url) > MAX_URL_LENGTH:
        raise Problem(422, f"gpu_server_ip must be at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError as exc:
        raise Problem(422, f"gpu_server_ip is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise Problem(422, f"gpu_server_ip must be an http(s) URL with a host, such as https://gpu.example.org, "
                           f"got {url[:200]!r}")
    if parts.username or parts.password or parts.query or parts.fragment or any(c.isspace() for c in url):
        raise Problem(422, "gpu_server_ip may not hold credentials, a query, a fragment or spaces: clients append "
                           "/submit/<task> to it")
    return url.rstrip("/")


def default_gpu_server(request: Request, state: GatewayState) -> str:
    """This gateway: it serves MLS-GOAT's model routes itself. PODIUM_PUBLIC_URL when set, else the request's URL."""
    return (state.settings.public_url or str(request.base_url)).rstrip("/")


async def _settings(state: GatewayState) -> LeaderboardSettings:
    tasks = (await state.services.call(submission_ops.LIST_TASKS, submission_ops.ListTasks())).tasks
    revealed = {}
    for task in tasks:
        found = state.boards.get(task.id)
        revealed[task.id] = found is not None and found[1].private_revealed
    return LeaderboardSettings(show_private_scores=bool(revealed) and all(revealed.values()), tasks=revealed)


class MlsGoatController(Controller):
    tags = ["MLS-GOAT"]

    @get(goat_paths("/gpu-server-ip"), summary="Where MLS-GOAT's submit.py sends models (this gateway unless an "
                                               "admin set another URL)")
    async def gpu_server(self, request: Request, state: GatewayState) -> GpuServer:
        try:
            with bus_available():
                entry = await state.gateway_settings.get(GPU_SERVER_KEY)
        except KeyNotFoundError:
            entry = None
        url = entry.value.decode() if entry is not None and entry.value else default_gpu_server(request, state)
        return GpuServer(gpu_server_ip=url)

    @post(goat_paths("/gpu-server-ip"), guards=[admin_only], status_code=200,
          summary="Set the URL MLS-GOAT's clients send models to: JSON {\"gpu_server_ip\": URL} (or ?ip=URL)")
    async def set_gpu_server(self, request: Request, state: GatewayState, ip: FromQuery[str] = "") -> GpuServer:
        body = await request.body()
        text = ip
        if body.strip():
            try:
                text = msgspec.json.decode(body, type=GpuServerBody).gpu_server_ip
            except JSON_ERRORS as exc:
                status, reason = json_problem(body, exc)
                raise Problem(status, f"send {{\"gpu_server_ip\": \"https://…\"}}: {reason}") from None
        url = checked_url(text)
        with bus_available():
            await state.gateway_settings.put(GPU_SERVER_KEY, url.encode())
        return GpuServer(gpu_server_ip=url, message=f"GPU server URL updated to {url} (by {principal(request).name})")

    @delete(goat_paths("/gpu-server-ip"), guards=[admin_only], status_code=200,
            summary="Forget the set URL: models go to this gateway again")
    async def reset_gpu_server(self, request: Request, state: GatewayState) -> GpuServer:
        with bus_available():
            await state.gateway_settings.delete(GPU_SERVER_KEY)
        url = default_gpu_server(request, state)
        return GpuServer(gpu_server_ip=url, message=f"GPU server URL back to this gateway's, {url}")

    @get(goat_paths("/leaderboard/settings"), summary="MLS-GOAT's leaderboard settings: whether the private scores "
                                                      "are shown (revealed), for every task and each")
    async def leaderboard_settings(self, state: GatewayState) -> LeaderboardSettings:
        return await _settings(state)

    @get(goat_paths("/admin/settings/leaderboard"), guards=[admin_only], summary="The same, for the admin page")
    async def admin_leaderboard_settings(self, state: GatewayState) -> LeaderboardSettings:
        return await _settings(state)

    @post(goat_paths("/admin/settings/leaderboard"), guards=[admin_only], status_code=200,
          summary="?show_private=true reveals every task's private board to everyone; false hides them (audited)")
    async def set_leaderboard_settings(self, request: Request, state: GatewayState, show_private: FromQuery[bool]
                                       ) -> LeaderboardSettings:
        tasks = (await state.services.call(submission_ops.LIST_TASKS, submission_ops.ListTasks())).tasks
        actor = principal(request)
        await asyncio.gather(*(state.services.call(
            board_ops.SET_REVEAL, board_ops.SetReveal(task_id=task.id, revealed=show_private),
            actor=actor) for task in tasks))
        # The boards follow within moments (the leaderboard service writes them); this answer says what was decided.
        return LeaderboardSettings(show_private_scores=show_private and bool(tasks),
                                   tasks={task.id: show_private for task in tasks})
