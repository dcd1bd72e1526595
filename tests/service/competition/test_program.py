"""A program task's scoring program, put through the API of the running platform (presigned PUTs to the real S3, then
`complete`): checked on the host's sample against the task's ground truth in the real sandbox, stored as a ZIP named
by its digest, and made the task's program in a new version (a new scoring identity). A program that fails on the
sample, or an upload that is not a program, is refused with the host's reason and nothing changes; without a sample
the program is stored unchecked and the reply says so; a program task without a program takes no submissions."""

from __future__ import annotations

import hashlib
import io
import textwrap
import zipfile
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from minio import Minio

from podium_runtime.settings import ServiceSettings
from proto.storage import PROGRAMS_BUCKET
from tests.api import bearer, login, new_team
from tests.service.competition.host import Host, new_task

SOLUTION = b"id,target,Usage\nr1,1,Public\nr2,0,Private\nr3,2,Public\n"
SAMPLE = ("sample.csv", b"id,target\nr1,1\nr2,0\nr3,2\n")
GOOD = """
    import csv

    def score(truth, submission, context):
        rows = list(csv.DictReader(open(submission)))
        print("scoring", submission.name, "against", truth.name, "rows", len(rows))
        return {"public": {"Spearman": 1.0}, "private": {"Spearman": 0.25}, "details": {"rows": len(rows)}}
"""


def program(source: str) -> bytes:
    return textwrap.dedent(source).encode()


def zipped(**files: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def program_task(**fields: Any) -> dict[str, Any]:
    task = new_task("program", format="csv", metric="program", max_upload_bytes=10_000,
                    metrics=[{"name": "program", "column": "Spearman", "primary": True}], **fields)
    del task["shape"], task["samples"]
    return task


@pytest.fixture
def host(gateway: AsyncTestClient, admin_token: str) -> Host:
    return Host(gateway, admin_token)


@pytest.fixture
def s3(settings: ServiceSettings) -> Minio:
    return Minio(settings.s3_endpoint, access_key=settings.s3_access_key,
                 secret_key=settings.s3_secret_key.get_secret_value(), secure=settings.s3_secure,
                 region=settings.s3_region)


async def shown(host: Host, task_id: str) -> dict[str, Any]:
    tasks = (await host.client.get("/api/v1/competition")).json()["tasks"]
    return next(t for t in tasks if t["id"] == task_id)


async def with_ground_truth(host: Host, **fields: Any) -> dict[str, Any]:
    task = program_task(**fields)
    await host.add_task(task)
    completed = await host.upload_ground_truth(task["id"], SOLUTION)
    assert completed.status_code == 200, completed.text
    return task


async def test_a_program_checked_on_the_sample_becomes_the_tasks_program(host: Host, s3: Minio) -> None:
    task = await with_ground_truth(host)
    waiting = await shown(host, task["id"])
    assert not waiting["accepting"] and "no scoring program yet" in waiting["not_accepting_reason"], waiting
    _, name, password = await new_team(host.client, host.token)
    refused = await host.client.post(f"/api/v1/tasks/{task['id']}/submissions",
                                     headers=bearer(await login(host.client, name, password)),
                                     files={"file": ("predictions.csv", SAMPLE[1], "text/csv")})
    assert refused.status_code == 409 and "`podium admin program put`" in refused.json()["detail"], refused.text
    version, _ = await host.document()
    source = program(GOOD)

    put = await host.upload_program(task["id"], "spearman.py", source, SAMPLE)
    assert put.status_code == 200, put.text
    applied = put.json()
    assert (applied["version"], applied["changed"], applied["checked"]) == (version + 1, True, True), applied
    assert applied["public"] == {"Spearman": 1.0}, applied
    assert "private" not in applied and "0.25" not in put.text  # the host reads the public values of the check
    assert applied["stdout"] == "scoring sample.csv against truth.csv rows 3\n", applied
    assert task["id"] in applied["identity_changed"], applied

    stored = (await host.task(task["id"]))["program"]
    assert stored["key"] == f"{task['id']}/{stored['sha256']}.zip" and stored["sha256"] == applied["sha256"]
    data = s3.get_object(PROGRAMS_BUCKET, stored["key"]).read()
    assert hashlib.sha256(data).hexdigest() == stored["sha256"]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:  # a .py is kept as a ZIP holding it as score.py
        assert archive.namelist() == ["score.py"] and archive.read("score.py") == source
    assert (await shown(host, task["id"]))["accepting"]

    # The same file again is the same program: nothing changes.
    again = await host.upload_program(task["id"], "spearman.py", source, SAMPLE)
    assert again.status_code == 200 and not again.json()["changed"], again.text
    # A document that leaves the program out keeps it (the host's file need not repeat it).
    await host.edit_task(task["id"], program={"wall_s": 30.0}, title="renamed")
    assert (await host.task(task["id"]))["program"] | {"wall_s": 60.0} == stored


async def test_a_new_program_is_a_new_identity(host: Host) -> None:
    task = await with_ground_truth(host)
    first = await host.upload_program(task["id"], "score.py", program(GOOD), SAMPLE)
    assert first.status_code == 200, first.text
    document = await host.client.get("/api/v1/admin/competition", headers=host.headers)
    identity = document.json()["identities"][task["id"]]

    helper = zipped(**{"score.py": b"from helper import VALUE\n" + program(GOOD).replace(b"1.0}", b"VALUE}", 1),
                       "helper.py": b"VALUE = 0.75\n"})
    second = await host.upload_program(task["id"], "bundle.zip", helper, SAMPLE)
    assert second.status_code == 200, second.text
    assert second.json()["public"] == {"Spearman": 0.75}, second.json()
    assert second.json()["sha256"] == hashlib.sha256(helper).hexdigest()  # a ZIP is kept as it was uploaded
    assert task["id"] in second.json()["identity_changed"]
    assert any(f"task {task['id']}: scoring identity {identity} →" in change for change in second.json()["changes"])


FAILING = [
    ("a module the pool lacks", "import not_a_module_podium_offers\n" + textwrap.dedent(GOOD),
     "imports 'not_a_module_podium_offers', which the scoring environment does not offer"),
    ("an exception", "def score(truth, submission, context):\n    raise RuntimeError('the host forgot a case')\n",
     "the program failed on the sample submission: the program raised RuntimeError"),
    ("columns that are not the task's", textwrap.dedent(GOOD).replace('"Spearman"', '"Kendall"'), "Kendall"),
]


@pytest.mark.parametrize(("what", "source", "words"), FAILING, ids=[case[0] for case in FAILING])
async def test_a_program_failing_on_the_sample_is_refused_and_nothing_changes(host: Host, what: str, source: str,
                                                                              words: str) -> None:
    task = await with_ground_truth(host)
    before = await host.document()
    refused = await host.upload_program(task["id"], "score.py", source.encode(), SAMPLE)
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert words in problem["detail"], problem
    assert await host.document() == before
    assert not (await shown(host, task["id"]))["accepting"]
    if what == "a module the pool lacks":
        assert problem["missing_module"] == "not_a_module_podium_offers", problem
    if what == "an exception":
        assert "the host forgot a case" in problem["traceback"], problem


NOT_PROGRAMS = [
    ("a ZIP without score.py", "bundle.zip", zipped(**{"main.py": b"print(1)\n"}), "no score.py at its root"),
    ("a ZIP with a folder", "bundle.zip", zipped(**{"score.py": b"", "lib/x.py": b""}), "ZIP was refused"),
    ("a ZIP reaching out", "bundle.zip", zipped(**{"score.py": b"", "../evil.py": b""}), "ZIP was refused"),
    ("not a ZIP", "bundle.zip", b"def score(truth, submission, context): pass\n", "not a ZIP archive"),
    ("not text", "score.py", b"\xff\xfe\x00binary", "not UTF-8 text"),
]


@pytest.mark.parametrize(("what", "filename", "data", "words"), NOT_PROGRAMS, ids=[c[0] for c in NOT_PROGRAMS])
async def test_an_upload_that_is_not_a_program_is_refused(host: Host, what: str, filename: str, data: bytes,
                                                          words: str) -> None:
    task = program_task()
    await host.add_task(task)
    before = await host.document()
    refused = await host.upload_program(task["id"], filename, data)
    assert refused.status_code == 422 and words in refused.json()["detail"], (what, refused.text)
    assert await host.document() == before


async def test_without_a_sample_the_program_is_stored_unchecked(host: Host) -> None:
    task = program_task()
    await host.add_task(task)  # no ground truth needed to store a program unchecked
    put = await host.upload_program(task["id"], "score.py", program(GOOD))
    assert put.status_code == 200, put.text
    assert not put.json()["checked"] and put.json()["public"] == {}, put.json()
    assert any("stored unchecked" in note for note in put.json()["notes"]), put.json()
    assert (await host.task(task["id"]))["program"]["sha256"] == put.json()["sha256"]


async def test_what_a_program_upload_is_refused_before_any_byte(host: Host) -> None:
    task, plain = program_task(), new_task("not-program")
    await host.add_task(task)
    await host.add_task(plain)
    start = f"/api/v1/admin/tasks/{task['id']}/program"
    cases = [
        (start, {"size_bytes": 10, "filename": "score.txt"}, 422, "a program is a .py file"),
        (start, {"size_bytes": 1 << 40, "filename": "score.py"}, 413, "size_bytes must be 1 to"),
        (start, {"size_bytes": 0, "filename": "score.py"}, 422, "size_bytes must be 1 to"),
        (start, {"size_bytes": 10, "filename": "score.py", "sha256": "xyz"}, 422, "64 lowercase hex"),
        (start, {"size_bytes": 10, "filename": "score.py", "sample": {"size_bytes": 10}}, 409, "no ground truth yet"),
        (f"/api/v1/admin/tasks/{plain['id']}/program", {"size_bytes": 10, "filename": "score.py"}, 409,
         "is not scored by a program"),
        ("/api/v1/admin/tasks/no-such-task/program", {"size_bytes": 10, "filename": "score.py"}, 404, "no task"),
    ]
    for path, body, status, words in cases:
        refused = await host.client.post(path, headers=host.headers, json=body)
        assert refused.status_code == status and words in refused.json()["detail"], (body, refused.text)

    assert (await host.upload_ground_truth(task["id"], SOLUTION)).status_code == 200
    too_big = {"size_bytes": 10, "filename": "score.py", "sample": {"size_bytes": 10_001, "filename": "s.csv"}}
    refused = await host.client.post(start, headers=host.headers, json=too_big)
    assert refused.status_code == 413 and "its upload limit" in refused.json()["detail"], refused.text
    unknown = await host.client.post(f"{start}/complete", headers=host.headers, json={"upload_id": "nope"})
    assert unknown.status_code == 404, unknown.text
