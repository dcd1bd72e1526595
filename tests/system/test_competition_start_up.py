"""Start-up of an empty and of a running platform (its own servers: it changes what a start finds): the seed
applies only while no competition exists; a host's PODIUM_COMPETITION_FILE applies at each start where it differs
(and says so in the log), never twice; the bucket every service follows holds the current version afterwards."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from deploy.demo import seed_ground_truth
from deploy.stack import EmbeddedStack, StackPorts
from podium_runtime.competition import KEY
from podium_runtime.connections import create_s3
from podium_runtime.service import command_bus
from proto.competition import CompetitionVersion, parse_competition
from submission_service.app import SubmissionServiceSettings, create_host
from submission_service.bootstrap import NAME, bootstrap

SEED = Path(__file__).resolve().parents[2] / "deploy" / "competition.toml"
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    with EmbeddedStack(tmp_path_factory.mktemp("start-up"), StackPorts.free(), durable=False) as started:
        seed_ground_truth(create_s3(started.settings()), parse_competition(SEED.read_bytes()))
        yield started


@contextlib.asynccontextmanager
async def start(stack: EmbeddedStack, *, seed: Path | None = SEED, file: Path | None = None) -> AsyncIterator[Any]:
    """submission_service's start-up as its app runs it (its Deps, then the host's `start_up`)."""
    common: dict[str, Any] = {k.removeprefix("PODIUM_").lower(): v for k, v in stack.env().items()}
    settings = SubmissionServiceSettings(**common, competition_seed=seed, competition_file=file)
    async with command_bus(NAME, settings) as bus, bootstrap(settings, bus) as deps:
        host = create_host(settings, deps)
        await host.start_up(settings.competition_seed, settings.competition_file)
        yield host, deps


async def in_bucket(deps: Any) -> CompetitionVersion:
    entry = await deps.competition_bucket.get(KEY)
    return msgspec.json.decode(entry.value, type=CompetitionVersion)


async def test_the_seed_applies_once_and_a_hosts_file_whenever_it_differs(
        stack: EmbeddedStack, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with start(stack, seed=SEED) as (host, deps):
        first = host.competition.version
        assert (first.version, first.created_by) == (1, "file:competition.toml")
        assert [t.id for t in first.competition.tasks] == ["reconstruction", "digits", "churn"]
        assert all(t.has_ground_truth for t in first.competition.tasks)  # the seeded objects, their digests recorded
        assert (await in_bucket(deps)).version == 1

    other_seed = tmp_path / "seed.toml"
    other_seed.write_text(SEED.read_text().replace("daily_quota = 20", "daily_quota = 3"))
    async with start(stack, seed=other_seed) as (host, deps):
        assert host.competition.version.version == 1  # a seed never overrides an existing competition

    hosts_file = tmp_path / "ours.toml"
    hosts_file.write_text(SEED.read_text().replace("daily_quota = 20", "daily_quota = 7", 1))
    caplog.clear()
    async with start(stack, seed=SEED, file=hosts_file) as (host, deps):
        applied = host.competition.version
        assert (applied.version, applied.created_by) == (2, "file:ours.toml")
        assert applied.changes == ("task reconstruction: daily_quota 20 → 7",)
        assert applied.competition.tasks[0].ground_truth_sha256 == first.competition.tasks[0].ground_truth_sha256
        assert (await in_bucket(deps)).version == 2
    assert any(r.getMessage() == "applied the competition file" for r in caplog.records)

    async with start(stack, file=hosts_file) as (host, deps):
        assert host.competition.version.version == 2  # the same file again: nothing changes


async def test_a_bad_file_stops_the_start_and_changes_nothing(stack: EmbeddedStack, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(SEED.read_text().replace("daily_quota = 20", "daily_quota = -1", 1))
    with pytest.raises(Exception, match="task reconstruction, field daily_quota"):
        async with start(stack, file=bad):
            pass
    async with start(stack) as (host, _deps):
        assert all(t.daily_quota > 0 for t in host.competition.current.tasks)
