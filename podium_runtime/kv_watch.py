"""Following a NATS KV bucket for as long as a service runs.

A KV watch is an ephemeral consumer on the server: when NATS restarts, the consumer is gone and nats-py's
watcher waits forever without an error (seen with nats-py 2.16 against nats-server 2.12). So a follower
starts its watch again after every reconnect: the new watch delivers each key's current value, which the
`apply` callbacks take idempotently, and the follower is current again.

"Current" is told by our own marker (`marked`), not nats-py's: nats-py sends its "nothing pending" None when the
watch's consumer reports no pending messages and none has been dispatched yet, which also holds while the
messages the server has just sent are still on their way. Its None can then come before every entry (seen in CI:
`kv.keys()` found no keys in a bucket holding one), so a gateway would call itself loaded without the token
versions it must refuse."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from nats.aio.client import Client as NatsClient
from nats.js.kv import KeyValue

log = logging.getLogger(__name__)

Apply = Callable[[KeyValue.Entry | None], None]


class Reconnects:
    """Counts the client's reconnections; pass `callback` as the connection's `reconnected_cb`."""

    def __init__(self) -> None:
        self._changed = asyncio.Condition()
        self.count = 0

    async def callback(self) -> None:
        async with self._changed:
            self.count += 1
            self._changed.notify_all()

    async def after(self, count: int) -> None:
        """Return once the client has reconnected since `count` was read."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.count > count)


async def follow(connection: Callable[[], NatsClient], bucket: str, apply: Apply, reconnects: Reconnects,
                 on_watching: Callable[[], Awaitable[None]] | None = None) -> None:
    """Call `apply` with every entry of `bucket` (then None once the current values are delivered), now and
    as it changes, starting the watch again after each reconnection. Runs until cancelled."""
    while True:
        seen = reconnects.count
        try:
            # nats-py leaves jetstream's **opts and watchall's **kwargs unannotated.
            kv = await connection().jetstream().key_value(bucket)  # pyright: ignore[reportUnknownMemberType]
            watcher = await kv.watchall()  # pyright: ignore[reportUnknownMemberType]
        except Exception as exc:  # NATS away at this moment (nats-py's errors share no base class): try again
            log.warning("cannot watch a KV bucket yet", extra={"bucket": bucket, "error": repr(exc)})
            await asyncio.sleep(1)
            continue
        if on_watching is not None:
            await on_watching()
        updates = asyncio.create_task(_deliver(kv, watcher, apply))
        reconnected = asyncio.create_task(reconnects.after(seen))
        try:
            await asyncio.wait({updates, reconnected}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (updates, reconnected):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            with contextlib.suppress(Exception):
                await watcher.stop()
        if updates.done() and not updates.cancelled() and updates.exception() is not None:
            log.warning("a KV watch failed; watching again", extra={"bucket": bucket,
                                                                    "error": repr(updates.exception())})
            await asyncio.sleep(0.5)
        else:
            log.info("NATS reconnected: watching the KV bucket again", extra={"bucket": bucket})


async def marked(kv: KeyValue, watcher: KeyValue.KeyWatcher) -> AsyncIterator[KeyValue.Entry | None]:
    """The watcher's entries, with one None once the bucket's content at the start of the watch is delivered: after
    the entry the server sent with nothing pending behind it, or, for nats-py's early None, when the bucket holds
    nothing (then no entry is on its way; a put made since comes after the None, as any change does)."""
    current = False
    async for entry in watcher:
        if entry is None:
            if not current and (await kv.status()).values == 0:
                current = True
                yield None
            continue
        yield entry
        if not current and entry.delta == 0:
            current = True
            yield None


async def current_keys(kv: KeyValue) -> set[str]:
    """The bucket's keys now (nats-py's `kv.keys()` can answer none: its marker can come first, see above)."""
    watcher = await kv.watchall(meta_only=True)  # pyright: ignore[reportUnknownMemberType]
    keys: set[str] = set()
    try:
        async for entry in marked(kv, watcher):
            if entry is None:
                break
            if entry.operation in ("DEL", "PURGE"):
                keys.discard(entry.key)
            else:
                keys.add(entry.key)
    finally:
        await watcher.stop()
    return keys


async def _deliver(kv: KeyValue, watcher: KeyValue.KeyWatcher, apply: Apply) -> None:
    async for entry in marked(kv, watcher):
        apply(entry)
