"""The transactional outbox against real PostgreSQL and NATS JetStream: the change and its event commit
together, a crash between commit and publish loses nothing, a re-publish is one stream message, and an
event written through the outbox reaches a durable pull consumer exactly once. The events are made up (tasks and
submissions that do not exist), so they go to a nats-server of this module's own, never to the platform's."""

from __future__ import annotations

import asyncio
import signal
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import nats
import pytest
from faststream.nats import JStream, NatsBroker, PullSub
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from deploy.stack import HOST
from podium_runtime.codec import decode_event
from podium_runtime.connections import ensure_streams
from podium_runtime.migrations import apply_migrations, load_migrations
from podium_runtime.outbox import Outbox, OutboxRelay
from podium_runtime.settings import ServiceSettings
from proto import subjects
from proto.events import ScoreProgress, SubmissionReceived
from proto.streams import SUBMISSIONS
from tests.service.podium_runtime.conftest import NatsServer


def received(task_id: str, submission_id: str = "") -> SubmissionReceived:
    # Msg-Ids are unique per stream, not per subject: every test uses its own submission ids.
    submission_id = submission_id or f"{task_id}-1"
    return SubmissionReceived(
        submission_id=submission_id, team_id="team-a", task_id=task_id, kind="cpu", object_key=f"k/{submission_id}",
        sha256="0" * 64, size_bytes=10, submitted_at=datetime.now(UTC), scorer_version="psnr-1",
    )


async def stream_count(js: JetStreamContext, subject: str) -> int:
    info = await js.stream_info(SUBMISSIONS.name, subjects_filter=subject)
    return (info.state.subjects or {}).get(subject, 0)


async def unpublished(pool: asyncpg.Pool, schema: str) -> int:
    return await pool.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL")


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A nats-server of this module's own. The platform's services consume the real streams: a scorer would take
    these made-up submissions (and publish their failure, which the leaderboard's rebuild then reads)."""
    server = NatsServer(tmp_path_factory.mktemp("outbox-nats"))
    server.start()
    yield f"nats://{HOST}:{server.port}"
    server.stop()


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NatsClient]:
    """A client of this module's NATS, its streams declared (tests/conftest.py's `nc`, on this module's server)."""
    client = await nats.connect(nats_url)
    await ensure_streams(client.jetstream())
    yield client
    await client.drain()


@pytest.fixture
async def schema(pg_pool: asyncpg.Pool, unique: str) -> str:
    """A fresh schema holding the outbox and a stand-in domain table."""
    name = f"t_{unique}"
    async with pg_pool.acquire() as conn:
        await apply_migrations(conn, name, load_migrations("podium_runtime"))
        await conn.execute(f"CREATE TABLE {name}.changes (submission_id text PRIMARY KEY)")
    return name


async def write_change(pool: asyncpg.Pool, schema: str, event: SubmissionReceived) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"INSERT INTO {schema}.changes VALUES ($1)", event.submission_id)
        await Outbox(schema).add(conn, event)


async def test_add_outside_a_transaction_is_refused(pg_pool: asyncpg.Pool, schema: str, unique: str) -> None:
    async with pg_pool.acquire() as conn:
        with pytest.raises(RuntimeError, match="inside the transaction"):
            await Outbox(schema).add(conn, received(unique))
    assert await unpublished(pg_pool, schema) == 0


async def test_live_only_events_never_enter_the_outbox(pg_pool: asyncpg.Pool, schema: str) -> None:
    progress = ScoreProgress(submission_id="s", team_id="t", done=1, total=2)
    async with pg_pool.acquire() as conn, conn.transaction():
        with pytest.raises(ValueError, match="live-only"):
            await Outbox(schema).add(conn, progress)


async def test_a_rolled_back_change_publishes_nothing(
    pg_pool: asyncpg.Pool, schema: str, nc: NatsClient, unique: str
) -> None:
    event = received(unique)
    with pytest.raises(ZeroDivisionError):
        async with pg_pool.acquire() as conn, conn.transaction():
            await conn.execute(f"INSERT INTO {schema}.changes VALUES ($1)", event.submission_id)
            await Outbox(schema).add(conn, event)
            _ = 1 / 0
    relay = OutboxRelay(pg_pool, schema, nc.jetstream())
    assert await relay.publish_pending() == 0
    assert await stream_count(nc.jetstream(), event.subject()) == 0
    assert await pg_pool.fetchval(f"SELECT count(*) FROM {schema}.changes") == 0


async def test_a_crash_between_commit_and_publish_loses_nothing(
    pg_pool: asyncpg.Pool, schema: str, nc: NatsClient, settings: ServiceSettings, unique: str
) -> None:
    # A real process commits a change with its event, then is killed -9 before anything is published.
    script = textwrap.dedent(f"""
        import asyncio, os, signal, sys
        from datetime import UTC, datetime
        import asyncpg
        from podium_runtime.outbox import Outbox
        from proto.events import SubmissionReceived

        async def main():
            conn = await asyncpg.connect(sys.argv[1])
            event = SubmissionReceived(
                submission_id="crashed-{unique}", team_id="t", task_id="{unique}", kind="cpu", object_key="k",
                sha256="0" * 64, size_bytes=1, submitted_at=datetime.now(UTC), scorer_version="psnr-1")
            async with conn.transaction():
                await conn.execute("INSERT INTO {schema}.changes VALUES ('crashed')")
                await Outbox("{schema}").add(conn, event)
            os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
    """)
    crashed = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, settings.postgres_dsn.get_secret_value(), stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(crashed.communicate(), 60)
    assert crashed.returncode == -signal.SIGKILL, stderr.decode()
    subject = subjects.submission_received("cpu", unique)
    assert await stream_count(nc.jetstream(), subject) == 0
    assert await unpublished(pg_pool, schema) == 1

    # The relay of the restarted service finds the row and publishes it, once.
    relay = OutboxRelay(pg_pool, schema, nc.jetstream())
    assert await relay.publish_pending() == 1
    assert await stream_count(nc.jetstream(), subject) == 1
    assert await unpublished(pg_pool, schema) == 0


async def test_a_lost_published_stamp_republishes_into_one_stream_message(
    pg_pool: asyncpg.Pool, schema: str, nc: NatsClient, unique: str
) -> None:
    event = received(unique)
    await write_change(pg_pool, schema, event)
    relay = OutboxRelay(pg_pool, schema, nc.jetstream())
    assert await relay.publish_pending() == 1
    # As if the relay died after the PubAck and before stamping the row: it is published again.
    await pg_pool.execute(f"UPDATE {schema}.outbox SET published_at = NULL")
    assert await relay.publish_pending() == 1
    assert await stream_count(nc.jetstream(), event.subject()) == 1


async def test_same_msg_id_published_twice_is_one_stream_message(nc: NatsClient, unique: str) -> None:
    js = nc.jetstream()
    first, again = received(unique), received(unique)  # new envelopes, same identity
    assert first.event_id != again.event_id
    ack1 = await js.publish(first.subject(), b"1", headers={"Nats-Msg-Id": first.msg_id()})
    ack2 = await js.publish(again.subject(), b"2", headers={"Nats-Msg-Id": again.msg_id()})
    assert (ack1.duplicate, ack2.duplicate) == (None, True)
    assert ack1.seq == ack2.seq
    assert await stream_count(js, first.subject()) == 1


async def test_concurrent_relays_publish_each_row_once(
    pg_pool: asyncpg.Pool, schema: str, nc: NatsClient, unique: str
) -> None:
    for n in range(120):
        await write_change(pg_pool, schema, received(unique, f"{unique}-{n}"))
    relays = [OutboxRelay(pg_pool, schema, nc.jetstream(), batch_size=7) for _ in range(3)]
    counts = await asyncio.gather(*(relay.publish_pending() for relay in relays))
    assert sum(counts) == 120
    assert await stream_count(nc.jetstream(), subjects.submission_received("cpu", unique)) == 120
    assert await unpublished(pg_pool, schema) == 0


async def test_nats_unreachable_keeps_rows_and_records_why(
    pg_pool: asyncpg.Pool, schema: str, nc: NatsClient, nats_url: str, unique: str
) -> None:
    await write_change(pg_pool, schema, received(unique))
    closed = await nats.connect(nats_url)
    await closed.close()
    with pytest.raises(Exception, match="(?i)closed"):
        await OutboxRelay(pg_pool, schema, closed.jetstream()).publish_pending()
    row = await pg_pool.fetchrow(f"SELECT published_at, attempts, last_error FROM {schema}.outbox")
    assert row is not None
    assert row["published_at"] is None and row["attempts"] == 1 and row["last_error"]
    # Once NATS is back, the same row goes out.
    assert await OutboxRelay(pg_pool, schema, nc.jetstream()).publish_pending() == 1


class WatchedRelay(OutboxRelay):
    """A relay that reports each pass it made (how many rows it published) and counts the NOTIFYs it got."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.passes: asyncio.Queue[int] = asyncio.Queue()
        self.notified = 0

    async def publish_pending(self) -> int:
        published = await super().publish_pending()
        self.passes.put_nowait(published)
        return published

    def _on_notify(self, *args: object) -> None:
        self.notified += 1
        super()._on_notify(*args)


async def test_running_relay_is_woken_by_the_commit(
    pg_pool: asyncpg.Pool, schema: str, nc: NatsClient, unique: str
) -> None:
    # It polls once an hour: after its first pass, only the NOTIFY sent at commit can wake it.
    event = received(unique)
    relay = WatchedRelay(pg_pool, schema, nc.jetstream(), poll_interval_s=3600)
    task = asyncio.create_task(relay.run())
    try:
        async with asyncio.timeout(60):
            assert await relay.passes.get() == 0  # it LISTENs (before its first pass), and that pass found nothing
            await write_change(pg_pool, schema, event)
            assert await relay.passes.get() == 1  # the next pass, which only the NOTIFY could start, published it
        assert relay.notified >= 1
        assert await stream_count(nc.jetstream(), event.subject()) == 1
        assert await unpublished(pg_pool, schema) == 0
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_submission_received_reaches_a_durable_pull_consumer_exactly_once(
    pg_pool: asyncpg.Pool, schema: str, nc: NatsClient, nats_url: str, unique: str
) -> None:
    event = received(unique)
    await write_change(pg_pool, schema, event)
    relay = OutboxRelay(pg_pool, schema, nc.jetstream())
    await relay.publish_pending()
    await pg_pool.execute(f"UPDATE {schema}.outbox SET published_at = NULL")
    await relay.publish_pending()  # the relay's retry after a lost stamp
    # Then a last event on the same subject: the consumer gets the stream in order, so any second copy of the
    # first would be delivered before it.
    last = received(unique, f"{unique}-last")
    await write_change(pg_pool, schema, last)
    assert await relay.publish_pending() == 1

    deliveries: list[SubmissionReceived] = []
    last_delivered = asyncio.Event()
    broker = NatsBroker(nats_url, serializer=None)
    durable = f"test_{unique}"

    @broker.subscriber(
        subjects.submission_received("cpu", unique),
        stream=JStream(name=SUBMISSIONS.name, declare=False),
        durable=durable,
        pull_sub=PullSub(batch_size=10, timeout=0.2),
        decoder=decode_event,
    )
    async def handle(delivered: SubmissionReceived) -> None:
        deliveries.append(delivered)
        if delivered == last:
            last_delivered.set()

    js = nc.jetstream()
    async with broker:
        await broker.start()
        async with asyncio.timeout(60):
            await last_delivered.wait()
            while (await js.consumer_info(SUBMISSIONS.name, durable)).num_ack_pending:  # noqa: ASYNC110
                await asyncio.sleep(0.05)  # the handler's ack follows its return
    assert deliveries == [event, last]

    info = await js.consumer_info(SUBMISSIONS.name, durable)
    assert info.num_pending == 0 and info.num_ack_pending == 0 and info.num_redelivered == 0
