"""The load generator's arithmetic, free of sockets and clocks: percentiles, what a viewer learns from a board
message, push delays, and the summary table. Tested in `tests/unit/bench/test_loadgen_figures.py`."""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import msgspec


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (`q` in 0..100) of `values`; NaN when there are none."""
    return _ranked(sorted(values), q)


def _ranked(ordered: Sequence[float], q: float) -> float:
    if not ordered:
        return math.nan
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def spread(values: Sequence[float], scale: float = 1000.0) -> tuple[float, float, float]:
    """p50, p95 and p99 of `values` times `scale` (seconds → milliseconds by default)."""
    ordered = sorted(values)
    return _ranked(ordered, 50) * scale, _ranked(ordered, 95) * scale, _ranked(ordered, 99) * scale


def sighting_key(team_name: str, count: int) -> str:
    """A team's `count`-th scored submission, as the board shows it (its `submissions` figure reaching `count`)."""
    return f"{team_name}#{count}"


class BoardEntry(msgspec.Struct):
    team_name: str
    submissions: int


class LiveMessage(msgspec.Struct):
    """What a viewer reads from `/ws`: a whole board (`public`) or a delta (`changed`); other fields ignored."""

    type: str
    public: list[BoardEntry] | None = None
    changed: list[BoardEntry] | None = None


live_decoder = msgspec.json.Decoder(LiveMessage)


class Sightings:
    """The moment each viewer first saw each team's k-th scored submission on the board.

    A board message lists teams with their count of scored submissions; a viewer that sees team T at n, having
    last seen it at m < n, sees T's submissions m+1 … n at that moment (a coalesced whole board stands for the
    deltas it replaced). One instance serves every viewer of a process (each identified by its index); each
    viewer keeps its own counts. While the step runs, `observe` keeps one record per team that moved on (its first
    whole board lists every team: a record each, not one per submission it counts, which in a connection storm took a
    fifth of the generator's profile on the cores the platform shares); `by_submission` spells them out afterwards."""

    def __init__(self) -> None:
        self._teams: list[str] = []
        self._viewers = array("I")
        self._first = array("I")  # the team's submissions first … last were seen at `_at`
        self._last = array("I")
        self._at = array("d")

    def observe(self, viewer: int, counts: dict[str, int], entries: Iterable[BoardEntry], now: float) -> None:
        for entry in entries:
            known = counts.get(entry.team_name, 0)
            if entry.submissions > known:
                self._teams.append(entry.team_name)
                self._viewers.append(viewer)
                self._first.append(known + 1)
                self._last.append(entry.submissions)
                self._at.append(now)
                counts[entry.team_name] = entry.submissions

    def by_submission(self) -> tuple[dict[str, array[float]], dict[str, array[int]]]:
        """Per sighting key: when each viewer that saw it did, and which viewer (in the same order)."""
        seen_at: dict[str, array[float]] = {}
        seen_by: dict[str, array[int]] = {}
        for team, viewer, first, last, at in zip(self._teams, self._viewers, self._first, self._last, self._at,
                                                 strict=True):
            for k in range(first, last + 1):
                key = sighting_key(team, k)
                seen_at.setdefault(key, array("d")).append(at)
                seen_by.setdefault(key, array("I")).append(viewer)
        return seen_at, seen_by


@dataclass(frozen=True)
class PushFigures:
    delays: list[float]  # seconds, one per (viewer, scored submission) seen
    expected: int  # per scored submission, the viewers that were following the board when it was scored
    missing: int  # of those, never seen by a viewer before it closed

    def as_dict(self) -> dict[str, object]:
        p50, p95, p99 = spread(self.delays, 1.0)
        return {"p50": p50, "p95": p95, "p99": p99, "max": max(self.delays, default=math.nan),
                "seen": len(self.delays), "expected": self.expected, "missing": self.missing}


def push_delays(sightings: Sightings, scored_at: Mapping[str, float], joined: Sequence[float]) -> PushFigures:
    """Per scored submission and viewer that was following the board when it was scored (`joined[viewer]`: when
    the viewer asked to follow, epoch seconds; NaN for one that never connected): when the viewer saw it on the
    board minus when it was scored. A viewer that joined later got it in its first whole board, which is not a
    push: it is neither expected nor counted."""
    following = sorted(j for j in joined if not math.isnan(j))
    seen_at, seen_by = sightings.by_submission()
    delays: list[float] = []
    expected = 0
    for key, at in scored_at.items():
        expected += bisect.bisect_right(following, at)
        delays.extend(seen - at for seen, viewer in zip(seen_at.get(key, ()), seen_by.get(key, ()), strict=True)
                      if joined[viewer] <= at)
    return PushFigures(delays, expected, expected - len(delays))


def render_table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table: a header, a rule, one line per row; numbers right-aligned."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(columns)]
    numeric = [all(isinstance(row[i], int | float) for row in rows) for i in range(len(columns))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True))

    return "\n".join([line(columns), "  ".join("-" * w for w in widths), *(line(r) for r in cells)]).rstrip()


def _cell(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
