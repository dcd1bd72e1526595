"""A host edits the competition through the API of the running platform (the gateway in-process, submission_service
as its process, real NATS, PostgreSQL and S3): the document with its version as an ETag, in JSON and as a TOML file;
an edit must name the version it starts from (If-Match), and of two admins editing the same version one wins and
the other gets 412 with the version now current; a dry run changes nothing; every version stays readable; what
participants see of a task (its description rendered with no HTML passing, its phase, the quota left)."""

from __future__ import annotations

import asyncio
import tomllib

import pytest
from litestar.testing import AsyncTestClient

from tests.api import bearer, team_token
from tests.service.competition.host import DOCUMENT, Host, new_task, open_phase, version_of


@pytest.fixture
def host(gateway: AsyncTestClient, admin_token: str) -> Host:
    return Host(gateway, admin_token)


async def test_the_document_has_its_version_as_etag_in_json_and_as_a_toml_file(host: Host) -> None:
    as_json = await host.client.get(DOCUMENT, headers=host.headers)
    assert as_json.status_code == 200 and as_json.headers["etag"] == f'"{as_json.json()["version"]}"', as_json.text
    body = as_json.json()
    assert {t["id"] for t in body["competition"]["tasks"]} >= {"recon", "lab", "digits", "digits-quick", "closed"}
    assert set(body["identities"]) == {t["id"] for t in body["competition"]["tasks"]}
    assert body["identities"]["recon"].startswith("psnr-") and set(body["stale"]) == set(body["identities"])

    as_toml = await host.client.get(DOCUMENT, params={"format": "toml"}, headers=host.headers)
    assert as_toml.status_code == 200 and as_toml.headers["content-type"].startswith("application/toml")
    assert as_toml.headers["etag"] == as_json.headers["etag"]
    parsed = tomllib.loads(as_toml.text)
    assert [t["id"] for t in parsed["tasks"]] == [t["id"] for t in body["competition"]["tasks"]]

    # The file as it came is a document the platform takes again, and it changes nothing.
    again = await host.put(as_toml.text, version_of(as_toml))
    assert again.status_code == 200, again.text
    assert (again.json()["changed"], again.json()["version"]) == (False, version_of(as_toml))
    assert "nothing changed" in " ".join(again.json()["notes"])


async def test_an_edit_must_name_the_version_it_starts_from(host: Host) -> None:
    version, document = await host.document()
    document["tasks"].append(new_task("unapplied"))
    missing = await host.put(document, None)
    assert missing.status_code == 428 and "If-Match is required" in missing.json()["detail"], missing.text
    for bad in ("*", '"one"', '"1", "2"', "v3"):
        malformed = await host.put(document, bad)
        assert malformed.status_code == 400, (bad, malformed.text)
        assert 'as "N", W/"N" or N' in malformed.json()["detail"], (bad, malformed.text)
    assert (await host.document()) == (version, {**document, "tasks": document["tasks"][:-1]})

    for form in ('W/"{}"', "{}"):  # a weak ETag, and the bare number a hand-written curl sends
        now, current = await host.document()
        current["tasks"].append(new_task("if-match"))
        applied = await host.put(current, form.format(now))
        assert applied.status_code == 200 and applied.json()["version"] == now + 1, applied.text


async def test_of_two_admins_editing_the_same_version_one_wins_the_other_gets_412(host: Host) -> None:
    version, document = await host.document()
    first, second = new_task("first-admin"), new_task("second-admin")
    answers = await asyncio.gather(host.put({**document, "tasks": [*document["tasks"], first]}, version),
                                   host.put({**document, "tasks": [*document["tasks"], second]}, version))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 412], [answer.text for answer in answers]
    won = next(answer for answer in answers if answer.status_code == 200)
    lost = next(answer for answer in answers if answer.status_code == 412)
    assert won.json()["version"] == version + 1 and version_of(won) == version + 1
    assert lost.json()["current_version"] == version + 1, lost.text
    assert "someone changed it since you read it" in lost.json()["detail"]
    now, current = await host.document()
    ids = [t["id"] for t in current["tasks"]]
    assert now == version + 1 and (first["id"] in ids) != (second["id"] in ids), ids

    # The loser reads the version now current and applies its change on top: both tasks are there.
    loser = second if first["id"] in ids else first
    applied = await host.put({**current, "tasks": [*current["tasks"], loser]}, now)
    assert applied.status_code == 200 and applied.json()["version"] == now + 1, applied.text
    assert {first["id"], second["id"]} <= {t["id"] for t in (await host.document())[1]["tasks"]}


async def test_a_dry_run_says_what_would_change_and_changes_nothing(host: Host) -> None:
    version, document = await host.document()
    task = new_task("dry-run")
    dry = await host.put({**document, "tasks": [*document["tasks"], task]}, version, dry_run=True)
    assert dry.status_code == 200, dry.text
    assert (dry.json()["dry_run"], dry.json()["changed"], dry.json()["version"]) == (True, True, version)
    assert any(line.startswith(f"task {task['id']}: added") for line in dry.json()["changes"]), dry.json()
    assert any("no ground truth yet" in note for note in dry.json()["notes"]), dry.json()
    assert version_of(dry) == version
    assert await host.document() == (version, document)


async def test_every_version_stays_readable_with_who_when_and_what_changed(host: Host) -> None:
    task = new_task("history")
    applied = await host.add_task(task)
    listed = await host.client.get(f"{DOCUMENT}/versions", headers=host.headers)
    assert listed.status_code == 200, listed.text
    versions = listed.json()["versions"]
    assert [v["version"] for v in versions] == sorted((v["version"] for v in versions), reverse=True)
    newest = next(v for v in versions if v["version"] == applied["version"])
    assert newest["created_by"] == "root-admin" and any(task["id"] in line for line in newest["changes"])

    one = await host.client.get(f"{DOCUMENT}/versions/{applied['version']}", headers=host.headers)
    assert one.status_code == 200 and version_of(one) == applied["version"], one.text
    assert task["id"] in [t["id"] for t in one.json()["competition"]["tasks"]]
    before = await host.client.get(f"{DOCUMENT}/versions/{applied['version'] - 1}", headers=host.headers)
    assert task["id"] not in [t["id"] for t in before.json()["competition"]["tasks"]]
    for missing in (0, 10**6):
        nowhere = await host.client.get(f"{DOCUMENT}/versions/{missing}", headers=host.headers)
        assert nowhere.status_code == 404 and f"no competition version {missing}" in nowhere.json()["detail"]


async def test_participants_see_each_task_rendered_with_its_phase_and_their_quota(host: Host) -> None:
    task = new_task("shown", daily_quota=4, phases=[open_phase()],
                    description="**Predict** the pixels. <script>alert(1)</script> [rules](https://example.org/r) "
                                "[x](javascript:alert(1))")
    await host.add_task(task)
    _, token = await team_token(host.client, host.token)
    for path in ("/api/v1/competition", "/api/v1/tasks"):
        anonymous = await host.client.get(path)
        assert anonymous.status_code == 200, anonymous.text
        seen = next(t for t in anonymous.json()["tasks"] if t["id"] == task["id"])
        assert seen["description"] == task["description"]
        html = seen["description_html"]
        assert "<strong>Predict</strong>" in html and "&lt;script&gt;" in html and "<script" not in html, html
        assert '<a href="https://example.org/r" rel="nofollow noopener">rules</a>' in html, html
        assert "javascript:" not in html.replace("[x](javascript:alert(1))", ""), html
        assert (seen["accepting"], seen["has_ground_truth"], seen["quota_left"]) == (False, False, None), seen
        assert "no ground truth yet" in seen["not_accepting_reason"]
        assert seen["current_phase"]["id"] == "main" and seen["closes_at"] == task["phases"][0]["closes_at"].replace(
            "+00:00", "Z")
        signed_in = await host.client.get(path, headers=bearer(token))
        assert next(t for t in signed_in.json()["tasks"] if t["id"] == task["id"])["quota_left"] == 4
