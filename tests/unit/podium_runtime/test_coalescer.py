"""`Coalescer`: a key's work at once when idle; requests made while it runs share one more run (the newest's work,
in the newest request's context); another key is not held up; a failed run is logged and the next still runs."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from podium_runtime.coalesce import Coalescer

ASKED_BY: contextvars.ContextVar[str] = contextvars.ContextVar("asked_by", default="")


async def until_idle(coalescer: Coalescer) -> None:
    async with asyncio.timeout(30):
        while not coalescer.idle:
            await asyncio.sleep(0)


async def test_requests_during_a_run_share_the_next_one_in_the_newest_context() -> None:
    coalescer = Coalescer(0, failed="not done")
    ran: list[tuple[str, str]] = []
    release = asyncio.Event()

    def work(name: str):
        async def run() -> None:
            ran.append((name, ASKED_BY.get()))
            if name == "first":
                await release.wait()
        return run

    coalescer.soon("a", work("first"))
    async with asyncio.timeout(30):
        while not ran:
            await asyncio.sleep(0)
    for n in range(3):
        ASKED_BY.set(f"request {n}")
        coalescer.soon("a", work(f"second {n}"))
    coalescer.soon("b", work("other key"))  # not held up by key a's run
    async with asyncio.timeout(30):
        while ("other key", "request 2") not in ran:
            await asyncio.sleep(0)
    release.set()
    await until_idle(coalescer)
    assert ran == [("first", ""), ("other key", "request 2"), ("second 2", "request 2")]


async def test_a_failed_run_is_logged_and_the_next_still_runs(caplog: pytest.LogCaptureFixture) -> None:
    coalescer = Coalescer(0, failed="places not announced")
    ran: list[str] = []
    release = asyncio.Event()

    async def fail() -> None:
        ran.append("fail")
        await release.wait()
        raise OSError("NATS is away")

    async def succeed() -> None:
        ran.append("succeed")

    coalescer.soon("a", fail)
    async with asyncio.timeout(30):
        while not ran:
            await asyncio.sleep(0)
    coalescer.soon("a", succeed)  # asked while the failing run runs
    release.set()
    await until_idle(coalescer)
    assert ran == ["fail", "succeed"]
    assert "places not announced" in caplog.text
