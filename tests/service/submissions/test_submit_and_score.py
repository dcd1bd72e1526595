"""Upload → validate → score through the public API, against the real submission_service and cpu_scorer
processes, NATS, PostgreSQL and S3: both upload paths, the exact PSNR, quotas under concurrency,
ownership, every refusal with its reason (and the next good submission still scores), and nothing stuck."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import pickle
import re
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import nats.errors
import numpy as np
import pytest
import torch
from litestar.testing import AsyncTestClient
from nats.aio.client import Client as NatsClient
from nats.js.api import ConsumerConfig

from cpu_scorer.psnr import split_assignment
from deploy.demo import make_ground_truth, noisy_submission, npy_zip
from deploy.stack import EmbeddedStack
from podium_runtime.connections import create_s3
from podium_runtime.publish import publish_event
from proto import decode as proto_decode
from proto import encode as proto_encode
from proto.competition import Competition
from proto.events import SubmissionReceived, SubmissionRejected
from submission_service.reconciler import MaxDeliveriesAdvisory, Reconciler, fail_exhausted
from tests.api import bearer, team_token
from tests.conftest import task_of

TERMINAL = {"scored", "failed", "rejected", "expired"}


@pytest.fixture(scope="module")
def truth(competition: tuple[Path, Competition]) -> dict[str, dict[str, np.ndarray]]:
    return {task.id: make_ground_truth(task) for task in competition[1].tasks if task.id in ("recon", "lab")}


def expected_psnr(truth: dict[str, np.ndarray], prediction: dict[str, np.ndarray], mask: np.ndarray):  # noqa: ANN201
    values = [10 * np.log10(1.0 / np.mean((prediction[k].astype(np.float64) - truth[k]) ** 2)) for k in truth]
    values = np.array(values)
    return values[~mask].mean(), values[mask].mean()


async def upload(client: AsyncTestClient, token: str, task: str, data: bytes, *, wait: float = 30,
                 path: str = "/submit/{task}", filename: str = "submission.zip") -> httpx.Response:
    return await client.post(f"{path.format(task=task)}?wait={wait}",
                             files={"file": (filename, data, "application/zip")}, headers=bearer(token))


async def wait_terminal(client: AsyncTestClient, token: str, submission_id: int, timeout_s: float = 90) -> dict:
    """The submission once it has an outcome; `timeout_s` only bounds a hang (several hops: outbox, bus, consumer)."""
    async with asyncio.timeout(timeout_s):
        while True:
            body = (await client.get(f"/api/v1/submissions/{submission_id}", headers=bearer(token))).json()
            if body["status"] in TERMINAL:
                return body
            await asyncio.sleep(0.1)


PRIVATE_WORD = re.compile(r"private", re.IGNORECASE)


def assert_no_private(view: dict) -> None:
    """A team's view of a submission before the reveal: no private score, no private metric, not in `details`."""
    assert view["private_score"] is None, view
    assert not [name for name in view["metrics"] if PRIVATE_WORD.search(name)], view
    assert not [name for name in json.loads(view["details"]) if PRIVATE_WORD.search(name)], view


async def set_reveal(client: AsyncTestClient, admin_token: str, task: str, revealed: bool) -> None:
    """Reveal (or hide) a task's private board and wait until its board says so."""
    response = await client.post(f"/api/v1/admin/leaderboards/{task}/reveal", json={"revealed": revealed},
                                 headers=bearer(admin_token))
    assert response.status_code == 200, response.text
    async with asyncio.timeout(20):
        while (await client.get(f"/api/v1/leaderboards/{task}")).json()["private_revealed"] is not revealed:
            await asyncio.sleep(0.1)


# --- the two upload paths ----------------------------------------------------------------------------


async def test_goat_direct_upload_waits_for_the_exact_psnr(
    gateway: AsyncTestClient, admin_token: str, truth: dict, competition: tuple[Path, Competition]
) -> None:
    team_id, token = await team_token(gateway, admin_token)
    prediction = noisy_submission(truth["recon"], 0.05, seed=1)
    response = await upload(gateway, token, "task1", npy_zip(prediction), filename="team_task1.zip")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["task_id"], body["team_id"], body["filename"]) == (
        "scored", "recon", team_id, "team_task1.zip")
    task = task_of(competition, "recon")
    mask = split_assignment(task.samples, task.split.private_fraction, task.split.seed)
    public, private = expected_psnr(truth["recon"], prediction, mask)
    assert body["public_score"] == pytest.approx(public, abs=1e-4)
    # The private board is not revealed: the team sees no private value, in no field; an admin sees them all.
    assert_no_private(body)
    details = json.loads(body["details"])  # MLS-GOAT shows details as a JSON string
    assert details["score"] == body["public_score"] and details["files_evaluated"] == 12
    history = (await gateway.get("/teams/me/submissions", headers=bearer(token))).json()
    assert [s["id"] for s in history] == [body["id"]]
    assert_no_private(history[0])
    seen = (await gateway.get(f"/api/v1/submissions/{body['id']}", headers=bearer(admin_token))).json()
    assert seen["private_score"] == pytest.approx(private, abs=1e-4)
    assert seen["metrics"]["psnr_private"] == json.loads(seen["details"])["psnr_private"] == seen["private_score"]

    # The per-sample details: the team sees its public samples only; an admin sees all; another team nothing.
    url = f"/api/v1/submissions/{body['id']}/details"
    own = (await gateway.get(url, headers=bearer(token))).json()["details"]
    names = sorted(prediction)
    public_names = {names[i] for i in range(len(names)) if not mask[i]}
    assert {s["name"] for s in own["samples"]} == public_names and not any(s["private"] for s in own["samples"])
    assert np.mean([s["psnr"] for s in own["samples"]]) == pytest.approx(public, abs=1e-4)
    full = (await gateway.get(url, headers=bearer(admin_token))).json()["details"]
    assert len(full["samples"]) == 12
    _, stranger = await team_token(gateway, admin_token)
    assert (await gateway.get(url, headers=bearer(stranger))).status_code == 404


async def test_a_team_sees_its_private_score_only_while_the_board_is_revealed(
    gateway: AsyncTestClient, admin_token: str, truth: dict
) -> None:
    _, token = await team_token(gateway, admin_token)
    body = (await upload(gateway, token, "recon", npy_zip(noisy_submission(truth["recon"], 0.1, seed=4)))).json()
    assert body["status"] == "scored", body
    url = f"/api/v1/submissions/{body['id']}"
    private = (await gateway.get(url, headers=bearer(admin_token))).json()["private_score"]
    assert private is not None

    async def team_views() -> list[dict]:
        return [(await gateway.get(url, headers=bearer(token))).json(),
                *(await gateway.get("/api/v1/submissions?task_id=recon", headers=bearer(token))).json(),
                *(await gateway.get("/teams/me/submissions/task1", headers=bearer(token))).json()]

    for view in await team_views():
        assert_no_private(view)
    try:
        await set_reveal(gateway, admin_token, "task1", True)
        for view in await team_views():  # its own, now
            assert view["private_score"] == private and view["metrics"]["psnr_private"] == private, view
            assert json.loads(view["details"])["psnr_private"] == private
        # Another team's submission stays another team's: 404, revealed or not.
        _, stranger = await team_token(gateway, admin_token)
        assert (await gateway.get(url, headers=bearer(stranger))).status_code == 404
    finally:  # other tests share the task: never leave its private board revealed
        await set_reveal(gateway, admin_token, "task1", False)
    for view in await team_views():  # hidden again, on every surface at once
        assert_no_private(view)
    assert (await gateway.get(url, headers=bearer(admin_token))).json()["private_score"] == private


async def test_presigned_upload_start_put_complete(
    gateway: AsyncTestClient, admin_token: str, truth: dict
) -> None:
    _, token = await team_token(gateway, admin_token)
    data = npy_zip(noisy_submission(truth["recon"], 0.1, seed=2), compress=True)
    digest = hashlib.sha256(data).hexdigest()
    start = await gateway.post("/api/v1/submissions", headers=bearer(token), json={
        "task_id": "recon", "filename": "preds.zip", "size_bytes": len(data), "sha256": digest})
    assert start.status_code == 200, start.text
    ticket = start.json()
    assert ticket["method"] == "PUT" and ticket["quota_left"] == 4
    assert datetime.fromisoformat(ticket["expires_at"]) - datetime.now(UTC) <= timedelta(minutes=16)
    async with httpx.AsyncClient() as s3:
        assert (await s3.put(ticket["upload_url"], content=data)).status_code == 200
    done = await gateway.post(f"/api/v1/submissions/{ticket['submission_id']}/complete", json={},
                              headers=bearer(token))
    assert done.status_code == 200 and done.json()["status"] in ("received", "scoring", "scored")
    assert done.json()["sha256"] == digest
    final = await wait_terminal(gateway, token, ticket["submission_id"])
    assert final["status"] == "scored" and 19 < final["public_score"] < 21  # σ = 0.1 → 20 dB


async def test_completing_without_uploading_or_with_other_bytes_is_refused(
    gateway: AsyncTestClient, admin_token: str, nc: NatsClient, pg_pool: asyncpg.Pool, stack: EmbeddedStack
) -> None:
    storage_admin = create_s3(stack.settings())
    _, token = await team_token(gateway, admin_token)
    announced = b"x" * 100

    async def start() -> dict:
        response = await gateway.post("/api/v1/submissions", headers=bearer(token), json={
            "task_id": "recon", "filename": "a.zip", "size_bytes": len(announced),
            "sha256": hashlib.sha256(announced).hexdigest()})
        return response.json()

    ticket = await start()
    early = await gateway.post(f"/api/v1/submissions/{ticket['submission_id']}/complete", json={},
                               headers=bearer(token))
    assert early.status_code == 409 and "PUT the file" in early.json()["detail"]
    async with httpx.AsyncClient() as s3:
        # More than announced: storage itself refuses it (the URL is signed for 100 bytes), nothing to complete.
        assert (await s3.put(ticket["upload_url"], content=b"y" * 5000)).status_code == 403
        bigger = await gateway.post(f"/api/v1/submissions/{ticket['submission_id']}/complete", json={},
                                    headers=bearer(token))
        assert bigger.status_code == 409 and "PUT the file" in bigger.json()["detail"]
        await s3.put(ticket["upload_url"], content=b"y" * 100)  # the announced size, other bytes
        bigger = await gateway.post(f"/api/v1/submissions/{ticket['submission_id']}/complete", json={},
                                    headers=bearer(token))
        assert bigger.status_code == 422 and "sha256" in bigger.json()["detail"]
        other = await start()
        await s3.put(other["upload_url"], content=b"z" * 100)  # right size, other bytes
        tampered = await gateway.post(f"/api/v1/submissions/{other['submission_id']}/complete", json={},
                                      headers=bearer(token))
    assert tampered.status_code == 422 and "sha256" in tampered.json()["detail"]
    limit = 2_000_000  # the task's max_upload_bytes
    at_limit = (await gateway.post("/api/v1/submissions", headers=bearer(token), json={
        "task_id": "recon", "filename": "a.zip", "size_bytes": limit})).json()
    async with httpx.AsyncClient() as s3:
        assert (await s3.put(at_limit["upload_url"], content=b"w" * (limit + 1))).status_code == 403
        early_over = await gateway.post(f"/api/v1/submissions/{at_limit['submission_id']}/complete", json={},
                                        headers=bearer(token))
        assert early_over.status_code == 409
    # Written past the URL (straight into storage, as a store that did not check the signed length would):
    # `complete` still measures the object and refuses it.
    key = await pg_pool.fetchval("SELECT upload_key FROM submissions.submissions WHERE id = $1",
                                 at_limit["submission_id"])
    await asyncio.to_thread(storage_admin.put_object, "submissions", key, io.BytesIO(b"w" * (limit + 1)), limit + 1)
    over = await gateway.post(f"/api/v1/submissions/{at_limit['submission_id']}/complete", json={},
                              headers=bearer(token))
    assert over.status_code == 422 and "over the task's limit" in over.json()["detail"]
    statuses = {s["id"]: s["status"] for s in (await gateway.get("/submissions", headers=bearer(token))).json()}
    assert statuses == {ticket["submission_id"]: "rejected", other["submission_id"]: "rejected",
                        at_limit["submission_id"]: "rejected"}
    # Each refusal is also an event on the SUBMISSIONS stream, with the reason the participant saw.
    async with asyncio.timeout(10):  # the outbox relay publishes it just after the commit
        while True:
            stored = await nc.jetstream().get_last_msg("SUBMISSIONS", "submission.rejected.recon")
            event = proto_decode(stored.data or b"")
            if isinstance(event, SubmissionRejected) and event.submission_id == str(at_limit["submission_id"]):
                break
            await asyncio.sleep(0.05)
    assert "over the task's limit" in event.reason


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"task_id": "nope", "filename": "a.zip", "size_bytes": 10}, 404, "no task 'nope'"),
        ({"task_id": "recon", "filename": "a.zip", "size_bytes": 0}, 422, "size must be"),
        ({"task_id": "recon", "filename": "a.zip", "size_bytes": 3_000_000}, 413, "size must be"),
        ({"task_id": "recon", "filename": "a.zip", "size_bytes": 10, "sha256": "xyz"}, 422, "sha256"),
        ({"task_id": "closed", "filename": "a.zip", "size_bytes": 10}, 403, "no open phase"),
    ],
)
async def test_bad_upload_requests_are_refused(
    gateway: AsyncTestClient, admin_token: str, body: dict, status: int, words: str
) -> None:
    _, token = await team_token(gateway, admin_token)
    response = await gateway.post("/api/v1/submissions", json=body, headers=bearer(token))
    assert response.status_code == status and words in response.json()["detail"], response.text


# --- quota -------------------------------------------------------------------------------------------


async def test_fifty_concurrent_submits_with_quota_five_accept_exactly_five(
    gateway: AsyncTestClient, admin_token: str
) -> None:
    _, token = await team_token(gateway, admin_token)
    body = {"task_id": "recon", "filename": "a.zip", "size_bytes": 10}
    responses = await asyncio.gather(
        *(gateway.post("/api/v1/submissions", json=body, headers=bearer(token)) for _ in range(50))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 5 and statuses.count(429) == 45, statuses
    refused = next(r for r in responses if r.status_code == 429)
    assert "quota of 5" in refused.json()["detail"] and int(refused.headers["retry-after"]) > 0


async def test_an_expired_upload_and_an_infrastructure_failure_refund_the_quota(
    gateway: AsyncTestClient, admin_token: str, pg_pool: asyncpg.Pool, truth: dict, stack: EmbeddedStack
) -> None:
    team_id, token = await team_token(gateway, admin_token)

    async def used() -> int:
        return await pg_pool.fetchval(
            "SELECT coalesce(sum(used), 0) FROM submissions.quota_usage WHERE team_id = $1", team_id)

    abandoned = (await gateway.post("/api/v1/submissions", headers=bearer(token),
                                    json={"task_id": "recon", "filename": "a.zip", "size_bytes": 10})).json()
    scored = (await upload(gateway, token, "recon", npy_zip(truth["recon"]))).json()
    assert scored["status"] == "scored" and scored["public_score"] == 100.0  # exact match: the cap
    assert await used() == 2
    await pg_pool.execute(
        "UPDATE submissions.submissions SET upload_expires_at = now() - interval '1 hour' WHERE id = $1",
        abandoned["submission_id"])
    # As if scoring of the scored one had never finished: stuck, and out of re-publish attempts (for the service's
    # own reconciler too, which may get to these rows first: the outcome is the same).
    await pg_pool.execute(
        "UPDATE submissions.submissions SET status = 'received', updated_at = now() - interval '2 hours', "
        "scorer_version = 'psnr-stuck', republished = 1000 WHERE id = $1", scored["id"])
    storage_admin = create_s3(stack.settings())
    await Reconciler(pg_pool, storage_admin, stuck_after=timedelta(minutes=30), max_republish=0).pass_once()
    stuck = await wait_terminal(gateway, token, scored["id"])
    assert stuck["status"] == "failed" and "quota is refunded" in stuck["reason"]
    expired = (await gateway.get(f"/submissions/{abandoned['submission_id']}", headers=bearer(token))).json()
    assert expired["status"] == "expired"
    assert await used() == 0


async def scoring_again(gateway: AsyncTestClient, admin_token: str, pg_pool: asyncpg.Pool, truth: dict,
                        scorer_version: str) -> tuple[str, dict, SubmissionReceived]:
    """A new team's scored submission, put back in `scoring` under another scorer version, and the event that
    asks for that scoring (for the test to publish where no scorer reads it)."""
    _, token = await team_token(gateway, admin_token)
    scored = (await upload(gateway, token, "recon", npy_zip(truth["recon"]))).json()
    row = await pg_pool.fetchrow("SELECT * FROM submissions.submissions WHERE id = $1", scored["id"])
    assert row is not None
    await pg_pool.execute("UPDATE submissions.submissions SET status = 'scoring', scorer_version = $2 "
                          "WHERE id = $1", scored["id"], scorer_version)
    event = SubmissionReceived(
        submission_id=str(row["id"]), team_id=str(row["team_id"]), task_id="recon", kind="cpu",
        object_key=row["object_key"], sha256=row["sha256"], size_bytes=row["size_bytes"],
        submitted_at=row["received_at"], scorer_version=scorer_version, rescore_id=f"{scorer_version}-test")
    return token, scored, event


async def test_max_deliveries_advisory_ends_the_submission_failed(
    gateway: AsyncTestClient, admin_token: str, pg_pool: asyncpg.Pool, nc: NatsClient, truth: dict
) -> None:
    token, scored, event = await scoring_again(gateway, admin_token, pg_pool, truth, "psnr-x")
    # Published where no scorer consumes it, as if every delivery had failed.
    ack = await nc.jetstream().publish(
        "submission.received.unscored.recon", proto_encode(event),
        headers={"Nats-Msg-Id": event.msg_id()})
    await fail_exhausted(pg_pool, nc.jetstream(), MaxDeliveriesAdvisory(
        stream="SUBMISSIONS", consumer="cpu_scorer", stream_seq=ack.seq, deliveries=5))
    final = await wait_terminal(gateway, token, scored["id"])
    assert final["status"] == "failed" and "failed 5 times" in final["reason"]



async def test_a_message_that_really_exhausts_max_deliver_ends_the_submission_failed_with_its_quota_back(
    gateway: AsyncTestClient, admin_token: str, pg_pool: asyncpg.Pool, nc: NatsClient, truth: dict
) -> None:
    """No published advisory this time: a scorer whose infrastructure keeps failing Naks every delivery of a
    durable consumer with MaxDeliver 2, JetStream itself emits the advisory, and the submission service ends the
    submission `failed` with a reason and its quota given back."""
    token, scored, event = await scoring_again(gateway, admin_token, pg_pool, truth, "psnr-y")
    js = nc.jetstream()
    subject = "submission.received.exhausted.recon"  # no real scorer reads it
    failing_scorer = await js.pull_subscribe(subject, durable="exhaustion_test", stream="SUBMISSIONS",
                                             config=ConsumerConfig(max_deliver=2, ack_wait=30))
    try:
        await js.publish(subject, proto_encode(event), headers={"Nats-Msg-Id": event.msg_id()})
        for _ in range(2):
            [message] = await failing_scorer.fetch(1, timeout=10)
            await message.nak()
        # It keeps pulling, as a scorer does: JetStream has nothing more to give it, and says so in the advisory.
        with pytest.raises(nats.errors.TimeoutError):
            await failing_scorer.fetch(1, timeout=2)
        final = await wait_terminal(gateway, token, scored["id"])
        assert final["status"] == "failed" and "failed 2 times" in final["reason"], final
        assert "quota is refunded" in final["reason"]
        refunded = await pg_pool.fetchval("SELECT quota_refunded FROM submissions.submissions WHERE id = $1",
                                          scored["id"])
        assert refunded is True
    finally:
        await failing_scorer.unsubscribe()
        await js.delete_consumer("SUBMISSIONS", "exhaustion_test")


# --- ownership ---------------------------------------------------------------------------------------


async def test_team_b_gets_404_on_team_a_submissions(gateway: AsyncTestClient, admin_token: str, truth: dict
                                                     ) -> None:
    _, token_a = await team_token(gateway, admin_token)
    _, token_b = await team_token(gateway, admin_token)
    mine = (await upload(gateway, token_a, "recon", npy_zip(truth["recon"]), wait=0)).json()
    for method, path in [("GET", f"/submissions/{mine['id']}"), ("GET", f"/api/v1/submissions/{mine['id']}"),
                         ("POST", f"/api/v1/submissions/{mine['id']}/complete")]:
        response = await gateway.request(method, path, headers=bearer(token_b),
                                         json={} if method == "POST" else None)
        assert response.status_code == 404, (method, path, response.status_code)
    assert (await gateway.get("/submissions", headers=bearer(token_b))).json() == []
    assert (await gateway.get(f"/submissions/{mine['id']}", headers=bearer(admin_token))).status_code == 200


async def test_admins_and_anonymous_callers_cannot_submit(gateway: AsyncTestClient, admin_token: str) -> None:
    assert (await upload(gateway, admin_token, "recon", b"x")).status_code == 403
    anonymous = await gateway.post("/submit/task1", files={"file": ("a.zip", b"x")})
    assert anonymous.status_code == 401


# --- refusals: each is a clear reason, and the scorer keeps going --------------------------------------


def zip_of(members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def pt(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    torch.save(torch.from_numpy(array), buffer)
    return buffer.getvalue()


class _RunsCode:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204 — the payload an attacker would send
        return (Path.touch, (Path(self.marker),))


def hostile_archives(truth: dict[str, np.ndarray], marker: Path) -> dict[str, tuple[bytes, str]]:
    """name → (archive, words the refusal must contain)."""
    good = {f"{name}.npy": npy(array) for name, array in truth.items()}
    first = next(iter(truth))
    shape = truth[first].shape
    legacy_pickle = pickle.dumps(_RunsCode(str(marker)))
    torch_zip_pickle = io.BytesIO()
    torch.save(_RunsCode(str(marker)), torch_zip_pickle)  # a genuine torch.save file whose data.pkl runs code
    without_first = {k: v for k, v in good.items() if not k.startswith(first)}
    return {
        "not a zip": (b"just some bytes, no archive", "not a ZIP"),
        "empty member": (zip_of({**good, f"{first}.npy": b""}), first),
        "wrong shape": (zip_of({**good, f"{first}.npy": npy(np.zeros((3, 15, 16), np.float32))}),
                        f"{first}.npy"),
        "wrong dtype": (zip_of({**good, f"{first}.npy": npy(np.zeros(shape, np.int32))}), "int32"),
        "NaN": (zip_of({**good, f"{first}.npy": npy(np.full(shape, np.nan, np.float32))}), "finite"),
        "Inf": (zip_of({**good, f"{first}.npy": npy(np.full(shape, np.inf, np.float32))}), "finite"),
        "missing member": (zip_of({k: v for k, v in good.items() if not k.startswith(first)}), first),
        "extra member": (zip_of({**good, "notes.txt": b"hello"}), "notes.txt"),
        "zip slip": (zip_of({**good, "../evil.npy": npy(truth[first])}), "../evil.npy"),
        "absolute name": (zip_of({**good, "/etc/evil.npy": npy(truth[first])}), "/etc/evil.npy"),
        "code in a raw pickle": (zip_of({**without_first, f"{first}.pt": legacy_pickle}), first),
        "code in a torch file": (zip_of({**without_first, f"{first}.pt": torch_zip_pickle.getvalue()}), first),
        "zip bomb": (zip_of({**good, f"{first}.npy": npy(np.zeros((3000, 16, 16), np.float32))},
                            zipfile.ZIP_DEFLATED), first),
    }


async def test_every_hostile_archive_fails_with_a_reason_and_the_next_good_one_scores(
    gateway: AsyncTestClient, admin_token: str, truth: dict, tmp_path: Path
) -> None:
    _, token = await team_token(gateway, admin_token)
    marker = tmp_path / "code-ran"
    for case, (archive, words) in hostile_archives(truth["lab"], marker).items():
        response = await upload(gateway, token, "lab", archive)
        assert response.status_code == 200, (case, response.text)
        body = response.json()
        assert body["status"] == "failed", (case, body)
        assert words in body["reason"], (case, body["reason"])
        assert body["public_score"] is None
    assert not marker.exists(), "a pickle in a submission ran code"
    good = await upload(gateway, token, "lab", zip_of({f"{k}.pt": pt(v) for k, v in truth["lab"].items()}))
    assert good.json()["status"] == "scored" and good.json()["public_score"] == 100.0


async def test_a_header_lying_about_sizes_is_refused(gateway: AsyncTestClient, admin_token: str, truth: dict
                                                     ) -> None:
    _, token = await team_token(gateway, admin_token)
    archive = bytearray(zip_of({f"{k}.npy": npy(v) for k, v in truth["lab"].items()}))
    central = archive.rfind(b"PK\x01\x02")  # the last member's central directory entry
    archive[central + 24:central + 28] = (10).to_bytes(4, "little")  # its uncompressed size, now a lie
    body = (await upload(gateway, token, "lab", bytes(archive))).json()
    assert body["status"] == "failed" and body["reason"]


async def test_score_events_carry_provenance_and_progress_is_live(
    gateway: AsyncTestClient, admin_token: str, truth: dict, nc: NatsClient
) -> None:
    _, token = await team_token(gateway, admin_token)
    data = npy_zip(noisy_submission(truth["recon"], 0.02, seed=3))
    progress: list[dict] = []
    finished = asyncio.Event()

    async def on_progress(message) -> None:  # noqa: ANN001
        progress.append(json.loads(message.data))
        if progress[-1]["done"] == progress[-1]["total"]:
            finished.set()

    subscription = await nc.subscribe("job.progress.>", cb=on_progress)
    await nc.flush()  # the server knows of the subscription before anything is published
    body = (await upload(gateway, token, "recon", data)).json()
    await asyncio.wait_for(finished.wait(), 10)
    await subscription.unsubscribe()
    mine = [p for p in progress if p["submission_id"] == str(body["id"])]
    assert mine and mine[-1]["done"] == mine[-1]["total"] == 12
    message = await nc.jetstream().get_last_msg("SCORES", "score.computed.recon")
    event = json.loads(message.data or b"")
    assert event["submission_id"] == str(body["id"])
    assert event["archive_sha256"] == hashlib.sha256(data).hexdigest()
    recon = next(t for t in (await gateway.get("/api/v1/tasks")).json()["tasks"] if t["id"] == "recon")
    # The scorer version is the task's derived scoring identity, the same the platform shows for the task.
    assert len(event["ground_truth_sha256"]) == 64 and event["scorer_version"] == recon["scorer_version"]
    assert recon["scorer_version"].startswith("psnr-")
    assert set(event["durations_ms"]) >= {"download", "ground_truth", "scoring", "total"}
    assert event["details_key"].startswith("recon/")


async def test_direct_upload_without_wait_returns_at_once(gateway: AsyncTestClient, admin_token: str, truth: dict
                                                          ) -> None:
    _, token = await team_token(gateway, admin_token)
    response = await upload(gateway, token, "recon", npy_zip(truth["recon"]), wait=0,
                            path="/api/v1/tasks/{task}/submissions")
    assert response.json()["status"] in ("received", "scoring", "scored")
    assert (await wait_terminal(gateway, token, response.json()["id"]))["status"] == "scored"


async def test_publish_event_refuses_live_events(nc: NatsClient) -> None:
    from proto.events import ScoreProgress

    with pytest.raises(ValueError, match="live-only"):
        await publish_event(nc.jetstream(), ScoreProgress(submission_id="1", team_id="1", done=1, total=2))
