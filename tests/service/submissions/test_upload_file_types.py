"""A file that cannot be a submission to the task (a .txt, a model sent to a ZIP task, a ZIP declared as text) is
refused when its upload starts, on both upload paths, with 415 and what the task takes: no submission is created
and no quota slot is spent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from litestar.testing import AsyncTestClient

from deploy.demo import make_ground_truth, npy_zip
from proto.competition import Competition
from tests.api import bearer, team_token
from tests.conftest import task_of

ZIP_TASK = "task recon takes a ZIP of the result tensors, a .zip file"
MODEL_TASK = "task digits takes an ONNX model, a .onnx file"


Send = Callable[[AsyncTestClient, str], Awaitable[httpx.Response]]


async def presigned_start(client: AsyncTestClient, token: str, task: str, filename: str, **more: str
                          ) -> httpx.Response:
    return await client.post("/api/v1/submissions", headers=bearer(token),
                             json={"task_id": task, "filename": filename, "size_bytes": 100, **more})


def presigned(task: str, filename: str, **more: str) -> Send:
    return lambda client, token: presigned_start(client, token, task, filename, **more)


def direct(path: str, filename: str, content_type: str) -> Send:
    return lambda client, token: client.post(path, headers=bearer(token),
                                             files={"file": (filename, b"hello\n" * 20, content_type)})


@pytest.mark.parametrize(("send", "task", "reason"), [
    pytest.param(presigned("recon", "notes.txt"), "recon", f"{ZIP_TASK}; got 'notes.txt'", id="presigned .txt"),
    pytest.param(presigned("recon", "preds.zip", content_type="text/plain"), "recon",
                 f"{ZIP_TASK}; got 'preds.zip' sent as 'text/plain'", id="presigned .zip declared as text"),
    pytest.param(direct("/api/v1/tasks/recon/submissions", "notes.txt", "text/plain"), "recon",
                 f"{ZIP_TASK}; got 'notes.txt'", id="direct .txt"),
    pytest.param(direct("/submit/task1", "notes.txt", "application/zip"), "recon", f"{ZIP_TASK}; got 'notes.txt'",
                 id="MLS-GOAT route .txt"),
    pytest.param(direct("/submissions/recon", "preds.zip", "text/plain"), "recon",
                 f"{ZIP_TASK}; got 'preds.zip' sent as 'text/plain'", id="direct .zip sent as text/plain"),
    pytest.param(direct("/submit/recon", "model.onnx", "application/octet-stream"), "recon",
                 f"{ZIP_TASK}; got 'model.onnx'", id="direct .onnx to a ZIP task"),
    pytest.param(direct("/submit/task2", "preds.zip", "application/zip"), "digits", f"{MODEL_TASK}; got 'preds.zip'",
                 id="direct .zip to a model task"),
])
async def test_a_wrong_file_is_refused_before_it_takes_a_quota_slot(
    gateway: AsyncTestClient, admin_token: str, competition: tuple[object, Competition], send: Send, task: str,
    reason: str,
) -> None:
    _, token = await team_token(gateway, admin_token)

    refused = await send(gateway, token)

    assert refused.status_code == 415 and refused.json()["detail"] == reason, refused.text
    assert (await gateway.get("/api/v1/submissions", headers=bearer(token))).json() == []
    accepted = await presigned_start(gateway, token, task, "model.onnx" if task == "digits" else "preds.zip")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["quota_left"] == task_of(competition, task).daily_quota - 1


async def test_the_goat_clients_files_are_still_accepted(
    gateway: AsyncTestClient, admin_token: str, competition: tuple[object, Competition]
) -> None:
    # MLS-GOAT's submit.py: application/zip for task1's ZIP; application/octet-stream for task2's .onnx.
    _, token = await team_token(gateway, admin_token)
    archive = npy_zip(make_ground_truth(task_of(competition, "recon")))
    scored = await gateway.post("/submit/task1?wait=30", headers=bearer(token),
                                files={"file": ("team_task1.zip", archive, "application/zip")})
    assert scored.status_code == 200 and scored.json()["status"] == "scored", scored.text
    started = await gateway.post("/submit/task2", headers=bearer(token),
                                 files={"file": ("team_task2.onnx", b"not really a model", "application/octet-stream")})
    # A model answers at once, MLS-GOAT's way: 202 and the submission's id.
    assert started.status_code == 202, started.text
    submission = await gateway.get(f"/api/v1/submissions/{started.json()['id']}", headers=bearer(token))
    assert submission.json()["filename"] == "team_task2.onnx", submission.text
