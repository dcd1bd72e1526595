"""`podium admin competition import-codabench` against the real platform: the bundle's competition applied (after
the diff and the question), its reference data put as the task's ground truth, its program put.

The session's competition is shared: the bundle's task has an id of its own, and the test puts the competition's
name back and removes the task at the end (it gets no submission)."""

from __future__ import annotations

import hashlib
import io
import uuid
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from litestar.testing import AsyncTestClient

from podium_cli.codabench import read_bundle
from proto.competition import SCORED_FORMATS
from tests.api import bearer
from tests.cli.podium_runner import Cli, flat, ok
from tests.cli.test_competition import ADMIN_COMPETITION, current, tasks_of
from tests.conftest import admin_login

SCORE_PY = b"""import json, sys
from pathlib import Path
truth = float((Path(sys.argv[1]) / "ref" / "answer.txt").read_text())
guess = float((Path(sys.argv[1]) / "res" / "answer.txt").read_text())
(Path(sys.argv[2]) / "scores.json").write_text(json.dumps({"error": abs(truth - guess)}))
"""


def write_bundle(folder: Path, task_name: str) -> Path:
    document = {
        "version": 2, "title": f"Codabench import {task_name}", "docker_image": "codalab/codalab-legacy:py39",
        "pages": [{"title": "Overview", "file": "pages/overview.md"}],
        "tasks": [{"index": 0, "name": task_name, "reference_data": "reference_data",
                   "scoring_program": "scoring_program", "ingestion_program": "ingestion_program"}],
        "phases": [{"index": 0, "name": "Main", "start": "2020-01-01", "end": "2099-01-01", "tasks": [0]}],
        "leaderboards": [{"title": "Results", "key": "main", "columns": [
            {"title": "Error", "key": "error", "index": 0, "sorting": "asc"}]}],
    }
    path = folder / "bundle.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("competition.yaml", yaml.safe_dump(document))
        archive.writestr("pages/overview.md", "Guess pi.")
        archive.writestr("reference_data/answer.txt", "3.14159")
        archive.writestr("scoring_program/score.py", SCORE_PY)
        archive.writestr("ingestion_program/ingest.py", "print('not used')")
    return path


@pytest.fixture
async def restored(gateway: AsyncTestClient) -> AsyncIterator[list[str]]:
    """The ids of the tasks a test imports: removed after it, and the competition's name put back."""
    _, before = await current(gateway)
    added: list[str] = []
    yield added
    headers = bearer(await admin_login(gateway))
    for _attempt in range(3):  # another test may apply meanwhile (412): read again
        version, document = await current(gateway)
        kept = [task for task in document["competition"]["tasks"] if task["id"] not in added]
        body = {**document["competition"], "competition": before["competition"]["competition"], "tasks": kept}
        if body == document["competition"]:
            return
        response = await gateway.put(ADMIN_COMPETITION, json=body, headers={**headers, "if-match": f'"{version}"'})
        if response.status_code != 412:
            assert response.status_code == 200, response.text
            return
    pytest.fail("could not remove the imported tasks")


async def test_a_codabench_bundle_is_imported_with_its_ground_truth_and_program(
    admin_cli: Cli, gateway: AsyncTestClient, restored: list[str], tmp_path: Path
) -> None:
    task_id = f"cb-{uuid.uuid4().hex[:8]}"
    path = write_bundle(tmp_path, task_id)
    restored.append(task_id)
    before, _ = await current(gateway)

    declined = await admin_cli("admin", "competition", "import-codabench", str(path), input="n\n")
    output = flat(declined.output)
    assert declined.exit_code == 1, declined.output
    assert "Not mapped from bundle.zip:" in output
    assert f"task {task_id}: its ingestion program (ingestion_program); Podium scores the results" in output
    version, document = await current(gateway)
    assert version == before and task_id not in tasks_of(document)

    if "file" not in SCORED_FORMATS:
        # This version's scorers do not score the `file` format yet: the platform refuses the task, and the import
        # says so without changing anything or putting a file.
        assert f"bundle.zip was refused, nothing changed: task {task_id}, field format: format file is not " \
               "supported yet" in output
        return

    assert f"+ task {task_id}: added" in output and "Apply? [y/N]" in output
    imported = await admin_cli("admin", "competition", "import-codabench", str(path), "--yes")
    output = flat(imported.output)
    assert f"applied: version {before + 1} is the competition now" in output
    files = read_bundle(path.read_bytes()).files[0]
    _, document = await current(gateway)
    task = tasks_of(document)[task_id]
    assert (task["metric"], task["format"], task["program"]["contract"]) == ("program", "file", "codabench")
    assert document["competition"]["competition"]["name"] == f"Codabench import {task_id}"
    assert task["ground_truth_sha256"] == hashlib.sha256(files.ground_truth or b"").hexdigest()
    assert f"the ground truth of {task_id} is now the bundle's" in output
    with zipfile.ZipFile(io.BytesIO(files.program or b"")) as program:
        assert program.read("score.py") == SCORE_PY
    if imported.exit_code == 0:  # the platform takes programs: the task's program is the bundle's
        assert task["program"]["sha256"] == hashlib.sha256(files.program or b"").hexdigest()
        again = flat(ok(await admin_cli("admin", "competition", "import-codabench", str(path), "--yes")))
        assert "nothing changed" in again and "applied" not in again
    else:
        assert f"task {task_id}: the program was not put:" in output
        assert "this Podium takes no scoring programs yet" in output


async def test_a_hostile_bundle_is_refused_with_the_reason_and_changes_nothing(
    admin_cli: Cli, gateway: AsyncTestClient, tmp_path: Path
) -> None:
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("competition.yaml", "version: 2\n")
        archive.writestr("../../etc/cron.d/evil", "* * * * * root true")
    before, _ = await current(gateway)
    refused = await admin_cli("admin", "competition", "import-codabench", str(path), "--yes")
    assert refused.exit_code == 1
    assert "evil.zip was refused, nothing changed: the bundle: ../../etc/cron.d/evil climbs out of the bundle" in \
        flat(refused.output)
    assert (await current(gateway))[0] == before
