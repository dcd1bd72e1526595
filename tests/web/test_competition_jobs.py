"""The competition on the web page, in a real headless Chromium against the real platform: the host edits a task's
quota and a phase (entered in the viewer's time zone, UTC beside) and saves a new version after reviewing what it
changes; an edit made from a stale version is refused (412) with a reload offered; a bad value is shown next to its
field and changes nothing; the ground truth goes up with progress and its digest is shown (a bad file's reason next to
the upload); scores computed under an older definition are counted, and their rescore starts from the page.
Participants see each task's description (a `<script>` in it is text, never run), what to submit, the phase and the
time left, and their quota, and the view follows the host's changes live.

The session's competition is shared by every test: each test adds tasks of its own (`web-<random>`) and removes them
afterwards (or archives one that has submissions); the shared tasks are never touched."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from deploy.demo import make_ground_truth, noisy_submission, npy_zip
from proto.competition import Task
from tests.api import add_task, bearer, edit_competition, login, new_team, remove_tasks
from tests.conftest import ADMIN
from tests.web.test_host_jobs import both_sizes
from tests.web.test_web_page import api_upload, log_in

Shoot = Callable[[Page, str], Awaitable[Path]]
pytestmark = pytest.mark.timeout(240)
# The viewer's zone: New York is UTC-5 in March, so a local time and its UTC differ visibly.
ZONE = "America/New_York"


@pytest.fixture
async def api(gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=90) as client:
        yield client


@pytest.fixture
async def own_tasks(api: httpx.AsyncClient, admin_token: str) -> AsyncIterator[list[str]]:
    """The ids of the tasks this test adds (append to it); taken out of the shared competition afterwards."""
    added: list[str] = []
    yield added
    if added:
        await remove_tasks(api, admin_token, added)


@pytest.fixture
async def viewer(browser: Browser, gateway_url: str) -> AsyncIterator[Page]:
    """A fresh browser in New York's time zone; any script error on the page fails the test."""
    context = await browser.new_context(base_url=gateway_url, viewport={"width": 1280, "height": 800},
                                        timezone_id=ZONE)
    context.set_default_timeout(30_000)
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error"
              and "Failed to load resource" not in message.text else None)
    yield opened
    await context.close()
    assert not errors, f"errors on the page: {errors}"


async def task_added(api: httpx.AsyncClient, admin_token: str, own_tasks: list[str], **fields: Any) -> dict[str, Any]:
    task = await add_task(api, admin_token, **fields)
    own_tasks.append(task["id"])
    return task


async def document(api: httpx.AsyncClient, admin_token: str) -> dict[str, Any]:
    response = await api.get("/api/v1/admin/competition", headers=bearer(admin_token))
    assert response.status_code == 200, response.text
    return response.json()


def task_in(found: dict[str, Any], task_id: str) -> dict[str, Any]:
    return next(task for task in found["competition"]["tasks"] if task["id"] == task_id)


async def open_editor(page: Page, task_id: str):  # noqa: ANN201
    await log_in(page, *ADMIN)
    await page.goto("/#/admin/competition")
    card = page.locator(f'.task-editor[data-task="{task_id}"]')
    await expect(card).to_be_visible()
    return card


async def test_the_host_edits_a_tasks_quota_and_a_phase_and_saves_a_new_version(
    viewer: Page, api: httpx.AsyncClient, admin_token: str, own_tasks: list[str], shoot: Shoot,
) -> None:
    task = await task_added(api, admin_token, own_tasks)
    before = await document(api, admin_token)
    card = await open_editor(viewer, task["id"])
    await expect(viewer.locator("#competition-loaded")).to_contain_text(f"Editing version {before['version']}")
    await card.locator(f'[id="ce-{task["id"]}-daily_quota"]').fill("7")
    closes = card.locator("tr[data-phase='0'] input.closes_at")
    await closes.fill("2027-03-04T10:30:00")  # New York's time (EST): 15:30 UTC
    await expect(card.locator("tr[data-phase='0'] td:nth-child(3) .utc")).to_have_text("2027-03-04 15:30 UTC")
    await both_sizes(viewer, shoot, "competition-editor")

    await viewer.click("#competition-save")
    review = viewer.locator("#competition-review")
    await expect(review.locator("ul.changes")).to_contain_text("daily_quota")
    await expect(review.locator("ul.changes")).to_contain_text(task["id"])
    await viewer.click("#competition-confirm")
    await expect(viewer.locator("#competition-status")).to_have_text(re.compile(r"^Saved as version \d+\.$"))
    after = await document(api, admin_token)
    saved = task_in(after, task["id"])
    assert after["version"] > before["version"]
    assert (await viewer.locator("#competition-status").inner_text()) == f"Saved as version {after['version']}."
    assert saved["daily_quota"] == 7
    assert saved["phases"][0]["closes_at"] == "2027-03-04T15:30:00Z"
    assert saved["phases"][0]["opens_at"] == task["phases"][0]["opens_at"].replace("+00:00", "Z")
    # The editor is on the new version now, and its history lists it first.
    await expect(viewer.locator("#competition-loaded")).to_contain_text(f"Editing version {after['version']}")
    await expect(viewer.locator("#competition-versions tbody tr").first).to_have_attribute(
        "data-version", str(after["version"]))
    # Chromium shows the time without its zero seconds.
    await expect(card.locator("tr[data-phase='0'] input.closes_at")).to_have_value("2027-03-04T10:30")


async def test_an_edit_from_a_stale_version_is_refused_and_a_reload_is_offered(
    viewer: Page, api: httpx.AsyncClient, admin_token: str, own_tasks: list[str],
) -> None:
    task = await task_added(api, admin_token, own_tasks)
    loaded = await document(api, admin_token)
    card = await open_editor(viewer, task["id"])
    await expect(viewer.locator("#competition-loaded")).to_contain_text(f"Editing version {loaded['version']}")

    def raise_quota(competition: dict[str, Any]) -> None:
        next(t for t in competition["tasks"] if t["id"] == task["id"])["daily_quota"] = 9

    other = await edit_competition(api, admin_token, raise_quota)  # another admin, meanwhile
    await card.locator(f'[id="ce-{task["id"]}-title"]').fill("A title nobody will see")
    await viewer.click("#competition-save")
    conflict = viewer.locator("#competition-conflict")
    await expect(conflict).to_be_visible()
    await expect(conflict).to_contain_text(f"Someone else changed the competition since you loaded version "
                                           f"{loaded['version']} (it is at version {other['version']} now)")
    assert task_in(await document(api, admin_token), task["id"])["title"] == task["title"]

    await viewer.click("#competition-reload")
    await expect(conflict).to_be_hidden()
    await expect(viewer.locator("#competition-loaded")).to_contain_text(f"Editing version {other['version']}")
    await expect(card.locator(f'[id="ce-{task["id"]}-daily_quota"]')).to_have_value("9")
    await expect(card.locator(f'[id="ce-{task["id"]}-title"]')).to_have_value(task["title"])


async def test_a_bad_value_is_shown_next_to_its_field_and_changes_nothing(
    viewer: Page, api: httpx.AsyncClient, admin_token: str, own_tasks: list[str],
) -> None:
    task = await task_added(api, admin_token, own_tasks)
    before = await document(api, admin_token)
    card = await open_editor(viewer, task["id"])
    await card.locator(f'[id="ce-{task["id"]}-daily_quota"]').fill("0")
    await viewer.click("#competition-save")
    quota_error = card.locator(f'p.error[data-field="{task["id"]}/daily_quota"]')
    await expect(quota_error).to_be_visible()
    await expect(quota_error).to_contain_text(">= 1")
    await expect(viewer.locator("#competition-review")).to_be_empty()

    # A phase that closes before it opens: its reason under the phases.
    await card.locator(f'[id="ce-{task["id"]}-daily_quota"]').fill("4")
    await card.locator("tr[data-phase='0'] input.closes_at").fill("2020-01-01T00:00:00")
    await viewer.click("#competition-save")
    phases_error = card.locator(f'p.error[data-field="{task["id"]}/phases"]')
    await expect(phases_error).to_contain_text("opens_at must be before closes_at")
    await expect(quota_error).to_be_hidden()
    assert (await document(api, admin_token))["version"] == before["version"]


async def test_the_ground_truth_upload_shows_its_progress_and_the_new_digest(
    viewer: Page, api: httpx.AsyncClient, admin_token: str, own_tasks: list[str], tmp_path: Path,
) -> None:
    task = await task_added(api, admin_token, own_tasks, samples=40, shape=[3, 64, 64])
    truth = npy_zip(make_ground_truth(Task(id=task["id"], title="t", kind="cpu", metric="psnr", samples=40,
                                           shape=(3, 64, 64))))
    good, bad = tmp_path / "truth.zip", tmp_path / "wrong.zip"
    good.write_bytes(truth)
    bad.write_bytes(npy_zip(make_ground_truth(Task(id="x", title="t", kind="cpu", metric="psnr", samples=2,
                                                   shape=(3,)))))
    card = await open_editor(viewer, task["id"])
    await expect(card.locator(".gt-digest")).to_contain_text("None yet")

    # A file that does not fit the task: the server's reason next to the upload, and nothing changes.
    before = await document(api, admin_token)
    await card.locator(f'[id="gt-file-{task["id"]}"]').set_input_files(str(bad))
    await card.locator(".gt-upload").click()
    await expect(card.locator(".gt-error")).to_have_text(
        f"the ground truth does not fit task {task['id']}: ground truth sample_0000.npy has shape [3], the task says "
        "[3, 64, 64]")
    await expect(card.locator(".gt-digest")).to_contain_text("None yet")
    assert (await document(api, admin_token))["version"] == before["version"]

    # The bar of the card as it is during the upload (the card is drawn again on the new version).
    bar = await card.locator(".gt-progress").element_handle()
    assert bar is not None
    await card.locator(f'[id="gt-file-{task["id"]}"]').set_input_files(str(good))
    await card.locator(".gt-upload").click()
    digest = hashlib.sha256(truth).hexdigest()
    await expect(viewer.locator("#competition-status")).to_contain_text(f"sha256 {digest}")
    assert await bar.evaluate("(b) => [Number(b.dataset.events) > 0, b.max, b.value]") == [True, len(truth),
                                                                                             len(truth)]
    card = viewer.locator(f'.task-editor[data-task="{task["id"]}"]')
    await expect(card.locator(".gt-digest code")).to_have_text(digest)
    await expect(card.locator(".gt-error")).to_be_hidden()
    after = await document(api, admin_token)
    assert after["version"] == before["version"] + 1
    assert task_in(after, task["id"])["ground_truth_sha256"] == digest


async def test_participants_see_the_tasks_description_format_time_left_and_quota_live(
    viewer: Page, api: httpx.AsyncClient, admin_token: str, own_tasks: list[str], shoot: Shoot,
) -> None:
    task = await task_added(api, admin_token, own_tasks, description=(
        "Reconstruct **every** sample.\n\n<script>window.pwned = 1</script>\n\n[the rules](https://example.org/rules)"))
    _, name, password = await new_team(api, admin_token)
    listed = (await api.get("/api/v1/competition", headers=bearer(await login(api, name, password)))).json()
    info = next(t for t in listed["tasks"] if t["id"] == task["id"])
    await log_in(viewer, name, password)
    await viewer.goto("/#/tasks")
    card = viewer.locator(f'.task-info[data-task="{task["id"]}"]')
    await expect(card.locator(".description strong")).to_have_text("every")
    await expect(card.locator(".description")).to_contain_text("<script>window.pwned = 1</script>")
    await expect(card.locator('.description a[href="https://example.org/rules"]')).to_have_text("the rules")
    assert await viewer.evaluate("() => window.pwned") is None
    assert await card.locator(".description script").count() == 0
    await expect(card.locator(".expected-format")).to_have_text(info["expected_format"])
    # In the viewer's zone (New York: EST in winter, EDT in summer), UTC beside.
    closes = datetime.fromisoformat(task["phases"][0]["closes_at"])
    await expect(card.locator(".phase")).to_have_text(re.compile(
        rf"^Phase “main” is open; it closes .* E[SD]T \({closes:%Y-%m-%d %H:%M:%S} UTC\)\.$"))
    await expect(card.locator(".time-left")).to_have_text(re.compile(r"^1 d( \d+ h)? left$|^2 d left$"))
    await expect(card.locator(".quota")).to_have_text("3 of 3 submissions left today")
    await expect(card.locator(".not-accepting")).to_have_text(info["not_accepting_reason"])
    assert info["not_accepting_reason"], info  # no ground truth yet: it says so
    await both_sizes(viewer, shoot, "task-info")

    # The host raises the quota: the view follows (the `competition` push), with no reload of the page.
    await viewer.evaluate("() => { window.stillTheSamePage = true; }")

    def raise_quota(competition: dict[str, Any]) -> None:
        next(t for t in competition["tasks"] if t["id"] == task["id"])["daily_quota"] = 8

    await edit_competition(api, admin_token, raise_quota)
    await expect(card.locator(".quota")).to_have_text("8 of 8 submissions left today")

    def archive(competition: dict[str, Any]) -> None:
        next(t for t in competition["tasks"] if t["id"] == task["id"])["archived"] = True

    await edit_competition(api, admin_token, archive)
    await expect(card.locator(".badge.archived")).to_have_text("archived")
    await expect(card.locator(".time-left")).to_have_text("archived")
    assert await viewer.evaluate("() => window.stillTheSamePage") is True


async def put_ground_truth(api: httpx.AsyncClient, admin_token: str, task_id: str, data: bytes) -> None:
    """The host's ground-truth upload over the API: the ticket, the bytes to its presigned URL, then complete."""
    ticket = await api.post(f"/api/v1/admin/tasks/{task_id}/ground-truth", headers=bearer(admin_token),
                            json={"size_bytes": len(data), "filename": "truth.zip"})
    assert ticket.status_code == 200, ticket.text
    stored = await api.put(ticket.json()["upload_url"], content=data)
    assert stored.status_code < 300, stored.text
    completed = await api.post(f"/api/v1/admin/tasks/{task_id}/ground-truth/complete", headers=bearer(admin_token),
                               json={"upload_id": ticket.json()["upload_id"]})
    assert completed.status_code == 200, completed.text


async def test_the_host_sees_scores_under_an_older_definition_and_starts_their_rescore(
    viewer: Page, api: httpx.AsyncClient, admin_token: str, gateway_url: str,
) -> None:
    task = await add_task(api, admin_token)  # it will have a submission: archived at the end, never removed
    try:
        truth = make_ground_truth(Task(id=task["id"], title="t", kind="cpu", metric="psnr", samples=4,
                                       shape=(2, 4, 4)))
        await put_ground_truth(api, admin_token, task["id"], npy_zip(truth))
        _, name, password = await new_team(api, admin_token)
        scored = await api_upload(gateway_url, await login(api, name, password), task["id"],
                                  npy_zip(noisy_submission(truth, 0.05, seed=5)))
        assert scored["status"] == "scored", scored

        def lower_the_cap(competition: dict[str, Any]) -> None:  # a scoring parameter: a new scoring identity
            next(t for t in competition["tasks"] if t["id"] == task["id"])["psnr"]["cap_db"] = 60.0

        applied = await edit_competition(api, admin_token, lower_the_cap)
        assert applied["identity_changed"] == [task["id"]] and applied["stale"] == {task["id"]: 1}, applied
        card = await open_editor(viewer, task["id"])
        await expect(card.locator(".stale p").first).to_have_text(
            "1 scored submission was scored under an older definition. Rescore them")
        await card.locator("button.rescore").click()
        await expect(card.locator(".rescore-said")).to_contain_text(re.compile(r"^Rescore \S+ started: 1 submissions"))
        async with asyncio.timeout(60):  # the rescore scores it again under the task's identity now
            while (await document(api, admin_token))["stale"].get(task["id"], 0):
                await asyncio.sleep(0.2)
    finally:
        def archive(competition: dict[str, Any]) -> None:
            next(t for t in competition["tasks"] if t["id"] == task["id"])["archived"] = True

        await edit_competition(api, admin_token, archive)
