"""The viewers of one load step, in a process of their own (`python -m bench.loadgen.viewers`), so that their
sockets and the teams' requests do not share one event loop.

It opens `--count` WebSockets to the gateway's `/ws` (the tokens of `--tokens-file` in turn, each sent as the web
page sends it, in the subprotocol `bearer.<token>`; offering permessage-deflate as browsers do unless
`--compression none`), spread over `--ramp-s`, sends `{"follow": [task]}` on each, prints one JSON line
`{"ready": n}`, and records when each viewer first sees each team's k-th scored submission on the board. With
`--wait`, it first prints `{"waiting": true}` and opens the sockets only when a line arrives on stdin (a connection
storm in the middle of a step). When a line arrives on stdin (the path of a JSON file `{"<team>#<k>": scored_at
epoch seconds}`), it closes its sockets and prints one JSON line: push delays (p50/p95/p99/max,
seen/expected/missing, counting for each submission the viewers that were following when it was scored), how long
the WebSocket handshakes and the first whole board took, messages and characters received by type, sockets lost,
its own CPU use and its event loop's lag (p99/max: whether it kept up), from the moment it began opening sockets
with `--wait`, from `ready` otherwise."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from pathlib import Path

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from bench.loadgen.figures import Sightings, live_decoder, percentile, push_delays, spread


class LoopLag:
    """How late a 50 ms tick wakes up: a generator whose loop lags measures itself, not the platform."""

    def __init__(self, tick_s: float = 0.05) -> None:
        self.tick_s = tick_s
        self.lags: list[float] = []

    async def run(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(self.tick_s)
            self.lags.append(time.perf_counter() - started - self.tick_s)

    def figures(self) -> dict[str, float]:
        return {"loop_lag_p99_ms": percentile(self.lags, 99) * 1000,
                "loop_lag_max_ms": max(self.lags, default=0.0) * 1000}


class Viewers:
    def __init__(self, url: str, task: str, tokens: list[str], count: int, compression: str | None) -> None:
        self.url = f"{url.replace('http://', 'ws://', 1)}/ws"
        self.tokens = [tokens[i % len(tokens)] for i in range(count)]
        self.task = task
        self.compression = compression
        self.sightings = Sightings()
        self.sockets: list[ClientConnection] = []
        self.receivers: list[asyncio.Task[None]] = []
        self.joined = [math.nan] * count  # per viewer: when it asked to follow the task (epoch seconds)
        self.handshakes: list[float] = []  # seconds, per viewer connected: the WebSocket opening handshake
        self.first_boards: list[float] = []  # seconds, per viewer: from its first connection attempt to its board
        self.messages: dict[str, int] = {}  # by type: board (whole), board_delta, submission, queue, …
        self.bytes: dict[str, int] = {}
        self.errors: list[str] = []
        self.closing = False

    async def open(self, ramp_s: float) -> tuple[float, float]:
        """Open every socket, spread over `ramp_s`, follow the task on each and receive from it at once; the
        seconds from the first attempt to the last attempt (the generator's own pace: longer than `ramp_s` when its
        loop is busy) and to the last socket following."""
        pause = ramp_s / max(1, len(self.tokens))
        began = time.perf_counter()

        async def one(viewer: int, token: str) -> None:
            started = time.perf_counter()
            try:
                # As the web page does: the token in a subprotocol (a browser cannot set headers on a WebSocket).
                socket = await connect(self.url, max_queue=None, open_timeout=60, ping_interval=None,
                                       compression=self.compression,
                                       subprotocols=[Subprotocol("podium"), Subprotocol(f"bearer.{token}")])
                self.handshakes.append(time.perf_counter() - started)
                self.joined[viewer] = time.time()
                await socket.send(json.dumps({"follow": [self.task]}))
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                self.errors.append(f"connect: {type(exc).__name__}: {exc}")
                return
            self.sockets.append(socket)
            self.receivers.append(asyncio.create_task(self.receive(viewer, socket, started)))

        pending = []
        for viewer, token in enumerate(self.tokens):
            pending.append(asyncio.create_task(one(viewer, token)))
            # Each attempt at its time on the ramp: a loop kept busy by the sockets already open (their whole boards)
            # catches up at once instead of stretching the ramp, so the storm has the pace it was asked for.
            if (ahead := began + (viewer + 1) * pause - time.perf_counter()) > 0:
                await asyncio.sleep(ahead)
        asked = time.perf_counter() - began
        await asyncio.gather(*pending)
        return asked, time.perf_counter() - began

    async def receive(self, viewer: int, socket: ClientConnection, started: float) -> None:
        counts: dict[str, int] = {}
        first_board = True
        try:
            async for raw in socket:
                now = time.time()
                message = live_decoder.decode(raw)
                self.messages[message.type] = self.messages.get(message.type, 0) + 1
                self.bytes[message.type] = self.bytes.get(message.type, 0) + len(raw)
                if message.type == "board" and message.public is not None:
                    if first_board:
                        self.first_boards.append(time.perf_counter() - started)
                        first_board = False
                    self.sightings.observe(viewer, counts, message.public, now)
                elif message.type == "board_delta" and message.changed is not None:
                    self.sightings.observe(viewer, counts, message.changed, now)
        except websockets.WebSocketException as exc:
            if not self.closing:
                self.errors.append(f"socket lost: {type(exc).__name__}: {exc}")
            return
        if not self.closing:
            self.errors.append(f"socket closed by the gateway: {socket.close_code} {socket.close_reason}")


def _spread(values: list[float]) -> dict[str, float]:
    p50, p95, p99 = spread(values, 1.0)
    return {"p50": p50, "p95": p95, "p99": p99, "max": max(values, default=math.nan), "count": len(values)}


async def run(args: argparse.Namespace) -> None:
    tokens = args.tokens_file.read_text().split()
    viewers = Viewers(args.url, args.task, tokens, args.count, None if args.compression == "none" else "deflate")
    lag = LoopLag()
    if args.wait:  # the storm is part of what is measured: the generator's CPU and lag count from here
        print(json.dumps({"waiting": True}), flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        lag_task, cpu0, wall0 = asyncio.create_task(lag.run()), time.process_time(), time.perf_counter()
        asked_s, opened_s = await viewers.open(args.ramp_s)
    else:
        asked_s, opened_s = await viewers.open(args.ramp_s)
        lag_task, cpu0, wall0 = asyncio.create_task(lag.run()), time.process_time(), time.perf_counter()
    print(json.dumps({"ready": len(viewers.sockets), "open_s": opened_s, "errors": viewers.errors[:5]}), flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    viewers.closing = True
    lag_task.cancel()
    await asyncio.gather(*(s.close() for s in viewers.sockets), return_exceptions=True)
    await asyncio.gather(*viewers.receivers, return_exceptions=True)
    scored_at = json.loads(Path(line.strip()).read_text()) if line.strip() else {}  # noqa: ASYNC240 — once
    push = push_delays(viewers.sightings, scored_at, viewers.joined)
    print(json.dumps({
        "push": push.as_dict(), "handshake": _spread(viewers.handshakes), "first_board": _spread(viewers.first_boards),
        "asked_s": asked_s, "open_s": opened_s, "messages": viewers.messages, "bytes": viewers.bytes,
        "errors": len(viewers.errors), "first_errors": viewers.errors[:5],
        "cpu_s": cpu, "cpu_cores": cpu / wall if wall else 0.0, **lag.figures(),
    }), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.loadgen.viewers", description=(__doc__ or "").partition("\n")[0]
    )
    parser.add_argument("--url", required=True, help="the gateway, http://127.0.0.1:PORT")
    parser.add_argument("--task", required=True)
    parser.add_argument("--tokens-file", type=Path, required=True, help="access tokens, one per line")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--compression", choices=["deflate", "none"], default="deflate",
                        help="offer permessage-deflate (as browsers do) or not")
    parser.add_argument("--ramp-s", type=float, default=10.0, help="seconds over which the sockets open")
    parser.add_argument("--wait", action="store_true",
                        help="open the sockets only when a line arrives on stdin (a connection storm within a step)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
