"""auth_service's start-up reconcile of the token versions the gateways follow (PostgreSQL is the truth): a version
left for an account that no longer holds tokens is removed, the live ones are put. Against the session's NATS."""

from __future__ import annotations

from nats.aio.client import Client as NatsClient

from auth_service.token_versions import TokenVersions
from podium_runtime.kv_watch import current_keys


async def test_reconcile_removes_what_postgres_no_longer_has(nc: NatsClient, unique: str) -> None:
    kv = await nc.jetstream().create_key_value(bucket=f"versions_{unique}")
    try:
        await kv.put("gone", b"3")
        await kv.put("kept", b"1")
        await TokenVersions(kv).reconcile({"kept": 2, "new": 1})
        assert await current_keys(kv) == {"kept", "new"}
        assert (await kv.get("kept")).value == b"2"
    finally:
        await nc.jetstream().delete_key_value(f"versions_{unique}")
