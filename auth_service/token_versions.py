"""What the gateways watch to refuse revoked access tokens locally, published to their KV buckets: each account's
current token version, and the refresh-token families (logins) revoked for a reused refresh token. PostgreSQL is
the truth: a put after each committed change, and a full reconcile at start-up (which also covers a crash between
a commit and its put)."""

from __future__ import annotations

import logging

import stamina
from nats.errors import NoRespondersError, TimeoutError
from nats.js.errors import KeyNotFoundError, ServiceUnavailableError
from nats.js.kv import KeyValue

from podium_runtime.kv_watch import current_keys

log = logging.getLogger(__name__)
# A put refused while JetStream is momentarily unavailable (a cluster node lost, a leader being elected) is tried
# again: the change is committed in PostgreSQL already, and a put is idempotent. Bounded by attempts only (backoff
# 0.1 s doubling, with jitter: at most ~8 s in all); past it the caller gets the error, and the next start-up's
# reconcile publishes the value.
TRANSIENT = (NoRespondersError, TimeoutError, ServiceUnavailableError)
retry_transient = stamina.retry(on=TRANSIENT, attempts=6, timeout=None)


async def _delete(kv: KeyValue, key: str) -> None:
    try:
        await kv.delete(key)
    except KeyNotFoundError:
        pass


class TokenVersions:
    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    @retry_transient
    async def publish(self, account_id: str, version: int | None) -> None:
        """`None` means the account can hold no valid token (deleted or disabled)."""
        if version is None:
            await _delete(self.kv, account_id)
        else:
            await self.kv.put(account_id, str(version).encode())

    async def reconcile(self, live: dict[str, int]) -> None:
        present = await current_keys(self.kv)
        for account_id in present - set(live):
            await self.publish(account_id, None)
        for account_id, version in live.items():
            await self.publish(account_id, version)
        log.info("token versions reconciled", extra={"accounts": len(live), "removed": len(present - set(live))})


class RevokedFamilies:
    """Key: a revoked family's id; value: its account's id (for people reading the bucket). A family is kept while
    an access token of it may still be unexpired; the reconcile at start-up drops the older ones."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    @retry_transient
    async def publish(self, family_id: str, account_id: str) -> None:
        await self.kv.put(family_id, account_id.encode())

    async def reconcile(self, revoked: dict[str, str]) -> None:
        present = await current_keys(self.kv)
        for family_id in present - set(revoked):
            await _delete(self.kv, family_id)
        for family_id, account_id in revoked.items():
            await self.publish(family_id, account_id)
        log.info("revoked token families reconciled",
                 extra={"families": len(revoked), "removed": len(present - set(revoked))})
