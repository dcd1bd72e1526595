"""CurrentCompetition: the newest version wins whatever order versions arrive in, listeners hear each change once,
a scorer waiting for a version a submission names is woken when it arrives (or told it did not)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import msgspec
from nats.js.kv import KeyValue

from podium_runtime.competition import KEY, CurrentCompetition
from proto.competition import CompetitionInfo, CompetitionVersion
from tests.unit.fakes import COMPETITION

WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def version(number: int, name: str = "") -> CompetitionVersion:
    competition = msgspec.structs.replace(COMPETITION, competition=CompetitionInfo(name=name or f"v{number}"))
    return CompetitionVersion(version=number, competition=competition, created_at=WHEN, created_by="host")


def entry(value: bytes, key: str = KEY) -> KeyValue.Entry:
    return KeyValue.Entry(bucket="competition", key=key, value=value, revision=1, delta=None, created=None,
                          operation=None)


async def test_the_newest_version_wins_and_listeners_hear_each_change_once() -> None:
    current = CurrentCompetition()
    heard: list[tuple[int, int]] = []
    current.listeners.append(lambda before, after: heard.append((before.version, after.version)))
    assert current.offer(version(2)) and not current.offer(version(1)) and not current.offer(version(2))
    current.apply(entry(msgspec.json.encode(version(3))))
    assert current.version.version == 3 and current.current.competition.name == "v3"
    assert heard == [(0, 2), (2, 3)]


async def test_junk_in_the_bucket_keeps_the_version_in_use() -> None:
    current = CurrentCompetition(version(4))
    current.apply(entry(b"not json"))
    current.apply(entry(msgspec.json.encode(version(9)), key="other"))
    assert current.version.version == 4 and not current.loaded.is_set()
    current.apply(None)  # the watch's "current values delivered" marker
    assert current.loaded.is_set()


async def test_a_wait_for_a_version_ends_when_it_arrives_or_says_it_did_not() -> None:
    current = CurrentCompetition(version(1))
    waiting = asyncio.create_task(current.at_least(3, timeout_s=60))
    await asyncio.sleep(0)  # the waiter is parked on the change event
    current.offer(version(2))
    await asyncio.sleep(0)
    assert not waiting.done()
    current.offer(version(3))
    assert await waiting
    assert await current.at_least(2, timeout_s=0)
    assert not await current.at_least(4, timeout_s=0.01)
