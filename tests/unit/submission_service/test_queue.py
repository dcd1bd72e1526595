"""A queued submission's place and expected wait, without any server."""

from __future__ import annotations

import pytest

from submission_service.queue import PoolState


def pool(queued: int = 3, average_s: float | None = 10.0, workers: int = 1, in_flight: int = 1) -> PoolState:
    return PoolState(kind="cpu", queued=tuple((100 + i, 7) for i in range(queued)), average_s=average_s,
                     workers=workers, in_flight=in_flight)


def test_the_place_is_the_rank_in_delivery_order() -> None:
    state = pool()
    assert [state.position(i) for i in (100, 101, 102)] == [1, 2, 3]
    assert state.position(999) is None


@pytest.mark.parametrize(("workers", "in_flight", "position", "eta"), [
    (1, 1, 1, 20.0),  # the running job, then this one
    (1, 0, 1, 10.0),  # an idle worker takes it at once
    (1, 1, 3, 40.0),
    (2, 2, 1, 20.0),  # two running on two workers: this one is in the second round
    (4, 1, 2, 10.0),  # enough idle workers: first round
    (0, 0, 1, 10.0),  # no worker seen: counted as one (the job waits for a scorer to start)
])
def test_the_wait_is_rounds_of_one_job_per_worker(workers: int, in_flight: int, position: int, eta: float) -> None:
    assert pool(workers=workers, in_flight=in_flight).eta_s(position) == eta


def test_no_history_means_no_estimate() -> None:
    assert pool(average_s=None).eta_s(1) is None
