"""Driving the `podium` CLI against the real platform (the gateway as its own process): each test gets its own
credentials folder, so logins never leak between tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
import pytest
from litestar.testing import AsyncTestClient

from deploy.demo import make_ground_truth, noisy_submission, npy_zip
from proto.competition import Competition
from tests.api import new_team
from tests.cli.podium_runner import Cli, Team, ok
from tests.conftest import ADMIN, task_of


@pytest.fixture
def make_cli(gateway_url: str, tmp_path: Path) -> Callable[[], Cli]:
    count = iter(range(1000))
    return lambda: Cli(gateway_url, tmp_path / f"config-{next(count)}")


@pytest.fixture
async def admin_cli(make_cli: Callable[[], Cli]) -> Cli:
    podium = make_cli()
    ok(await podium("login", "--name", ADMIN[0], "--password", ADMIN[1]))
    return podium


@pytest.fixture
def make_team(gateway: AsyncTestClient, admin_token: str, make_cli: Callable[[], Cli]
              ) -> Callable[[], Awaitable[Team]]:
    """A fresh team, logged in through `podium login`."""

    async def make() -> Team:
        team_id, name, password = await new_team(gateway, admin_token)
        podium = make_cli()
        ok(await podium("login", "--name", name, "--password", password))
        return Team(team_id, name, password, podium)

    return make


@pytest.fixture(scope="session")
def truths(competition: tuple[Path, Competition]) -> dict[str, dict[str, np.ndarray]]:
    return {task: make_ground_truth(task_of(competition, task)) for task in ("recon", "lab")}


@pytest.fixture
def archive(tmp_path: Path, truths: dict[str, dict[str, np.ndarray]]) -> Callable[..., Path]:
    """A ZIP of the task's ground truth plus noise, written to a file."""
    count = iter(range(1000))

    def write(task: str = "recon", noise: float = 0.05, seed: int = 0) -> Path:
        path = tmp_path / f"{task}-{next(count)}.zip"
        path.write_bytes(npy_zip(noisy_submission(truths[task], noise, seed=seed)))
        return path

    return write
