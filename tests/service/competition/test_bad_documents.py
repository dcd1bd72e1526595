"""Each kind of bad competition document, applied to the running platform (the gateway in-process, submission_service
as its process): refused with a reason that names the task and the field where the problem is (`task` and `field` in
the problem too), and nothing changes — the version and the document stay as they were. So for a task's removal
while it has submissions (archive it instead), and for what the gateway refuses before it asks anyone (a body that
is empty, not UTF-8 or too large)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from gateway.routes_competition import MAX_DOCUMENT_BYTES
from tests.api import bearer, team_token
from tests.service.competition.host import DOCUMENT, Document, Host, new_task

BAD = "bad-doc"  # the id of the task each case adds (fresh per case, after this prefix)
CSV = {"format": "csv", "metric": "roc_auc"}  # what makes the case's task a csv task (its shape is ignored)


@dataclass(frozen=True)
class Bad:
    """A document made bad by `spoil` (given the current document with one new task of the case's own, its id), sent
    as JSON (or as TOML text when `spoil` returns a str), refused with `status`, naming `field` (and the case's task
    when `names_task`), with `words` in the detail."""

    id: str
    spoil: Callable[[Document, str], Document | str]
    status: int
    field: str
    words: str
    names_task: bool = True


def _task(document: Document, task_id: str) -> dict[str, Any]:
    return next(t for t in document["tasks"] if t["id"] == task_id)


def with_field(**fields: Any) -> Callable[[Document, str], Document]:
    def spoil(document: Document, task_id: str) -> Document:
        _task(document, task_id).update(fields)
        return document

    return spoil


def without(field: str) -> Callable[[Document, str], Document]:
    def spoil(document: Document, task_id: str) -> Document:
        del _task(document, task_id)[field]
        return document

    return spoil


def duplicated(document: Document, task_id: str) -> Document:
    document["tasks"].append({**_task(document, task_id), "title": "the same id again"})
    return document


def phases_reversed(document: Document, task_id: str) -> Document:
    _task(document, task_id)["phases"] = [
        {"id": "main", "opens_at": "2027-02-01T00:00:00Z", "closes_at": "2027-01-01T00:00:00Z"}]
    return document


def toml_syntax(document: Document, task_id: str) -> str:
    return f'[competition]\nname = "x"\n\n[[tasks]]\nid = "{task_id}"\ntitle = "unterminated\n'


CASES = [
    Bad("TOML syntax", toml_syntax, 422, "", "not valid TOML", names_task=False),
    Bad("an unknown field", with_field(colour="red"), 422, "colour", "Object contains unknown field `colour`"),
    Bad("a wrong type", with_field(daily_quota="five"), 422, "daily_quota", "Expected `int`, got `str`"),
    Bad("a bad value", with_field(daily_quota=0), 422, "daily_quota", "Expected `int` >= 1"),
    Bad("a bad id", with_field(id="no spaces here"), 422, "id", "matching regex", names_task=False),
    Bad("a duplicate id", duplicated, 422, "id", "another task has this id; ids must be unique"),
    Bad("phases in the wrong order", phases_reversed, 422, "phases", "opens_at must be before closes_at"),
    Bad("a missing shape", without("shape"), 422, "shape", "a cpu task needs the shape of each sample's tensor"),
    Bad("a missing title", without("title"), 422, "title", "missing required field `title`"),
    Bad("a metric of the other kind", with_field(metric="accuracy"), 422, "metric", "cannot use metric accuracy"),
    Bad("a scorer version written by hand", with_field(scorer_version="psnr-9"), 422, "scorer_version",
        "scorer_version is derived from the task now"),
    # Metric parameters are checked by the metric library when applied, not found when the first submission scores.
    Bad("a parameter the metric does not take", with_field(**CSV, metric_parameters={"average": "macro"}), 422,
        "metric_parameters", "roc_auc: unknown parameter(s) average; its parameters: none"),
    Bad("a column's parameter the metric does not take",
        with_field(**CSV, metrics=[{"name": "roc_auc", "column": "AUC", "primary": True},
                                   {"name": "log_loss", "column": "LogLoss", "parameters": {"eps": 1e-15}}]),
        422, "metrics", "column LogLoss: log_loss: unknown parameter(s) eps"),
]


@pytest.fixture
def host(gateway: AsyncTestClient, admin_token: str) -> Host:
    return Host(gateway, admin_token)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_a_bad_document_is_refused_says_where_and_changes_nothing(host: Host, case: Bad) -> None:
    version, document = await host.document()
    task = new_task(BAD)
    spoiled = case.spoil({**copy.deepcopy(document), "tasks": [*copy.deepcopy(document["tasks"]), task]}, task["id"])
    refused = await host.put(spoiled, version)
    assert refused.status_code == case.status, refused.text
    problem = refused.json()
    assert case.words in problem["detail"], problem
    assert problem["field"] == case.field, problem
    if case.names_task:
        assert problem["task"] == task["id"] and problem["detail"].startswith(f"task {task['id']}, field "), problem
    if case.id == "TOML syntax":
        assert "line 6" in problem["detail"], problem  # where in the file
    assert await host.document() == (version, document)


async def test_a_dry_run_checks_the_metrics_parameters_too(host: Host) -> None:
    version, document = await host.document()
    columns = [{"name": "roc_auc", "column": "AUC", "primary": True}, {"name": "log_loss", "column": "LogLoss"}]
    task = {**new_task(BAD, **CSV, metrics=columns)}
    good = await host.put({**document, "tasks": [*document["tasks"], task]}, version, dry_run=True)
    assert good.status_code == 200 and good.json()["changed"] and good.json()["dry_run"], good.text
    columns[1]["parameters"] = {"normalize": "yes"}
    refused = await host.put({**document, "tasks": [*document["tasks"], task]}, version, dry_run=True)
    assert refused.status_code == 422, refused.text
    assert (refused.json()["task"], refused.json()["field"]) == (task["id"], "metrics"), refused.text
    assert refused.json()["detail"] == (f"task {task['id']}, field metrics: column LogLoss: log_loss: unknown "
                                        "parameter(s) normalize; its parameters: none")
    assert await host.document() == (version, document)


async def test_a_task_that_has_submissions_cannot_be_removed_only_archived(host: Host) -> None:
    task = new_task("removed")
    await host.add_task(task)
    await host.put_ground_truth(task)
    _, token = await team_token(host.client, host.token)
    started = await host.client.post("/api/v1/submissions", headers=bearer(token),
                                     json={"task_id": task["id"], "filename": "s.zip", "size_bytes": 100})
    assert started.status_code == 200, started.text

    version, document = await host.document()
    removed = await host.put({**document, "tasks": [t for t in document["tasks"] if t["id"] != task["id"]]}, version)
    assert removed.status_code == 409, removed.text
    assert (removed.json()["task"], removed.json()["field"]) == (task["id"], "tasks")
    assert "has submissions, so it cannot be removed; archive it instead" in removed.json()["detail"]
    assert await host.document() == (version, document)

    archived = await host.edit_task(task["id"], archived=True)
    assert archived["changes"] == [f"task {task['id']}: archived false → true"], archived
    shown = next(t for t in (await host.client.get("/api/v1/competition")).json()["tasks"] if t["id"] == task["id"])
    assert (shown["archived"], shown["accepting"]) == (True, False) and "archived" in shown["not_accepting_reason"]
    refused = await host.client.post("/api/v1/submissions", headers=bearer(token),
                                     json={"task_id": task["id"], "filename": "s.zip", "size_bytes": 100})
    assert refused.status_code == 403 and "is archived" in refused.json()["detail"], refused.text


async def test_a_task_without_submissions_can_be_removed(host: Host) -> None:
    task = new_task("short-lived")
    await host.add_task(task)
    applied = await host.change(lambda document: document["tasks"].remove(_task(document, task["id"])))
    assert applied["changes"] == [f"task {task['id']}: removed"], applied


@pytest.mark.parametrize(("body", "content_type", "status", "words"), [
    (b"", "application/toml", 400, "the body is empty"),
    (b"  \n", "application/json", 400, "the body is empty"),
    (b'[competition]\nname = "\xff\xfe"\n', "application/toml", 400, "not valid UTF-8 (byte 22)"),
    (b'{"competition": {"name": "x"}, "tasks": [', "application/json", 422, "not valid JSON"),
    (b'{"competition": {"name": "x"}}', "application/toml", 422, "not valid TOML"),  # JSON sent as TOML
    (b"x" * (MAX_DOCUMENT_BYTES + 1), "application/toml", 413, f"at most {MAX_DOCUMENT_BYTES} bytes"),
])
async def test_a_body_that_cannot_be_a_document_is_refused_and_changes_nothing(
    host: Host, body: bytes, content_type: str, status: int, words: str
) -> None:
    version, document = await host.document()
    refused = await host.client.put(DOCUMENT, content=body, headers={
        **host.headers, "If-Match": f'"{version}"', "Content-Type": content_type})
    assert refused.status_code == status and words in refused.json()["detail"], refused.text
    assert await host.document() == (version, document)


async def test_only_admins_read_or_change_the_competition(host: Host) -> None:
    _, token = await team_token(host.client, host.token)
    version, document = await host.document()
    for headers, status in (({}, 401), (bearer(token), 403)):
        assert (await host.client.get(DOCUMENT, headers=headers)).status_code == status
        changed = await host.client.put(DOCUMENT, json=document, headers={**headers, "If-Match": f'"{version}"'})
        assert changed.status_code == status, changed.text
    assert await host.document() == (version, document)
