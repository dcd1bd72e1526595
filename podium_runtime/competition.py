"""The competition a service uses, as the `competition` KV bucket says (key `current`: the latest
`CompetitionVersion`). submission_service owns the definition and writes each new version there; every service
follows the bucket for as long as it runs (`podium_runtime.kv_watch`), so a host's change is in use everywhere
within a moment of its commit, without a restart. Handlers read `CurrentCompetition.current` on every message;
listeners (the gateway's live pushes, the leaderboard's boards) hear of each new version."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Callable

import msgspec
from nats.js.kv import KeyValue

from podium_runtime.kv_watch import follow
from podium_runtime.metrics import COMPETITION_VERSION
from podium_runtime.service import Bus
from proto.competition import EMPTY, Competition, CompetitionVersion
from proto.streams import COMPETITION_KV

log = logging.getLogger(__name__)
KEY = "current"
# How long a scorer waits for a version a submission names before handing the job back (the bucket is normally
# ahead of any submission made under it: the version is published before the upload is accepted).
CATCH_UP_S = 10.0
_decode = msgspec.json.Decoder(CompetitionVersion)
Listener = Callable[[CompetitionVersion, CompetitionVersion], None]


class CurrentCompetition:
    """The newest competition version this process has seen; older ones offered late are ignored."""

    def __init__(self, initial: CompetitionVersion = EMPTY) -> None:
        self.version = initial
        self.listeners: list[Listener] = []
        self._changed = asyncio.Event()
        self.loaded = asyncio.Event()  # the bucket's value (or its absence) has been read once
        COMPETITION_VERSION.set(initial.version)

    @property
    def current(self) -> Competition:
        return self.version.competition

    def offer(self, version: CompetitionVersion) -> bool:
        """Use `version` if it is newer than the one in use; tell the listeners. True when it was taken."""
        if version.version <= self.version.version:
            return False
        previous, self.version = self.version, version
        COMPETITION_VERSION.set(version.version)
        log.info("competition version in use", extra={"competition_version": version.version,
                                                      "previous_version": previous.version})
        self._changed.set()
        self._changed = asyncio.Event()
        for listener in self.listeners:
            try:
                listener(previous, version)
            except Exception:  # one listener's bug must not stop the others or the follower
                log.exception("a competition listener failed")
        return True

    def apply(self, entry: KeyValue.Entry | None) -> None:
        """A KV watch's delivery: an entry of the bucket, or None once its current values were delivered."""
        if entry is None:
            self.loaded.set()
            return
        if entry.key != KEY or not entry.value:
            return
        try:
            self.offer(_decode.decode(entry.value))
        except msgspec.DecodeError:
            log.error("the competition bucket holds an undecodable value; keeping the version in use",
                      extra={"revision": entry.revision})

    async def at_least(self, version: int, timeout_s: float = CATCH_UP_S) -> bool:
        """Wait (up to `timeout_s`) until the version in use is `version` or newer; False if it is not by then."""
        try:
            async with asyncio.timeout(timeout_s):
                while self.version.version < version:
                    await self._changed.wait()
        except TimeoutError:
            return False
        return True


@contextlib.asynccontextmanager
async def follow_competition(bus: Bus, initial: CompetitionVersion = EMPTY) -> AsyncGenerator[CurrentCompetition]:
    """Follow the `competition` bucket from now until the block ends; the block starts once its value was read."""
    current = CurrentCompetition(initial)
    follower = asyncio.create_task(
        follow(lambda: bus.broker.connection, COMPETITION_KV.name, current.apply, bus.reconnects),
        name="competition-follower")
    try:
        await current.loaded.wait()
        yield current
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
