"""The "bucket delivered" marker a KV follower relies on (gateways: token versions, boards; scorers: cancellations).
nats-py's own None can come before the entries the server has already sent; these watchers replay that order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from nats.js.kv import KeyValue

from podium_runtime.kv_watch import marked


@dataclass
class Status:
    values: int


class Bucket:
    """What `marked` asks of a bucket: how many messages it holds now."""

    def __init__(self, values: int) -> None:
        self.values = values

    async def status(self) -> Status:
        return Status(self.values)


class Watcher:
    def __init__(self, *updates: KeyValue.Entry | None) -> None:
        self.updates = updates

    async def __aiter__(self) -> AsyncIterator[KeyValue.Entry | None]:
        for update in self.updates:
            yield update


def entry(key: str, delta: int, operation: str | None = None) -> KeyValue.Entry:
    return KeyValue.Entry(bucket="b", key=key, value=b"v", revision=1, delta=delta, created=None, operation=operation)


async def received(bucket: Bucket, watcher: Watcher) -> list[str | None]:
    return [None if update is None else update.key
            async for update in marked(bucket, watcher)]  # type: ignore[arg-type]


async def test_an_early_none_is_not_taken_while_entries_are_on_their_way() -> None:
    watcher = Watcher(None, entry("a", 1), entry("b", 0), entry("c", 0))
    assert await received(Bucket(values=2), watcher) == ["a", "b", None, "c"]


async def test_the_last_entry_sent_marks_the_bucket_delivered_once() -> None:
    watcher = Watcher(entry("a", 2), entry("b", 1), entry("c", 0, "DEL"), None, entry("d", 0))
    assert await received(Bucket(values=3), watcher) == ["a", "b", "c", None, "d"]


async def test_an_empty_bucket_is_delivered_at_once() -> None:
    assert await received(Bucket(values=0), Watcher(None, entry("later", 0))) == [None, "later"]
