"""MLS-GOAT's own clients against Podium, unchanged: `GOAT/submit.py`, `GOAT/leaderboard.py` and its frontend's
`api.ts` call `<host>/api/...`. Each request here is theirs — the same method, path under `/api`, multipart field
names, form fields, query strings and headers, sent with `requests` as `submit.py` sends them — against the gateway
as its own process on a real socket, with auth_service, submission_service, the scorers and leaderboard_service as
processes over real NATS, PostgreSQL and S3. Then the refusals each client can meet, each with its reason."""

from __future__ import annotations

import asyncio
import io
import os
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
import torch

from cpu_scorer.psnr import split_assignment
from deploy.demo import make_ground_truth, noisy_submission
from proto.competition import Competition
from tests.api import bearer
from tests.conftest import ADMIN, task_of
from tests.onnx_models import baseline_weights, linear_model, to_bytes

# How long a wait may last before a test gives up: only against a hang (several hops: outbox, bus, consumer).
HANG_S = 90


def _ask(method: str, url: str, **options: Any) -> requests.Response:
    options.setdefault("timeout", HANG_S)
    return requests.request(method, url, **options)


async def ask(method: str, url: str, **options: Any) -> requests.Response:
    """One request as the clients send it (`requests`), off the event loop."""
    return await asyncio.to_thread(_ask, method, url, **options)


async def until(probe: Callable[[], Any], what: str) -> Any:
    """Ask `probe` again until it answers something truthy (bounded only against a hang)."""
    async with asyncio.timeout(HANG_S):
        while not (found := await probe()):
            await asyncio.sleep(0.1)
    assert found, what
    return found


@pytest.fixture
def api(gateway_url: str) -> str:
    """MLS-GOAT's CPU_API_URL / API_BASE_URL: the host, then `/api`."""
    return f"{gateway_url}/api"


@pytest.fixture
async def admin(api: str) -> dict[str, str]:
    response = await ask("POST", f"{api}/auth/login", json={"name": ADMIN[0], "password": ADMIN[1]})
    assert response.status_code == 200, response.text
    return bearer(response.json()["access_token"])


async def new_team(api: str, admin: dict[str, str]) -> tuple[int, str, str]:
    """The frontend's `adminAPI.createTeam(name, password)`, then `submit.py`'s `_login`: (id, name, token)."""
    name, password = f"goat-{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    created = await ask("POST", f"{api}/admin/teams", json={"name": name, "password": password}, headers=admin)
    assert created.status_code == 200, created.text
    login = await ask("POST", f"{api}/auth/login", json={"name": name, "password": password})
    assert login.status_code == 200, login.text
    return created.json()["id"], name, login.json()["access_token"]


def task1_zip(folder: Path, team: str, arrays: dict[str, np.ndarray]) -> Path:
    """What `challenge1` uploads: `sample_NNNN.pt` files (torch.save) in `<team>_task1.zip`, deflated at level 6."""
    path = folder / f"{team}_task1.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, array in sorted(arrays.items()):
            buffer = io.BytesIO()
            torch.save(torch.from_numpy(array), buffer)
            archive.writestr(f"{name}.pt", buffer.getvalue())
    return path


async def submit_task1(api: str, token: str, zip_path: Path) -> requests.Response:
    """`challenge1`'s upload: Bearer header, multipart `file` as application/zip, no `?wait`."""

    def post() -> requests.Response:
        with zip_path.open("rb") as handle:
            return requests.post(f"{api}/submit/task1", headers={"Authorization": f"Bearer {token}"},
                                 files={"file": (zip_path.name, handle, "application/zip")}, timeout=600)

    return await asyncio.to_thread(post)


async def submit_task2(gpu: str, token: str, model_path: Path, batch_size: object = 8) -> requests.Response:
    """`challenge2`'s upload to the GPU server: no Authorization header; the token and batch size as form fields."""

    def post() -> requests.Response:
        with model_path.open("rb") as handle:
            return requests.post(f"{gpu}/submit/task2",
                                 files={"file": (os.path.basename(model_path), handle, "application/octet-stream")},
                                 data={"team_token": token, "batch_size": batch_size}, timeout=60)

    return await asyncio.to_thread(post)


async def board_line(api: str, task: str, team: str) -> dict | None:
    """`leaderboard.py`'s `getLB_chall*` (and `_poll_for_results`): the list, then the team's line in it."""
    response = await ask("GET", f"{api}/leaderboard/{task}", params={"team_name": team})
    assert response.status_code == 200, response.text
    return next((entry for entry in response.json() if entry["team_name"] == team), None)


# --- submit.py, Task 1 -------------------------------------------------------------------------------------------


async def test_task1_as_submit_py_sends_it_scores_and_shows_everywhere(
    api: str, admin: dict[str, str], competition: tuple[Path, Competition], tmp_path: Path
) -> None:
    team_id, team, token = await new_team(api, admin)
    me = await ask("GET", f"{api}/auth/me", headers=bearer(token))  # the frontend's getCurrentUser
    assert (me.status_code, me.json()["id"], me.json()["name"], me.json()["is_admin"]) == (200, team_id, team, False)

    task = task_of(competition, "recon")
    truth = make_ground_truth(task)
    prediction = noisy_submission(truth, 0.05, seed=31)
    response = await submit_task1(api, token, task1_zip(tmp_path, team, prediction))
    assert response.status_code == 200, response.text
    data = response.json()
    mask = split_assignment(task.samples, task.split.private_fraction, task.split.seed)
    values = np.array([10 * np.log10(1.0 / np.mean((prediction[k].astype(np.float64) - truth[k]) ** 2))
                       for k in truth])
    assert f"{data['public_score']:.2f}" == f"{values[~mask].mean():.2f}"  # what `challenge1` prints
    assert data["status"] == "scored" and data["private_score"] is None  # the board is not revealed

    # The frontend's history: all, by alias, by the task's number (1 = the competition's first task).
    lists = [await ask("GET", f"{api}/teams/me/submissions{suffix}", headers=bearer(token))
             for suffix in ("", "/task1", "/recon", "/1")]
    assert [[s["id"] for s in r.json()] for r in lists] == [[data["id"]]] * 4, [r.text for r in lists]
    assert (await ask("GET", f"{api}/teams/me/submissions/2", headers=bearer(token))).json() == []  # lab: none
    # The competition's tasks now (other tests add their own tasks to the session's competition).
    tasks = (await ask("GET", f"{api}/v1/tasks")).json()["tasks"]
    beyond = await ask("GET", f"{api}/teams/me/submissions/{len(tasks) + 1}", headers=bearer(token))
    assert beyond.status_code == 404 and "tasks are numbered 1 to" in beyond.json()["detail"], beyond.text

    # leaderboard.py: the team's line, ranked, with its score (the board follows the score within moments).
    line = await until(lambda: board_line(api, "task1", team), "the team on the task1 board")
    assert line["score"] == pytest.approx(data["public_score"]) and line["rank"] >= 1
    assert line["private_score"] is None

    # A failed submission: not a 200, and the reason is in the text `challenge1` prints.
    broken = tmp_path / "broken" / f"{team}_task1.zip"
    broken.parent.mkdir()
    broken.write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty archive: no sample in it
    refused = await submit_task1(api, token, broken)
    assert refused.status_code == 422 and "failed" in refused.json()["detail"], refused.text
    assert refused.json()["status"] == "failed" and refused.json()["submission_id"] > data["id"]


# --- submit.py, Task 2 -------------------------------------------------------------------------------------------


async def test_task2_as_submit_py_sends_it_is_queued_polled_anonymously_and_ranked(
    api: str, gateway_url: str, admin: dict[str, str], tmp_path: Path
) -> None:
    # Where models go: this gateway unless an admin says otherwise (anonymous, as `challenge2` asks).
    reset = await ask("DELETE", f"{api}/gpu-server-ip", headers=admin)
    assert reset.status_code == 200, reset.text
    assert (await ask("GET", f"{api}/gpu-server-ip", timeout=10)).json() == {"gpu_server_ip": gateway_url}
    try:
        moved = await ask("POST", f"{api}/gpu-server-ip", json={"gpu_server_ip": f"{api}/"}, headers=admin)
        assert moved.status_code == 200 and moved.json()["gpu_server_ip"] == api, moved.text
        gpu = (await ask("GET", f"{api}/gpu-server-ip", timeout=10)).json()["gpu_server_ip"]
        assert gpu == api

        _, team, token = await new_team(api, admin)
        model = tmp_path / "model.onnx"
        model.write_bytes(to_bytes(linear_model(*baseline_weights())))
        queued = await submit_task2(gpu, token, model, batch_size=8)
        assert queued.status_code == 202, queued.text
        result = queued.json()
        assert isinstance(result["queue_position"], int) and result["batch_size"] == 8
        submission_id = result["submission_id"]

        async def poll() -> dict | None:  # `_poll_for_results`, one attempt
            response = await ask("GET", f"{gpu}/submit/task2/status/{submission_id}", timeout=10)
            assert response.status_code == 200, response.text
            data = response.json()
            assert data["status"] in ("queued", "processing", "completed", "failed"), data
            return data if data["status"] in ("completed", "failed") else None

        data = await until(poll, "the model's outcome")
        assert data["status"] == "completed", data
        details = data["details"]
        printed = (f"{data['score']:.2f} {details.get('inference_time', 0):.4f}s "
                   f"{details.get('throughput_samples_per_sec', 0):.2f} {details.get('model_size_mb', 0):.2f} MB")
        assert data["score"] > 0.5 and details["throughput_samples_per_sec"] > 0 and details["inference_time"] > 0
        assert details["model_size_mb"] == pytest.approx(model.stat().st_size / 2**20, abs=1e-3), printed
        assert data["error"] is None and "team" not in str(data).lower() and team not in str(data)

        mine = (await ask("GET", f"{api}/teams/me/submissions/task2", headers=bearer(token))).json()
        assert [s["id"] for s in mine] == [result["id"]]
        assert mine[0]["public_score"] == data["score"] and '"requested_batch_size": 8' in mine[0]["details"]
        line = await until(lambda: board_line(api, "task2", team), "the team on the task2 board")
        assert line["rank"] >= 1 and line["score"] == data["score"]

        # Refusals `challenge2` prints (resp.text): each a 4xx with its reason, nothing queued.
        for batch_size, words in ((0, "batch_size must be 1 to 32, got 0"), (33, "got 33"),
                                  ("eight", "batch_size must be a whole number")):
            refused = await submit_task2(gpu, token, model, batch_size=batch_size)
            assert refused.status_code == 422 and words in refused.json()["detail"], refused.text
        forged = await submit_task2(gpu, token[:-4] + "AAAA", model)
        assert forged.status_code == 401 and "Could not validate credentials" in forged.json()["detail"], forged.text
        anonymous = await submit_task2(gpu, "", model)
        assert anonymous.status_code == 401 and "team_token" in anonymous.json()["detail"], anonymous.text
        not_onnx = tmp_path / "model2.onnx"
        not_onnx.write_bytes(b"not a model")
        bad = await submit_task2(gpu, token, not_onnx)
        assert bad.status_code == 202, bad.text  # refused by the scorer: the status says why
        failed = await until(lambda: _outcome(gpu, bad.json()["submission_id"]), "the bad model's outcome")
        assert failed["status"] == "failed" and failed["error"] and failed["score"] is None, failed
        # The status id is the only key: the bare submission id, or a wrong key, finds nothing.
        for guess in (str(result["id"]), f"{result['id']}-wrong", "garbage"):
            missing = await ask("GET", f"{gpu}/submit/task2/status/{guess}")
            assert missing.status_code == 404 and "status id" in missing.json()["detail"], missing.text
        other_task = await ask("GET", f"{gpu}/submit/task1/status/{submission_id}")
        assert other_task.status_code == 404, other_task.text
        after = (await ask("GET", f"{api}/teams/me/submissions/task2", headers=bearer(token))).json()
        assert len(after) == 2  # the refusals at the door queued nothing
    finally:
        assert (await ask("DELETE", f"{api}/gpu-server-ip", headers=admin)).status_code == 200


async def _outcome(gpu: str, status_id: str) -> dict | None:
    data = (await ask("GET", f"{gpu}/submit/task2/status/{status_id}")).json()
    return data if data["status"] in ("completed", "failed") else None


async def test_only_an_admin_sets_the_gpu_server_and_only_to_an_http_url(api: str, admin: dict[str, str]) -> None:
    _, _, token = await new_team(api, admin)
    denied = await ask("POST", f"{api}/gpu-server-ip", json={"gpu_server_ip": "https://evil.example"},
                       headers=bearer(token))
    assert denied.status_code == 403, denied.text
    assert (await ask("POST", f"{api}/gpu-server-ip", json={"gpu_server_ip": "https://x.example"})).status_code == 401
    for url, words in (("ftp://gpu.example", "http(s) URL"), ("gpu.example", "http(s) URL"), ("", "got nothing"),
                       ("https://gpu.example/?next=1", "query"), ("https://user:pw@gpu.example", "credentials")):
        refused = await ask("POST", f"{api}/gpu-server-ip", json={"gpu_server_ip": url}, headers=admin)
        assert refused.status_code == 422 and words in refused.json()["detail"], (url, refused.text)
    malformed = await ask("POST", f"{api}/gpu-server-ip", data=b"{", headers=admin)
    assert malformed.status_code == 400 and "gpu_server_ip" in malformed.json()["detail"], malformed.text


# --- the frontend: admin pages -----------------------------------------------------------------------------------


async def test_the_admin_pages_teams_submissions_and_withdrawing_a_scored_submission(
    api: str, admin: dict[str, str], competition: tuple[Path, Competition]
) -> None:
    teams = await ask("GET", f"{api}/admin/teams", headers=admin)
    assert teams.status_code == 200 and all({"id", "name", "is_admin"} <= set(t) for t in teams.json())
    names = [f"batch-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    csv = "name,password\n" + "".join(f"{n},pw-{uuid.uuid4().hex}\n" for n in names)
    batch = await ask("POST", f"{api}/admin/teams/batch", headers=admin,
                      files={"file": ("teams.csv", csv.encode(), "text/csv")})
    assert batch.status_code == 200 and batch.json()["created"] == 2 and batch.json()["teams"] == names, batch.text
    doomed = next(r["team_id"] for r in batch.json()["rows"] if r["name"] == names[0])
    deleted = await ask("DELETE", f"{api}/admin/teams/{doomed}", headers=admin)
    assert deleted.status_code == 200, deleted.text
    assert names[0] not in {t["name"] for t in (await ask("GET", f"{api}/admin/teams", headers=admin)).json()}

    # A team scores twice on lab; an admin removes the better one: the board falls back to the other.
    _, team, token = await new_team(api, admin)
    truth = make_ground_truth(task_of(competition, "lab"))
    scored = []
    for noise in (0.02, 0.2):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, array in noisy_submission(truth, noise, seed=5).items():
                archive.writestr(f"{name}.npy", _npy(array))
        response = await ask("POST", f"{api}/submit/lab", headers=bearer(token),
                             files={"file": ("lab.zip", buffer.getvalue(), "application/zip")})
        assert response.status_code == 200, response.text
        scored.append(response.json())
    best, other = sorted(scored, key=lambda s: -s["public_score"])
    line = await until(lambda: board_line(api, "lab", team), "the team on the lab board")
    assert line["score"] == pytest.approx(best["public_score"])

    everything = await ask("GET", f"{api}/admin/submissions", headers=admin, params={"limit": 1000})
    assert everything.status_code == 200, everything.text
    assert {best["id"], other["id"]} <= {s["id"] for s in everything.json()}
    assert all(s["private_score"] is not None for s in everything.json() if s["id"] in (best["id"], other["id"]))
    assert (await ask("GET", f"{api}/admin/submissions", headers=bearer(token))).status_code == 403
    assert (await ask("DELETE", f"{api}/admin/submissions/{best['id']}", headers=bearer(token))).status_code == 403

    withdrawn = await ask("DELETE", f"{api}/admin/submissions/{best['id']}", headers=admin)
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "cancelled" and "withdrawn" in withdrawn.json()["reason"], withdrawn.text

    async def fell_back() -> dict | None:
        line = await board_line(api, "lab", team)
        return line if line and line["score"] == pytest.approx(other["public_score"]) else None

    await until(fell_back, "the board counting the other submission")
    again = await ask("DELETE", f"{api}/admin/submissions/{best['id']}", headers=admin)
    assert again.status_code == 409 and "nothing to withdraw" in again.json()["detail"], again.text
    missing = await ask("DELETE", f"{api}/admin/submissions/999999999", headers=admin)
    assert missing.status_code == 404, missing.text
    history = {s["id"]: s for s in (await ask("GET", f"{api}/teams/me/submissions/lab", headers=bearer(token))).json()}
    assert history[best["id"]]["status"] == "cancelled" and "withdrawn" in history[best["id"]]["reason"]
    assert history[best["id"]]["public_score"] == best["public_score"]  # kept, for the record

    async def audited() -> list:
        entries = (await ask("GET", f"{api}/v1/admin/audit", headers=admin, params={"action": "withdraw"})).json()
        return [e for e in entries if e["target"] == str(best["id"])]

    await until(audited, "the withdrawal in the audit trail")


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


async def test_leaderboard_settings_reveal_and_hide_every_private_board(api: str, admin: dict[str, str]) -> None:
    async def settings(show: bool) -> dict | None:
        response = await ask("GET", f"{api}/leaderboard/settings")  # anonymous, as the frontend's getSettings
        assert response.status_code == 200, response.text
        return response.json() if response.json()["show_private_scores"] is show else None

    before = await settings(False)
    assert before is not None and before["tasks"] and not any(before["tasks"].values()), before
    _, _, token = await new_team(api, admin)
    denied = await ask("POST", f"{api}/admin/settings/leaderboard?show_private=true", headers=bearer(token))
    assert denied.status_code == 403, denied.text
    bad = await ask("POST", f"{api}/admin/settings/leaderboard?show_private=perhaps", headers=admin)
    assert bad.status_code == 400 and "show_private" in bad.text, bad.text
    try:
        shown = await ask("POST", f"{api}/admin/settings/leaderboard?show_private=true", headers=admin)
        assert shown.status_code == 200 and shown.json()["show_private_scores"] is True, shown.text
        await until(lambda: settings(True), "every board revealed")
        admin_view = (await ask("GET", f"{api}/admin/settings/leaderboard", headers=admin)).json()
        assert admin_view["show_private_scores"] is True and all(admin_view["tasks"].values())
    finally:
        hidden = await ask("POST", f"{api}/admin/settings/leaderboard?show_private=false", headers=admin)
        assert hidden.status_code == 200 and hidden.json()["show_private_scores"] is False, hidden.text
        await until(lambda: settings(False), "every board hidden again")


# --- the frontend: Q&A -------------------------------------------------------------------------------------------


async def test_questions_answers_and_their_deletion(api: str, admin: dict[str, str]) -> None:
    _, _, token = await new_team(api, admin)
    team = bearer(token)
    asked = await ask("POST", f"{api}/qa/questions", json={"title": "Shape?", "content": "Which shape?"}, headers=team)
    assert asked.status_code == 200, asked.text
    question = asked.json()["id"]
    assert (await ask("GET", f"{api}/qa/questions/{question}", headers=team)).json()["content"] == "Which shape?"
    assert question in {q["id"] for q in (await ask("GET", f"{api}/qa/questions", headers=team)).json()}

    not_yours = await ask("POST", f"{api}/qa/questions/{question}/answers", json={"content": "3x16x16"}, headers=team)
    assert not_yours.status_code == 403, not_yours.text
    answered = await ask("POST", f"{api}/qa/questions/{question}/answers", json={"content": "3x16x16"},
                         headers=admin)
    assert answered.status_code == 200, answered.text
    answer = answered.json()
    assert (answer["question_id"], answer["content"], answer["author_is_admin"]) == (question, "3x16x16", True)
    shown = (await ask("GET", f"{api}/qa/questions/{question}", headers=team)).json()
    assert shown["answer_count"] == 1 and shown["latest_answers"][0]["content"] == "3x16x16"

    # The asking team may delete its own question only while it is unanswered.
    late = await ask("DELETE", f"{api}/qa/questions/{question}", headers=team)
    assert late.status_code == 409 and "answered" in late.json()["detail"], late.text
    assert (await ask("DELETE", f"{api}/qa/answers/{answer['id']}", headers=team)).status_code == 403
    removed = await ask("DELETE", f"{api}/qa/answers/{answer['id']}", headers=admin)
    assert removed.status_code == 200 and removed.json()["answer_count"] == 0, removed.text
    gone = await ask("DELETE", f"{api}/qa/answers/{answer['id']}", headers=admin)
    assert gone.status_code == 404 and "Answer not found" in gone.json()["detail"], gone.text
    own = await ask("DELETE", f"{api}/qa/questions/{question}", headers=team)
    assert own.status_code == 200, own.text
    assert (await ask("GET", f"{api}/qa/questions/{question}", headers=team)).status_code == 404

    # Another team's question: invisible to this team; an admin deletes it, answered or not.
    _, _, other_token = await new_team(api, admin)
    theirs = (await ask("POST", f"{api}/qa/questions", json={"title": "T", "content": "C"},
                        headers=bearer(other_token))).json()["id"]
    assert (await ask("DELETE", f"{api}/qa/questions/{theirs}", headers=team)).status_code == 404
    await ask("POST", f"{api}/qa/questions/{theirs}/answers", json={"content": "A"}, headers=admin)
    assert (await ask("DELETE", f"{api}/qa/questions/{theirs}", headers=admin)).status_code == 200
    assert (await ask("GET", f"{api}/qa/questions/{theirs}", headers=admin)).status_code == 404

    async def audited() -> list:
        entries = (await ask("GET", f"{api}/v1/admin/audit", headers=admin, params={"target": str(theirs)})).json()
        return [e for e in entries if e["action"] == "question_deleted"]

    await until(audited, "the deletion in the audit trail")
