"""A host's change reaches the running services without a restart: the platform's processes (submission_service,
both scorers, the leaderboard) follow the `competition` bucket. After a new version renames a task, the leaderboard
publishes that task's board again (no score needed), and the next submission is scored under the new version, its
score recording that version, the task's identity and its ground truth's digest."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
from litestar.testing import AsyncTestClient
from nats.aio.client import Client as NatsClient
from nats.js.kv import KeyValue

from deploy.demo import make_ground_truth, noisy_submission, npy_zip
from podium_runtime.rpc import call
from proto import hosting
from proto.competition import Competition, to_toml
from proto.rpc import Principal
from proto.streams import LEADERBOARDS
from tests.api import bearer, team_token
from tests.conftest import task_of

HOST = Principal(account_id="1", name="root-admin", role="admin")


async def current(nc: NatsClient) -> hosting.CompetitionDocument:
    document = await call(nc, hosting.GET_COMPETITION, hosting.GetCompetition(), 10, HOST)
    assert isinstance(document, hosting.CompetitionDocument), document
    return document


async def apply(nc: NatsClient, competition: Competition, expected: int) -> hosting.CompetitionApplied:
    applied = await call(nc, hosting.APPLY_COMPETITION, hosting.ApplyCompetition(
        document=to_toml(competition), expected_version=expected), 10, HOST)
    assert isinstance(applied, hosting.CompetitionApplied), applied
    return applied


def renamed(competition: Competition, task_id: str, title: str) -> Competition:
    return msgspec.structs.replace(competition, tasks=tuple(
        msgspec.structs.replace(task, title=title) if task.id == task_id else task for task in competition.tasks))


async def test_a_renamed_task_gets_its_board_again_and_the_next_score_names_the_new_version(
    gateway: AsyncTestClient, admin_token: str, competition: tuple[Path, Competition], nc: NatsClient
) -> None:
    before = await current(nc)
    boards = await nc.jetstream().key_value(LEADERBOARDS.name)
    watcher = await boards.watch("lab", include_history=False)
    try:
        while await watcher.updates(timeout=10) is not None:  # the board as it is now, then the end-of-values mark
            pass
        changed = await apply(nc, renamed(before.competition, "lab", "Renamed while running"), before.version)
        assert changed.changed and changed.identity_changed == []  # a title is not part of the scoring identity
        republished = await watcher.updates(timeout=10)  # no score arrived: the new version alone republished it
        assert isinstance(republished, KeyValue.Entry) and json.loads(republished.value or b"")["task_id"] == "lab"

        _, token = await team_token(gateway, admin_token)
        truth = make_ground_truth(task_of(competition, "lab"))
        response = await gateway.post("/submit/lab?wait=30", headers=bearer(token),
                                      files={"file": ("s.zip", npy_zip(noisy_submission(truth, 0.1, seed=5)))})
        assert response.json()["status"] == "scored", response.text
        message = await nc.jetstream().get_last_msg("SCORES", "score.computed.lab")
        score = json.loads(message.data or b"")
        lab = (await current(nc)).competition.task("lab")
        assert lab is not None
        assert score["submission_id"] == str(response.json()["id"])
        assert (score["competition_version"], score["identity"], score["ground_truth_sha256"]) == (
            changed.version, lab.scorer_version, lab.ground_truth_sha256)
    finally:
        await watcher.stop()
        now = await current(nc)
        await apply(nc, renamed(now.competition, "lab", task_of(competition, "lab").title), now.version)
