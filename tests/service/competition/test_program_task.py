"""Program tasks end to end on the running platform: a host's scoring program (put straight into the `programs`
bucket, as `podium admin program put` does, and named by key and digest in the competition) scores a task's
submissions in cpu_scorer's sandboxed warm pool. A function program scores a csv task with two columns onto the
board; a Codabench program scores a file task from its reference data; a new program is a new identity and a rescore
switches the board; hostile programs end `failed` while the next submission is scored; the team reads only the
program's ParticipantVisibleError text or "the scoring program failed", the host the reason, traceback and output."""

from __future__ import annotations

import asyncio
import hashlib
import io
import textwrap
import uuid
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from litestar.testing import AsyncTestClient
from minio import Minio
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from deploy.stack import EmbeddedStack
from podium_runtime.connections import create_s3
from proto import decode as proto_decode
from proto.events import JobLogged
from proto.storage import PROGRAMS_BUCKET
from tests.api import login, new_team
from tests.service.competition.host import Host, new_task, score_event

PROGRAM_FAILED = "the scoring program failed"
ROWS = 40

# A function program: Spearman (ranks) and Pearson between the CSV's predictions and the solution's targets, on the
# public and on the private rows. It prints a private value: its output is the host's alone.
SPEARMAN = """
    import csv
    from scipy.stats import pearsonr, spearmanr
    from podium_runtime.programs.participant import ParticipantVisibleError

    def rows(path):
        with open(path, newline="") as file:
            return list(csv.DictReader(file))

    def score(truth, submission, context):
        predicted = {row["id"]: float(row["target"]) for row in rows(submission)}
        if any(value < 0 for value in predicted.values()):
            raise ParticipantVisibleError("every prediction must be 0 or more")
        if any(value == 999 for value in predicted.values()):
            raise KeyError("a-bug-in-the-hosts-program")
        values = {}
        for split in ("Public", "Private"):
            kept = [row for row in rows(truth) if row["Usage"] == split]
            targets = [float(row["target"]) for row in kept]
            guesses = [predicted[row["id"]] for row in kept]
            values[split] = {"Spearman": float(spearmanr(targets, guesses).statistic),
                             "Pearson": float(pearsonr(targets, guesses).statistic)}
        print("private Spearman", repr(values["Private"]["Spearman"]))
        return {"public": values["Public"], "private": values["Private"], "details": {"rows": len(predicted)}}
"""

# A Codabench program, unchanged from what Codabench runs: INPUT/ref holds the reference data (unpacked from the
# ground truth's ZIP), INPUT/res the submission; it writes OUTPUT/scores.json.
CODABENCH = """
    import json, os, sys

    input_dir, output_dir = sys.argv[1], sys.argv[2]
    truth = open(os.path.join(input_dir, "ref", "labels.txt")).read().split()
    (name,) = os.listdir(os.path.join(input_dir, "res"))
    predicted = open(os.path.join(input_dir, "res", name)).read().split()
    matches = sum(a == b for a, b in zip(truth, predicted))
    with open(os.path.join(output_dir, "scores.json"), "w") as scores:
        json.dump({"Accuracy": matches / len(truth), "duration": 0.1}, scores)
"""

# One number per submission: the first version scores it as it is, the second its negation.
SIGNED = """
    def score(truth, submission, context):
        value = SIGN * float(submission.read_text())
        return {"public": {"Value": value}, "private": {"Value": value}}
"""

HOSTILE = """
    import socket, time

    def score(truth, submission, context):
        attack = submission.read_text().strip()
        if attack == "socket":
            socket.create_connection(("1.1.1.1", 80), timeout=3)
        elif attack == "sleep-forever":
            time.sleep(10**6)
        elif attack == "allocate-10-GB":
            blocks = [bytearray(1 << 30) for _ in range(10)]
        return {"public": {"Value": 1.0}, "private": {"Value": 1.0}}
"""


@pytest.fixture
def host(gateway: AsyncTestClient, admin_token: str) -> Host:
    return Host(gateway, admin_token)


@pytest.fixture(scope="module")
def storage(stack: EmbeddedStack) -> Minio:
    s3 = create_s3(stack.settings())
    if not s3.bucket_exists(PROGRAMS_BUCKET):
        s3.make_bucket(PROGRAMS_BUCKET)
    return s3


def put_program(storage: Minio, task_id: str, source: str, contract: str = "function", **limits: Any
                ) -> dict[str, Any]:
    """A program ZIP (score.py at its root) stored as `podium admin program put` stores it: the task's `program`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("score.py", textwrap.dedent(source))
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    key = f"{task_id}/{digest}.zip"
    storage.put_object(PROGRAMS_BUCKET, key, io.BytesIO(data), len(data), content_type="application/zip")
    return {"key": key, "sha256": digest, "contract": contract, **limits}


def program_task(prefix: str, fmt: str, columns: list[str], **fields: Any) -> dict[str, Any]:
    task = new_task(prefix, format=fmt, metric="program", daily_quota=20, max_upload_bytes=100_000,
                    metrics=[{"name": "program", "column": column, "primary": place == 0}
                             for place, column in enumerate(columns)], **fields)
    del task["shape"], task["samples"]
    return task


@pytest.fixture
async def logged(nc: NatsClient) -> AsyncIterator[list[JobLogged]]:
    """Every job log line published while the test runs, as the bus carries it."""
    lines: list[JobLogged] = []

    async def keep(message: Msg) -> None:
        event = proto_decode(message.data)
        assert isinstance(event, JobLogged)
        lines.append(event)

    subscription = await nc.subscribe("job.log.*", cb=keep)
    yield lines
    await subscription.unsubscribe()


async def lines_of(logged: list[JobLogged], submission_id: int, until: str) -> list[JobLogged]:
    """The submission's log lines once one holds `until` (log lines travel over core NATS beside the outcome)."""
    async with asyncio.timeout(30):
        while True:
            lines = [line for line in logged if line.submission_id == str(submission_id)]
            if any(until in line.line for line in lines):
                return lines
            await asyncio.sleep(0.05)


async def admin_log(host: Host, submission_id: int, until: str) -> list[str]:
    async with asyncio.timeout(30):
        while True:
            response = await host.client.get(f"/api/v1/submissions/{submission_id}/logs", headers=host.headers)
            assert response.status_code == 200, response.text
            lines = [line["line"] for line in response.json()["lines"]]
            if any(until in line for line in lines):
                return lines
            await asyncio.sleep(0.1)


def solution(seed: int) -> tuple[list[str], np.ndarray, np.ndarray, bytes]:
    """Ids, targets, which rows are public, and the solution CSV (half the rows public, half private)."""
    rng = np.random.default_rng(seed)
    ids = [f"row-{index:03d}" for index in range(ROWS)]
    target = rng.uniform(1, 10, ROWS).round(4)
    public = rng.permutation(np.arange(ROWS) % 2 == 0)
    usage = np.where(public, "Public", "Private")
    lines = ["id,target,Usage", *(f"{i},{t!r},{u}" for i, t, u in zip(ids, target.tolist(), usage, strict=True))]
    return ids, target, public, ("\n".join(lines) + "\n").encode()


def predictions(ids: list[str], values: np.ndarray) -> bytes:
    return ("\n".join(["id,target", *(f"{i},{v!r}" for i, v in zip(ids, values.tolist(), strict=True))]) + "\n"
            ).encode()


def pearson(truth: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.corrcoef(truth, predicted)[0, 1])


def spearman(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Pearson's correlation of the ranks (the values here have no ties)."""
    return pearson(np.argsort(np.argsort(truth)), np.argsort(np.argsort(predicted)))


async def team(host: Host) -> tuple[int, str, str]:
    team_id, name, password = await new_team(host.client, host.token)
    return team_id, name, await login(host.client, name, password)


async def test_a_function_program_scores_a_csv_task_with_two_columns_onto_the_board(
    host: Host, storage: Minio, nc: NatsClient, logged: list[JobLogged]
) -> None:
    task = program_task("spearman", "csv", ["Spearman", "Pearson"])
    task["program"] = put_program(storage, task["id"], SPEARMAN)
    await host.add_task(task)
    ids, target, public, truth = solution(seed=3)
    assert (await host.upload_ground_truth(task["id"], truth)).status_code == 200
    team_id, _, token = await team(host)
    values = np.abs(target + np.random.default_rng(4).normal(0, 2, ROWS).round(4))

    scored = await host.submit(token, task["id"], "predictions.csv", predictions(ids, values), "text/csv")
    assert scored["status"] == "scored", scored
    expected = {"Spearman": spearman(target[public], values[public]),
                "Pearson": pearson(target[public], values[public])}
    private = {"Spearman": spearman(target[~public], values[~public]),
               "Pearson": pearson(target[~public], values[~public])}
    assert scored["public_score"] == pytest.approx(expected["Spearman"], abs=1e-12), scored
    assert scored["metrics"] == {"Spearman_public": pytest.approx(expected["Spearman"], abs=1e-12),
                                 "Pearson_public": pytest.approx(expected["Pearson"], abs=1e-12)}, scored
    assert scored["private_score"] is None, scored
    event = await score_event(nc, task["id"], scored["id"])
    assert event.public_columns == pytest.approx(expected) and event.private_columns == pytest.approx(private)
    line = await host.board_line(task["id"], team_id, token)
    assert line["score"] == pytest.approx(expected["Spearman"], abs=1e-12), line

    # The program's own details and output are the host's: a private value it prints never reaches a team's line.
    assert (await host.details(scored["id"]))["program_details_private"] == {"rows": ROWS}
    assert "program_details_private" not in await host.details(scored["id"], token)
    shown = repr(private["Spearman"])
    lines = await lines_of(logged, scored["id"], f"private Spearman {shown}")
    assert [line.line for line in lines if line.host_only] == [f"stdout: private Spearman {shown}"], lines
    assert not [line for line in lines if not line.host_only and shown in line.line], lines

    # The csv reader's checks come first: a participant's mistake is refused with the reader's reason.
    missing = await host.submit(token, task["id"], "predictions.csv", predictions(ids[1:], values[1:]), "text/csv")
    assert missing["status"] == "failed", missing
    assert missing["reason"] == ("the ids in column 'id' do not match the task's: 1 of the task's 40 ids is missing "
                                 "('row-000')"), missing


async def test_the_team_reads_a_participant_visible_error_and_the_host_a_crash_s_traceback(
    host: Host, storage: Minio, logged: list[JobLogged]
) -> None:
    task = program_task("crash", "csv", ["Spearman", "Pearson"])
    task["program"] = put_program(storage, task["id"], SPEARMAN)
    await host.add_task(task)
    ids, target, _, truth = solution(seed=5)
    assert (await host.upload_ground_truth(task["id"], truth)).status_code == 200
    _, _, token = await team(host)

    negative = await host.submit(token, task["id"], "p.csv", predictions(ids, target - 100), "text/csv")
    assert (negative["status"], negative["reason"]) == ("failed", "every prediction must be 0 or more"), negative

    crashed = await host.submit(token, task["id"], "p.csv", predictions(ids, np.full(ROWS, 999.0)), "text/csv")
    assert (crashed["status"], crashed["reason"]) == ("failed", PROGRAM_FAILED), crashed
    admin_lines = await admin_log(host, crashed["id"], "a-bug-in-the-hosts-program")
    assert "the scoring program failed: the program raised KeyError" in admin_lines, admin_lines
    assert any(line.startswith("Traceback") for line in admin_lines), admin_lines
    lines = await lines_of(logged, crashed["id"], "a-bug-in-the-hosts-program")
    team_lines = [line.line for line in lines if not line.host_only]
    assert team_lines[-1] == f"not scored: {PROGRAM_FAILED}", team_lines
    assert not [line for line in team_lines if "Traceback" in line or "KeyError" in line or "bug" in line]

    # The failure was the program's, not the platform's: never retried, and the next submission is scored.
    fine = await host.submit(token, task["id"], "p.csv", predictions(ids, target + 1), "text/csv")
    assert fine["status"] == "scored" and fine["public_score"] == pytest.approx(1.0), fine


async def test_a_codabench_program_scores_a_file_task_from_its_reference_data(host: Host, storage: Minio) -> None:
    task = program_task("codabench", "file", ["Accuracy"])
    task["program"] = put_program(storage, task["id"], CODABENCH, contract="codabench")
    await host.add_task(task)
    reference = io.BytesIO()
    with zipfile.ZipFile(reference, "w") as archive:
        archive.writestr("labels.txt", "cat dog dog cat bird\n")
    assert (await host.upload_ground_truth(task["id"], reference.getvalue())).status_code == 200
    shown = next(t for t in (await host.client.get("/api/v1/tasks")).json()["tasks"] if t["id"] == task["id"])
    assert shown["expected_format"].startswith("a file, sent as it is"), shown
    team_id, _, token = await team(host)

    scored = await host.submit(token, task["id"], "answers.txt", b"cat dog cat cat bird\n", "text/plain")
    assert scored["status"] == "scored", scored
    assert scored["public_score"] == pytest.approx(0.8) and scored["metrics"] == {"Accuracy_public": 0.8}, scored
    assert (await host.details(scored["id"]))["program_details_private"] == {"other_scores": {"duration": 0.1}}
    assert (await host.board_line(task["id"], team_id, token))["score"] == pytest.approx(0.8)


async def _order(host: Host, task_id: str, *, other_than: list[str] | None = None) -> list[str]:
    async with asyncio.timeout(30):
        while True:
            board = await host.client.get(f"/api/v1/leaderboards/{task_id}", headers=host.headers)
            order = [entry["team_name"] for entry in board.json().get("public") or []]
            if board.status_code == 200 and len(order) == 2 and order != other_than:
                return order
            await asyncio.sleep(0.1)


async def _rescored(host: Host, rescore_id: str) -> dict[str, Any]:
    async with asyncio.timeout(90):
        while True:
            report = await host.client.get(f"/api/v1/admin/rescores/{rescore_id}", headers=host.headers)
            if report.status_code == 200 and report.json()["completed"]:
                return report.json()
            await asyncio.sleep(0.2)


async def test_a_new_program_is_a_new_identity_and_a_rescore_switches_the_board(host: Host, storage: Minio) -> None:
    task = program_task("signed", "file", ["Value"])
    task["program"] = put_program(storage, task["id"], "SIGN = 1\n" + textwrap.dedent(SIGNED))
    await host.add_task(task)
    assert (await host.upload_ground_truth(task["id"], b"no truth needed\n")).status_code == 200
    old_identity = (await host.client.get("/api/v1/admin/competition", headers=host.headers)).json()[
        "identities"][task["id"]]
    names = {}
    for value in (1, 2):
        _, name, token = await team(host)
        names[value] = name
        scored = await host.submit(token, task["id"], "value.txt", f"{value}\n".encode(), "text/plain")
        assert scored["status"] == "scored" and scored["public_score"] == value, scored
    assert await _order(host, task["id"]) == [names[2], names[1]]

    replaced = await host.edit_task(task["id"], program=put_program(storage, task["id"],
                                                                    "SIGN = -1\n" + textwrap.dedent(SIGNED)))
    assert replaced["identity_changed"] == [task["id"]] and replaced["stale"] == {task["id"]: 2}, replaced
    document = (await host.client.get("/api/v1/admin/competition", headers=host.headers)).json()
    assert document["identities"][task["id"]] != old_identity, document

    started = await host.client.post("/api/v1/admin/rescores", json={"task_id": task["id"]}, headers=host.headers)
    assert started.status_code == 202 and started.json()["submissions"] == 2, started.text
    report = await _rescored(host, started.json()["rescore_id"])
    assert {m["team_name"]: (m["old_rank"], m["new_rank"]) for m in report["movements"]} == {
        names[2]: (1, 2), names[1]: (2, 1)}, report
    assert await _order(host, task["id"], other_than=[names[2], names[1]]) == [names[1], names[2]]


@pytest.mark.parametrize(("attack", "reason"), [
    ("socket", "the program raised OSError"),
    ("sleep-forever", "the program ran longer than its wall-time limit of 3 s; it was stopped"),
    ("allocate-10-GB", "the program ran out of memory: its limit is 256.0 MiB"),
])
async def test_a_hostile_program_fails_with_a_reason_for_the_host_and_the_next_submission_scores(
    host: Host, storage: Minio, attack: str, reason: str
) -> None:
    task = program_task(f"hostile-{uuid.uuid4().hex[:4]}", "file", ["Value"])
    task["program"] = put_program(storage, task["id"], HOSTILE, wall_s=3, cpu_s=5, memory_mb=256)
    await host.add_task(task)
    assert (await host.upload_ground_truth(task["id"], b"no truth needed\n")).status_code == 200
    _, _, token = await team(host)

    failed = await host.submit(token, task["id"], "attack.txt", attack.encode(), "text/plain")
    assert (failed["status"], failed["reason"]) == ("failed", PROGRAM_FAILED), failed
    assert f"the scoring program failed: {reason}" in await admin_log(host, failed["id"], reason)
    fine = await host.submit(token, task["id"], "fine.txt", b"fine", "text/plain")
    assert fine["status"] == "scored" and fine["public_score"] == 1.0, fine
