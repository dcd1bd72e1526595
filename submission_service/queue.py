"""Where a queued submission stands: its place in its scorer pool's queue and when its score should arrive.

JetStream delivers a pool's jobs in the order the outbox published them, which is the order submissions were
accepted (their ids), so a submission's place is its rank among the pool's accepted, not-yet-started
submissions. The expected wait uses how long the pool's recent jobs really took and how many workers it has."""

from __future__ import annotations

import math
from dataclasses import dataclass

# Live position updates go to the first this-many places of a queue (the rest move when they get there).
PUSHED_POSITIONS = 200
# A pool's places are announced at most this often (a deadline rush accepts many a second; a person reads a place
# no faster, and the gateway pushes boards at most every 0.2 s too).
POSITIONS_INTERVAL_S = 0.25


@dataclass(frozen=True)
class PoolState:
    kind: str
    queued: tuple[tuple[int, int], ...]  # (submission id, team id), next first
    average_s: float | None  # scoring time of the pool's recent jobs
    workers: int
    in_flight: int

    def position(self, submission_id: int) -> int | None:
        for place, (queued_id, _team) in enumerate(self.queued, start=1):
            if queued_id == submission_id:
                return place
        return None

    def eta_s(self, position: int) -> float | None:
        """Seconds until the score: the jobs in flight and the `position` jobs up to this one, in rounds of
        one job per worker (an estimate that errs late by at most one job)."""
        if self.average_s is None:
            return None
        rounds = math.ceil((self.in_flight + position) / max(self.workers, 1))
        return round(rounds * self.average_s, 3)
