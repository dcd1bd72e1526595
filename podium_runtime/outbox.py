"""The transactional outbox and its relay.

A handler that changes its tables calls `Outbox.add(conn, event)` inside the same transaction, so the
change and its event commit (or roll back) together. The relay publishes unpublished rows to JetStream
with the event's `Nats-Msg-Id` and stamps them published. A crash after commit and before publish loses
nothing (the row is still unpublished when the relay restarts); a crash after publish and before the
stamp re-publishes the row, which JetStream's duplicate window drops. Several relays on one schema are
safe: rows are claimed with `FOR UPDATE SKIP LOCKED`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from nats.js import JetStreamContext

from podium_runtime.connections import PgConnection
from podium_runtime.telemetry import carry_context, producer_span
from proto import codec
from proto.events import Event

log = logging.getLogger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"


def _channel(schema: str) -> str:
    return f"podium_outbox_{schema}"


def _alive(listener: PoolConnectionProxy | None) -> bool:
    """Whether the LISTEN connection still works. When PostgreSQL restarts, the pool takes the broken
    connection back, and asking the stale proxy anything raises: that too means "listen again"."""
    if listener is None:
        return False
    try:
        return not listener.is_closed()
    except asyncpg.InterfaceError:
        return False


class Outbox:
    """Writes events into one schema's outbox table, inside the caller's transaction."""

    def __init__(self, schema: str) -> None:
        self.schema = schema

    async def add(self, conn: PgConnection, event: Event, headers: dict[str, str] | None = None) -> int:
        if not conn.is_in_transaction():
            # Outside a transaction the row would commit on its own, defeating the outbox's purpose.
            raise RuntimeError("Outbox.add must run inside the transaction that makes the change")
        if not event.persisted:
            raise ValueError(f"{type(event).__name__} is a live-only event and never goes through the outbox")
        row_id: int = await conn.fetchval(
            f"INSERT INTO {self.schema}.outbox (subject, msg_id, payload, headers) "
            "VALUES ($1, $2, $3, $4::jsonb) RETURNING id",
            event.subject(),
            event.msg_id(),
            codec.encode(event),
            # The writer's trace context, so the relay publishes the event inside the writer's trace.
            json.dumps(carry_context(headers)),
        )
        # Delivered at commit, so the relay wakes exactly when the row becomes visible.
        await conn.execute("SELECT pg_notify($1, '')", _channel(self.schema))
        return row_id

    async def backlog(self, conn: PgConnection) -> int:
        return await conn.fetchval(f"SELECT count(*) FROM {self.schema}.outbox WHERE published_at IS NULL")


class OutboxRelay:
    """Publishes one schema's outbox rows to JetStream, woken by NOTIFY and by a poll as a fallback."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        schema: str,
        js: JetStreamContext,
        *,
        batch_size: int = 100,
        poll_interval_s: float = 1.0,
        publish_timeout_s: float = 5.0,
    ) -> None:
        self.pool = pool
        self.schema = schema
        self.js = js
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.publish_timeout_s = publish_timeout_s
        self._wake = asyncio.Event()

    async def publish_pending(self) -> int:
        """Publish every unpublished row (oldest first); return how many were published."""
        total = 0
        while True:
            published = await self._publish_batch()
            total += published
            if published < self.batch_size:
                return total

    async def _publish_batch(self) -> int:
        failure: Exception | None = None
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"SELECT id, subject, msg_id, payload, headers FROM {self.schema}.outbox "
                "WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self.batch_size,
            )
            published: list[int] = []
            try:
                for row in rows:
                    with producer_span(row["subject"], json.loads(row["headers"])) as headers:
                        headers[MSG_ID_HEADER] = row["msg_id"]
                        await self.js.publish(
                            row["subject"], bytes(row["payload"]), headers=headers, timeout=self.publish_timeout_s
                        )
                    published.append(row["id"])
            except Exception as exc:
                # NATS unreachable or the stream refused: keep the row for the next pass and note why.
                failure = exc
                failed_id = rows[len(published)]["id"]
                log.warning(
                    "outbox publish failed", extra={"schema": self.schema, "row": failed_id, "error": repr(exc)}
                )
                await conn.execute(
                    f"UPDATE {self.schema}.outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1",
                    failed_id,
                    repr(exc)[:500],
                )
            await conn.execute(
                f"UPDATE {self.schema}.outbox SET published_at = now() WHERE id = ANY($1::bigint[])", published
            )
        # Raised after the commit, so the stamps of what did go out and the failure note are kept.
        if failure is not None and not published:
            raise failure
        return len(published)

    def _on_notify(self, *_args: object) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Relay until cancelled; survives NATS or Postgres outages by retrying on the next poll."""
        listener: PoolConnectionProxy | None = None
        try:
            while True:
                if not _alive(listener):
                    listener = await self._listen()
                self._wake.clear()
                try:
                    await self.publish_pending()
                except Exception as exc:
                    # Postgres or NATS down (their errors share no base class): the rows stay unpublished
                    # and the next pass retries them; the relay itself must not die.
                    log.warning("outbox relay pass failed", extra={"schema": self.schema, "error": repr(exc)})
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)
        finally:
            if _alive(listener):
                assert listener is not None
                await listener.remove_listener(_channel(self.schema), self._on_notify)
                await self.pool.release(listener)

    async def _listen(self) -> PoolConnectionProxy | None:
        try:
            conn = await self.pool.acquire()
            await conn.add_listener(_channel(self.schema), self._on_notify)
            return conn
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("outbox relay cannot LISTEN; polling only", extra={"schema": self.schema, "error": str(exc)})
            return None
