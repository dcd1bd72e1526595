"""Publishing each account's current token version to the KV bucket the gateways watch. PostgreSQL is the
truth: a put after each committed change, and a full reconcile at start-up (which also covers a crash
between a commit and its put)."""

from __future__ import annotations

import logging

from nats.js.errors import KeyNotFoundError, NoKeysError
from nats.js.kv import KeyValue

log = logging.getLogger(__name__)


class TokenVersions:
    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def publish(self, account_id: str, version: int | None) -> None:
        """`None` means the account can hold no valid token (deleted or disabled)."""
        if version is None:
            try:
                await self.kv.delete(account_id)
            except KeyNotFoundError:
                pass
        else:
            await self.kv.put(account_id, str(version).encode())

    async def reconcile(self, live: dict[str, int]) -> None:
        try:
            present = set(await self.kv.keys())
        except NoKeysError:
            present = set()
        for account_id in present - set(live):
            await self.publish(account_id, None)
        for account_id, version in live.items():
            await self.publish(account_id, version)
        log.info("token versions reconciled", extra={"accounts": len(live), "removed": len(present - set(live))})
