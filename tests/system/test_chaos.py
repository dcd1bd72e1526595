"""Faults while submissions flow (kill -9 of every service, NATS and PostgreSQL restarts, a NATS cluster losing
a node, a wiped JetStream store) on a platform of its own, then the invariants: nothing lost or stuck, each score
counted once, the board equal to a rebuild, no quota drift, and 503 with Retry-After (never 500) while the
database was away. `make chaos` runs them longer."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from bench.chaos import print_table, run

pytestmark = pytest.mark.system


def assert_nothing_lost(figures: Mapping[str, Any]) -> None:
    """Nothing stuck, every score counted once, no quota drift, the board unchanged by a rebuild, no 500."""
    assert figures["submissions accepted"] >= 20
    assert figures["stuck"] == 0, figures
    assert figures["scored"] > 0, figures
    assert figures["scored"] == figures["on the board (projection rows)"] == figures["counted by the board"], figures
    assert figures["duplicate score rows"] == 0 and figures["quota drift (teams)"] == 0, figures
    assert figures["board = rebuild"], figures
    assert figures["5xx not retried"] == 0, figures["server errors"]


@pytest.mark.timeout(420)
async def test_faults_under_load_lose_nothing_and_count_everything_once(tmp_path: Path) -> None:
    figures, log = await run(tmp_path, teams=4, settle_s=150)
    print_table(figures, log)
    assert_nothing_lost(figures)
    assert figures["503 + Retry-After answers"] > 0, figures  # the database outage was seen, and said so


@pytest.mark.timeout(420)
async def test_a_nats_cluster_loses_a_node_under_load_and_nothing_is_lost(tmp_path: Path) -> None:
    """Three nats-server processes, R3 streams; one node killed (twice, a different one), then a scorer."""
    figures, log = await run(tmp_path, teams=4, settle_s=150, cluster=True)
    print_table(figures, log)
    assert_nothing_lost(figures)


@pytest.mark.timeout(420)
async def test_a_wiped_jetstream_store_is_restored_under_load_and_nothing_is_lost(tmp_path: Path) -> None:
    """NATS restarted with an empty store (every stream, consumer and KV bucket gone), twice, once with a scorer
    down: the services declare everything again, in-flight submissions are published again from PostgreSQL,
    the board keeps every score it had, and a rebuild from the now incomplete streams is refused."""
    figures, log = await run(tmp_path, teams=4, settle_s=150, wipe=True)
    print_table(figures, log)
    assert_nothing_lost(figures)  # the rebuild was refused, so it left the board unchanged
    assert figures["rebuild refused (history lost)"], figures
