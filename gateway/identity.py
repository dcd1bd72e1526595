"""Who is calling: the bearer token is verified locally (JWKS fetched from auth_service, token versions and
revoked logins watched from KV) and the caller's `Principal` put on the request; guards then demand a team or an
admin."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send
from nats.js.kv import KeyValue

from gateway.problems import Problem
from gateway.services import ServiceClient
from gateway.tokens import InvalidToken, TokenVerifier
from proto import identity as ops
from proto.rpc import Principal

log = logging.getLogger(__name__)
# An unknown key id triggers a JWKS refetch (after a key rotation) at most this often.
JWKS_REFETCH_INTERVAL_S = 10.0


class Identity:
    """The gateway's view of identity: the verifier, kept current from auth_service and the KV bucket."""

    def __init__(self, verifier: TokenVerifier, services: ServiceClient) -> None:
        self.verifier = verifier
        self.services = services
        self.versions_loaded = asyncio.Event()
        self.revoked_families_loaded = asyncio.Event()
        self._last_jwks_fetch = 0.0
        self._revoked = asyncio.Event()  # set, then replaced, whenever a token may have been revoked

    async def revocation(self) -> None:
        """Returns at the next change that may revoke tokens (live sockets check theirs again)."""
        await self._revoked.wait()

    def _tokens_may_be_revoked(self) -> None:
        self._revoked.set()
        self._revoked = asyncio.Event()

    @property
    def ready(self) -> bool:
        return bool(self.verifier.keys) and self.versions_loaded.is_set() and self.revoked_families_loaded.is_set()

    async def fetch_jwks(self) -> None:
        self._last_jwks_fetch = time.monotonic()
        jwks = await self.services.call(ops.JWKS, ops.JwksRequest())
        self.verifier.set_jwks({"keys": jwks.keys})

    async def keep_jwks(self) -> None:
        """Fetch the public keys, retrying until auth_service answers (the gateway is not ready before)."""
        while not self.verifier.keys:
            try:
                await self.fetch_jwks()
            except Problem:
                await asyncio.sleep(1.0)

    def apply_version(self, entry: KeyValue.Entry | None) -> None:
        """One entry of the `token_versions` bucket (None: the current versions are all delivered)."""
        if entry is None:
            self.versions_loaded.set()
        elif entry.operation in ("DEL", "PURGE") or not entry.value:
            self.verifier.versions.pop(entry.key, None)
            self._tokens_may_be_revoked()
        else:
            self.verifier.versions[entry.key] = int(entry.value)
            self._tokens_may_be_revoked()

    def apply_revoked_family(self, entry: KeyValue.Entry | None) -> None:
        """One entry of the `revoked_token_families` bucket (None: the current ones are all delivered)."""
        if entry is None:
            self.revoked_families_loaded.set()
        elif entry.operation in ("DEL", "PURGE"):
            self.verifier.revoked_families.discard(entry.key)
        else:
            self.verifier.revoked_families.add(entry.key)
            self._tokens_may_be_revoked()

    def note_revoked_family(self, family_id: str) -> None:
        """Refuse a login's tokens at once on this gateway, ahead of the KV watch."""
        self.verifier.revoked_families.add(family_id)
        self._tokens_may_be_revoked()

    def note_version(self, account_id: str, version: int | None) -> None:
        """Apply a change this gateway made itself at once, ahead of the KV watch."""
        if version is None:
            self.verifier.versions.pop(account_id, None)
        else:
            self.verifier.versions[account_id] = version
        self._tokens_may_be_revoked()

    async def verify(self, token: str) -> Principal:
        try:
            return self.verifier.verify(token)
        except InvalidToken as exc:
            if "unknown key" in str(exc) and time.monotonic() - self._last_jwks_fetch > JWKS_REFETCH_INTERVAL_S:
                with contextlib.suppress(Problem):
                    await self.fetch_jwks()
                    return self.verifier.verify(token)
            raise


class TokenMiddleware(ASGIMiddleware):
    """Sets `scope["user"]` to the caller's Principal, or None without a token; a bad token is a 401."""

    scopes = (ScopeType.HTTP, ScopeType.WEBSOCKET)

    def __init__(self, identity: Identity) -> None:
        self.identity = identity

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        scope["user"] = None
        header = dict(scope.get("headers", [])).get(b"authorization", b"").decode("latin-1")
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise NotAuthorizedException("Authorization header must be 'Bearer <token>'",
                                             headers={"WWW-Authenticate": "Bearer"})
            try:
                scope["user"] = await self.identity.verify(token.strip())
            except InvalidToken as exc:
                raise NotAuthorizedException(f"Could not validate credentials: {exc}",
                                             headers={"WWW-Authenticate": "Bearer"}) from None
        await next_app(scope, receive, send)


def principal(connection: ASGIConnection) -> Principal:
    user = connection.scope.get("user")
    if user is None:
        raise NotAuthorizedException("Not authenticated", headers={"WWW-Authenticate": "Bearer"})
    return user


def signed_in(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    principal(connection)


def admin_only(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if not principal(connection).is_admin:
        raise PermissionDeniedException("Admin privileges required")
