"""A hostile corpus on the bus itself: someone reaching NATS (the embedded stack's, run with its authorization block,
and the real auth_service answering `rpc.auth.>`) without credentials, or with the credentials of a service other than
the gateway (a scorer, which runs participants' code nearby, is the likeliest to leak them).

Each case must end refused: the connection, or the publish/subscribe (the server's "Permissions Violation", and no
answer); likewise reading a stream the service does not consume. Beside each, the control that shows the case
means something: the same request with the right user works."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import msgspec
import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import StreamConfig, StreamSource

from deploy.stack import EmbeddedStack
from podium_runtime import nats_access
from podium_runtime.connections import ensure_kv_buckets
from podium_runtime.kv_watch import current_keys
from podium_runtime.rpc import call
from proto import identity as ops
from proto.identity import TeamList
from proto.rpc import Principal
from proto.streams import LEADERBOARDS, QA
from proto.subjects import QA_ALL
from proto.submissions import QueueMoved, QueuePlace

pytestmark = pytest.mark.system

FORGED_ADMIN = Principal(account_id="1", name="root-admin", role="admin")
NOT_THE_GATEWAY = tuple(service for service in nats_access.SERVICES if service != "gateway")
BOARD_READERS = ("gateway", "leaderboard_service", "submission_service")  # submission_service: the reveal flags
NOT_BOARD_READERS = tuple(s for s in nats_access.SERVICES if s not in BOARD_READERS)
PROBE_KEY = f"hostile-probe-{uuid.uuid4().hex[:8]}"
SHORT = 1.0


class Connection:
    """A connection as `user`, keeping the asynchronous errors the server sent it (permission violations)."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.client: NatsClient | None = None

    async def open(self, stack: EmbeddedStack, user: str | None, password: str | None = None) -> NatsClient:
        async def on_error(exc: Exception) -> None:
            self.errors.append(str(exc))

        auth: dict[str, str] = {} if user is None else {
            "user": user, "password": stack.nats_passwords[user] if password is None else password,
            "inbox_prefix": nats_access.inbox_prefix(user)}
        self.client = await nats.connect(stack.env()["PODIUM_NATS_URL"], allow_reconnect=False, connect_timeout=5,
                                         error_cb=on_error, **auth)
        return self.client

    def violations(self) -> list[str]:
        return [error for error in self.errors if "permissions violation" in error.lower()]


@pytest.fixture
async def as_user(stack: EmbeddedStack) -> AsyncIterator[Callable[[str], asyncio.Future[Connection]]]:
    opened: list[Connection] = []

    async def connect(user: str) -> Connection:
        connection = Connection()
        await connection.open(stack, user)
        opened.append(connection)
        return connection

    yield connect  # type: ignore[misc]
    for connection in opened:
        if connection.client is not None and not connection.client.is_closed:
            await connection.client.close()


async def wait_for_violation(connection: Connection) -> None:
    async with asyncio.timeout(5):
        while not connection.violations():  # noqa: ASYNC110 — the error callback fills it
            await asyncio.sleep(0.05)


# --- no credentials, wrong credentials -----------------------------------------------------------------------------


@pytest.mark.parametrize(("user", "password"), [(None, None), ("gateway", "not-the-password"), ("admin", ""),
                                                ("nobody", "anything")])
async def test_a_connection_without_valid_credentials_is_refused(
    stack: EmbeddedStack, user: str | None, password: str | None
) -> None:
    with pytest.raises((nats.errors.NoServersError, nats.errors.Error, OSError)) as refused:
        client = await Connection().open(stack, user, password)
        await client.close()
    assert refused.value is not None


# --- requests with a forged actor ----------------------------------------------------------------------------------


@pytest.mark.parametrize("service", NOT_THE_GATEWAY)
async def test_only_the_gateway_may_send_requests_carrying_an_actor(
    stack: EmbeddedStack, auth_service: dict[str, str], as_user: Callable, service: str
) -> None:
    request = ops.ListTeams()
    # The control: the gateway's user gets the list (the actor is believed: the gateway verified it).
    gateway = await as_user("gateway")
    assert isinstance(await call(gateway.client, ops.LIST_TEAMS, request, 10, FORGED_ADMIN), TeamList)

    other = await as_user(service)
    with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
        await call(other.client, ops.LIST_TEAMS, request, SHORT, FORGED_ADMIN)
    await wait_for_violation(other)
    assert any(ops.LIST_TEAMS.subject in violation for violation in other.violations())


# --- the leaderboards bucket (unrevealed private boards) -----------------------------------------------------------


@pytest.fixture
async def probe_entry(as_user: Callable) -> bytes:
    """A key in the leaderboards bucket, written by its owner."""
    owner = await as_user("leaderboard_service")
    await ensure_kv_buckets(owner.client.jetstream(), buckets=nats_access.buckets("leaderboard_service"))
    value = b'{"probe": "private"}'
    await (await owner.client.jetstream().key_value(LEADERBOARDS.name)).put(PROBE_KEY, value)
    return value


async def test_the_gateway_reads_the_leaderboards_bucket(probe_entry: bytes, as_user: Callable) -> None:
    gateway = await as_user("gateway")
    kv = await gateway.client.jetstream().key_value(LEADERBOARDS.name)
    assert (await kv.get(PROBE_KEY)).value == probe_entry
    assert PROBE_KEY in await current_keys(kv)  # a watch: a consumer on KV_leaderboards


@pytest.mark.parametrize("service", NOT_BOARD_READERS)
async def test_no_other_service_reads_the_leaderboards_bucket(
    probe_entry: bytes, as_user: Callable, service: str
) -> None:
    other = await as_user(service)
    js = other.client.jetstream(timeout=SHORT)
    kv = await js.key_value(LEADERBOARDS.name)  # the bucket's config is no secret; its entries are
    with pytest.raises((nats.errors.TimeoutError, nats.js.errors.Error)):
        await kv.get(PROBE_KEY)  # a direct get (or a stream message get)
    with pytest.raises((nats.errors.TimeoutError, nats.js.errors.Error)):
        await kv.keys()  # a consumer on KV_leaderboards
    with pytest.raises((nats.errors.TimeoutError, nats.js.errors.Error)):
        await js.get_msg(f"KV_{LEADERBOARDS.name}", subject=f"$KV.{LEADERBOARDS.name}.{PROBE_KEY}")
    # Its own copy, as a mirror or a source under another name, or a republish added to the bucket's stream.
    with pytest.raises((nats.errors.TimeoutError, nats.js.errors.Error)):
        await js.add_stream(StreamConfig(name=f"COPY_{uuid.uuid4().hex[:8]}",
                                         mirror=StreamSource(name=f"KV_{LEADERBOARDS.name}")))
    with pytest.raises((nats.errors.TimeoutError, nats.js.errors.Error)):
        await js.update_stream(StreamConfig(name=f"KV_{LEADERBOARDS.name}", subjects=[f"$KV.{LEADERBOARDS.name}.>"]))
    # Live puts, listened to directly.
    seen: list[bytes] = []

    async def on_put(message: Msg) -> None:
        seen.append(message.data)

    await other.client.subscribe(f"$KV.{LEADERBOARDS.name}.>", cb=on_put)
    await wait_for_violation(other)
    owner = await as_user("leaderboard_service")
    await (await owner.client.jetstream().key_value(LEADERBOARDS.name)).put(PROBE_KEY, b"updated")
    await asyncio.sleep(0.5)
    assert seen == []
    # Nor may it write a board.
    with pytest.raises((nats.errors.TimeoutError, nats.js.errors.Error)):
        await kv.put(PROBE_KEY, b"forged")


# --- streams a service does not consume ----------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["cpu_scorer", "gpu_scorer", "auth_service", "gateway"])
async def test_a_service_cannot_read_the_questions_stream(nc: NatsClient, as_user: Callable, service: str) -> None:
    """Q&A events (private questions among them) are the leaderboard service's to read, not a scorer's."""
    other = await as_user(service)
    js = other.client.jetstream(timeout=SHORT)
    with pytest.raises((nats.errors.TimeoutError, nats.js.errors.Error)):
        await js.pull_subscribe(QA_ALL, stream=QA.name)
    with pytest.raises((nats.errors.TimeoutError, nats.js.errors.Error)):
        await js.get_last_msg(QA.name, QA_ALL)


# --- other users' replies ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("inbox", ["_INBOX.>", "_INBOX_gateway.>", "_INBOX_leaderboard_service.>", ">"])
async def test_no_service_listens_to_another_users_replies(as_user: Callable, inbox: str) -> None:
    """Replies (rpc answers, JetStream API answers, a KV watch's deliveries: the gateway's board watch) go to the
    requester's own inbox prefix; a scorer subscribing to another's is refused."""
    other = await as_user("cpu_scorer")
    seen: list[bytes] = []

    async def on_reply(message: Msg) -> None:
        seen.append(message.data)

    await other.client.subscribe(inbox, cb=on_reply)
    await wait_for_violation(other)
    assert any("subscription" in violation.lower() for violation in other.violations())


@pytest.mark.parametrize("service", ["cpu_scorer", "gpu_scorer", "gateway"])
async def test_a_service_cannot_source_the_leaderboards_into_a_stream_it_reads(
    nc: NatsClient, as_user: Callable, service: str
) -> None:
    """An update adding the bucket's stream as a source of SUBMISSIONS (which a scorer consumes) is refused: only a
    stream's owner updates it, and no scorer owns one."""
    other = await as_user(service)
    js = other.client.jetstream(timeout=SHORT)
    current = (await nc.jetstream().stream_info("SUBMISSIONS")).config
    with pytest.raises((nats.errors.TimeoutError, nats.js.errors.Error)):
        await js.update_stream(StreamConfig(name=current.name, subjects=current.subjects,
                                            sources=[StreamSource(name=f"KV_{LEADERBOARDS.name}")]))
    assert (await nc.jetstream().stream_info("SUBMISSIONS")).config.sources in (None, [])


# --- live pushes: every team's queue places in one message -----------------------------------------------------------


@pytest.mark.parametrize("service", NOT_THE_GATEWAY)
async def test_only_the_gateway_hears_every_teams_queue_places(as_user: Callable, service: str) -> None:
    """A pool's places travel in one message naming every queued team's submissions: the gateway passes each team
    its own (tests/unit/gateway/test_live_client.py); no other service may listen to them, nor forge them."""
    other = await as_user(service)
    seen: list[bytes] = []

    async def on_places(message: Msg) -> None:
        seen.append(message.data)

    await other.client.subscribe("live.queue.>", cb=on_places)
    await wait_for_violation(other)
    moved = QueueMoved(kind="cpu", places=(QueuePlace(submission_id=1, team_id=1, queue_position=1),))
    gateway = await as_user("gateway")
    heard: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def on_heard(message: Msg) -> None:
        if not heard.done():
            heard.set_result(message.data)

    await gateway.client.subscribe("live.queue.>", cb=on_heard)
    await gateway.client.flush()
    owner = await as_user("submission_service")
    await owner.client.publish(moved.subject(), msgspec.json.encode(moved))
    async with asyncio.timeout(10):
        assert await heard == msgspec.json.encode(moved)  # delivered: the gateway hears it
    await other.client.flush()
    assert seen == []
    if service != "submission_service":  # the one that announces places
        before = len(other.violations())
        await other.client.publish(moved.subject(), b"{}")
        async with asyncio.timeout(5):
            while len(other.violations()) == before:  # noqa: ASYNC110 — the error callback fills it
                await asyncio.sleep(0.05)
