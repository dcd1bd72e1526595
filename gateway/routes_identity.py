"""Log in, refresh, who am I, and the public keys — under /api/v1 and at MLS-GOAT's /auth routes."""

from __future__ import annotations

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import JSONBody

from gateway.goat_paths import goat_paths
from gateway.identity import principal, signed_in
from gateway.problems import Problem
from gateway.state import GatewayState
from proto import identity as ops


class TokenResponse(msgspec.Struct, frozen=True):
    access_token: str
    token_type: str
    refresh_token: str
    expires_in: int


class MeResponse(msgspec.Struct, frozen=True):
    id: int
    name: str
    is_admin: bool
    members: list[ops.TeamMember]
    max_size: int


def _tokens(state: GatewayState, pair: ops.TokenPair) -> TokenResponse:
    # Accept the new token on this gateway at once, ahead of the KV watch.
    state.identity.note_version(pair.account_id, pair.token_version)
    return TokenResponse(pair.access_token, pair.token_type, pair.refresh_token, pair.expires_in)


class IdentityController(Controller):
    tags = ["identity"]

    @post(["/api/v1/auth/login", *goat_paths("/auth/login")], status_code=200,
          summary="Log in with a team or admin name")
    async def login(self, data: JSONBody[ops.LoginRequest], state: GatewayState) -> TokenResponse:
        pair = await state.services.call(ops.LOGIN, data)
        return _tokens(state, pair)

    @post("/api/v1/auth/refresh", status_code=200, summary="Trade a refresh token for new tokens (single use)")
    async def refresh(self, data: JSONBody[ops.RefreshRequest], state: GatewayState) -> TokenResponse:
        try:
            pair = await state.services.call(ops.REFRESH, data)
        except Problem as refused:
            # A spent refresh token used again revokes its whole login: refuse the login's access tokens here at
            # once, ahead of the KV watch (the family id is for the gateway, not for the answer).
            family = refused.extra.pop("revoked_family", None) if isinstance(refused.extra, dict) else None
            if family is not None:
                state.identity.note_revoked_family(str(family))
            raise
        return _tokens(state, pair)

    @get(["/api/v1/auth/me", *goat_paths("/auth/me")], guards=[signed_in], summary="The calling team or admin")
    async def me(self, request: Request, state: GatewayState) -> MeResponse:
        team = await state.services.call(ops.ME, ops.MeRequest(), actor=principal(request))
        return MeResponse(team.id, team.name, team.is_admin, team.members, team.max_size)

    @get("/api/v1/auth/rules", summary="What a team name, password and team size must be (for forms, before anyone "
         "types): minimum and maximum password length, longest name, team size limits")
    async def rules(self, state: GatewayState) -> ops.AccountRules:
        return await state.services.call(ops.RULES, ops.RulesRequest())

    @get(["/api/v1/auth/jwks", "/.well-known/jwks.json"], summary="Public keys that verify access tokens")
    async def jwks(self, state: GatewayState) -> dict[str, list[dict[str, str]]]:
        jwks = await state.services.call(ops.JWKS, ops.JwksRequest())
        return {"keys": jwks.keys}
