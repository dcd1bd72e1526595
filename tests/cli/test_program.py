"""The hosts' `podium admin program put` against the real platform: a .py, a folder (zipped flat by the CLI) or a
.zip, uploaded through presigned URLs with the progress bar, checked on a sample in the sandbox, and applied as a new
version; a program that fails on the sample is refused with its reason, its traceback and its output, and nothing
changes. Each test adds its own program task and removes it at the end (none gets a submission)."""

from __future__ import annotations

import hashlib
import io
import textwrap
import uuid
import zipfile
from pathlib import Path

from litestar.testing import AsyncTestClient

from tests.cli.podium_runner import Cli, flat, ok
from tests.cli.test_competition import current, own_tasks, tasks_of, with_task

__all__ = ["own_tasks"]  # the fixture, shared with test_competition

SOLUTION = "id,target,Usage\nr1,1,Public\nr2,0,Private\n"
SCORE = """
    import csv

    def score(truth, submission, context):
        rows = list(csv.DictReader(open(submission)))
        print("read", len(rows), "rows")
        return {"public": {"Spearman": 0.5}, "private": {"Spearman": 0.75}, "details": {}}
"""


def program_task(task_id: str) -> str:
    return (f'\n[[tasks]]\nid = "{task_id}"\ntitle = "CLI program {task_id}"\nkind = "cpu"\nformat = "csv"\n'
            'metric = "program"\nmax_upload_bytes = 10_000\n[[tasks.metrics]]\nname = "program"\n'
            'column = "Spearman"\nprimary = true\n')


async def a_program_task(admin_cli: Cli, tmp_path: Path, own_tasks: list[str]) -> tuple[str, Path]:
    """A fresh program task with its ground truth, and a sample submission for it."""
    task_id = f"cli-{uuid.uuid4().hex[:8]}"
    own_tasks.append(task_id)
    ok(await admin_cli("admin", "competition", "apply", str(await with_task(admin_cli, tmp_path, program_task(task_id),
                                                                             name=f"{task_id}.toml")), "--yes"))
    truth = tmp_path / "solution.csv"
    truth.write_text(SOLUTION)
    ok(await admin_cli("admin", "ground-truth", "put", task_id, str(truth)))
    sample = tmp_path / "sample.csv"
    sample.write_text("id,target\nr1,1\nr2,0\n")
    return task_id, sample


async def test_program_put_checks_on_the_sample_then_applies(
    admin_cli: Cli, gateway: AsyncTestClient, own_tasks: list[str], tmp_path: Path
) -> None:
    task_id, sample = await a_program_task(admin_cli, tmp_path, own_tasks)
    score = tmp_path / "score.py"
    score.write_text(textwrap.dedent(SCORE))
    before, _ = await current(gateway)

    asked = await admin_cli("admin", "program", "put", task_id, str(score), "--sample", str(sample), input="n\n")
    assert asked.exit_code == 1 and "Not put: nothing changed." in asked.output, asked.output
    assert "as the scoring program of" in flat(asked.output) and "checked on sample.csv first" in flat(asked.output)
    assert (await current(gateway))[0] == before

    put = flat(ok(await admin_cli("admin", "program", "put", task_id, str(score), "--sample", str(sample), "--yes")))
    assert "uploading score.py" in put and "uploading sample.csv" in put  # the progress bars' last states
    assert "the program ran on sample.csv: public Spearman 0.5" in put and "0.75" not in put
    assert "the program's stdout (last 1 lines): read 2 rows" in put
    version, document = await current(gateway)
    stored = tasks_of(document)[task_id]["program"]
    assert version == before + 1 and f"the scoring program of {task_id} is now score.py (sha256 " \
        f"{stored['sha256'][:12]}): version {version}" in put
    assert f"Scoring identity changes: {task_id}" in put

    again = flat(ok(await admin_cli("admin", "program", "put", task_id, str(score), "--yes")))
    assert f"nothing changed (version {version})" in again


async def test_a_folder_is_zipped_flat_and_a_zip_is_sent_as_it_is(
    admin_cli: Cli, gateway: AsyncTestClient, own_tasks: list[str], tmp_path: Path
) -> None:
    task_id, sample = await a_program_task(admin_cli, tmp_path, own_tasks)
    folder = tmp_path / "program"
    folder.mkdir()
    (folder / "score.py").write_text(textwrap.dedent(SCORE).replace("0.5}", "WEIGHT}").replace(
        "import csv", "import csv\nfrom weights import WEIGHT"))
    (folder / "weights.py").write_text("WEIGHT = 0.125\n")
    (folder / "__pycache__").mkdir()
    put = flat(ok(await admin_cli("admin", "program", "put", task_id, str(folder), "--sample", str(sample), "-y")))
    assert "public Spearman 0.125" in put, put

    bundle = tmp_path / "bundle.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("score.py", textwrap.dedent(SCORE).replace("0.5}", "0.25}"))
    put = flat(ok(await admin_cli("admin", "program", "put", task_id, str(bundle), "--sample", str(sample), "-y")))
    assert "public Spearman 0.25" in put, put
    _, document = await current(gateway)
    assert tasks_of(document)[task_id]["program"]["sha256"] == hashlib.sha256(bundle.read_bytes()).hexdigest()

    (folder / "data").mkdir()
    refused = await admin_cli("admin", "program", "put", task_id, str(folder), "--yes")
    assert refused.exit_code == 1 and "holds folders (data): a program is flat" in flat(refused.output)
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = await admin_cli("admin", "program", "put", task_id, str(empty), "--yes")
    assert refused.exit_code == 1 and "has no score.py" in flat(refused.output)


async def test_a_program_failing_on_the_sample_is_refused_with_its_traceback(
    admin_cli: Cli, gateway: AsyncTestClient, own_tasks: list[str], tmp_path: Path
) -> None:
    task_id, sample = await a_program_task(admin_cli, tmp_path, own_tasks)
    before = await current(gateway)
    broken = tmp_path / "score.py"
    broken.write_text("def score(truth, submission, context):\n    print('about to fail')\n"
                      "    raise KeyError('the column I expected')\n")
    refused = await admin_cli("admin", "program", "put", task_id, str(broken), "--sample", str(sample), "--yes")
    assert refused.exit_code == 1, refused.output
    output = flat(refused.output)
    assert f"score.py was refused as the scoring program of {task_id}, nothing changed: the program failed on the " \
           "sample submission: the program raised KeyError" in output
    assert "the program's stdout (last 1 lines): about to fail" in output
    assert "the program's traceback" in output and "the column I expected" in output
    assert await current(gateway) == before

    missing = tmp_path / "needs.py"
    missing.write_text("import tensorflow_is_not_offered\n" + textwrap.dedent(SCORE))
    refused = await admin_cli("admin", "program", "put", task_id, str(missing), "--sample", str(sample), "--yes")
    assert refused.exit_code == 1 and "imports 'tensorflow_is_not_offered', which the scoring environment does " \
        "not offer" in flat(refused.output)
    not_zip = tmp_path / "fake.zip"
    not_zip.write_bytes(io.BytesIO(b"not a zip at all").getvalue())
    refused = await admin_cli("admin", "program", "put", task_id, str(not_zip), "--yes")
    assert refused.exit_code == 1 and "not a ZIP archive" in flat(refused.output)
    assert await current(gateway) == before
