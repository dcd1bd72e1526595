"""Work asked for more often than it needs doing (a board recomputed for each score, a queue's places announced
for each submission): a key's work runs at once when the key is idle, else once more when the current run is over
and `min_interval_s` has passed, for every request made meanwhile — the newest request's work, in the context (the
trace) of the newest request."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

Work = Callable[[], Awaitable[None]]


@dataclass
class Coalescer:
    min_interval_s: float
    failed: str  # what the log says when a run fails, e.g. "a board was not published"
    _due: dict[str, tuple[Work, contextvars.Context]] = field(default_factory=dict)
    _runners: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def soon(self, key: str, work: Work) -> None:
        self._due[key] = (work, contextvars.copy_context())
        if key not in self._runners:
            self._runners[key] = asyncio.create_task(self._run_while_due(key))

    @property
    def idle(self) -> bool:
        """Nothing running, nothing due."""
        return not self._runners

    async def _run_while_due(self, key: str) -> None:
        try:
            while (due := self._due.pop(key, None)) is not None:
                work, context = due
                try:
                    await asyncio.create_task(_call(work), context=context)
                except Exception:  # nats-py, asyncpg and OSError share no base class: the next request runs it
                    log.exception(self.failed, extra={"key": key})
                await asyncio.sleep(self.min_interval_s)  # a rate, not a synchronisation: requests meanwhile wait
        finally:
            del self._runners[key]


async def _call(work: Work) -> None:
    await work()
