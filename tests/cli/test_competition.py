"""The hosts' `podium admin competition apply|show|history` and `podium admin ground-truth put`, and the
participants' `podium tasks`, against the real platform.

The session's competition is shared with every other test: these tests never change its tasks; each adds its own
(`cli-<random>`) to the document `show --toml` prints, and removes it at the end (none gets a submission)."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import click
import httpx
import msgspec
import numpy as np
import pytest
from litestar.testing import AsyncTestClient

from deploy.demo import npy_zip
from proto.competition import parse_competition
from tests.api import bearer
from tests.cli.podium_runner import Cli, Team, flat, ok
from tests.conftest import admin_login

MakeTeam = Callable[[], Awaitable[Team]]
ADMIN_COMPETITION = "/api/v1/admin/competition"


def task_toml(task_id: str, **fields: str) -> str:
    """A small tensor task (two samples of shape [2], no ground truth yet) whose main phase closes in 2099."""
    values = {"title": f'"CLI test {task_id}"', "kind": '"cpu"', "metric": '"psnr"', "daily_quota": "3",
              "max_upload_bytes": "1_000_000", "samples": "2", "shape": "[2]", **fields}
    lines = "\n".join(f"{name} = {value}" for name, value in values.items())
    return (f'\n[[tasks]]\nid = "{task_id}"\n{lines}\n[[tasks.phases]]\nid = "main"\n'
            "opens_at = 2020-01-01T00:00:00Z\ncloses_at = 2099-01-01T00:00:00Z\n")


async def current(gateway: AsyncTestClient) -> tuple[int, dict]:
    """The current version (its ETag) and document, as an admin reads them."""
    response = await gateway.get(ADMIN_COMPETITION, headers=bearer(await admin_login(gateway)))
    assert response.status_code == 200, response.text
    return int(response.headers["etag"].strip('"')), response.json()


def cells(table: str, task_id: str) -> list[str]:
    """The cells of `task_id`'s row (its first line) in a table `podium admin competition show` printed."""
    for line in table.splitlines():
        found = [cell.strip() for cell in line.strip().strip("│").split("│")]
        if found[0] == task_id:
            return found
    raise AssertionError(f"no row for {task_id} in\n{table}")


def edit_task(document: str, task_id: str, old: str, new: str) -> str:
    """A TOML document with `old` replaced by `new` in `task_id`'s section only."""
    sections = document.split("[[tasks]]")
    for index, section in enumerate(sections):
        if f'id = "{task_id}"' in section:
            assert old in section, section
            sections[index] = section.replace(old, new)
    return "[[tasks]]".join(sections)


def tasks_of(document: dict) -> dict[str, dict]:
    return {task["id"]: task for task in document["competition"]["tasks"]}


@pytest.fixture
async def own_tasks(gateway: AsyncTestClient) -> AsyncIterator[list[str]]:
    """The ids of the tasks a test adds; removed from the competition after the test (they take no submission)."""
    added: list[str] = []
    yield added
    headers = bearer(await admin_login(gateway))
    for _attempt in range(3):  # another test may apply meanwhile (412): read again
        version, document = await current(gateway)
        kept = [t for t in document["competition"]["tasks"] if t["id"] not in added]
        if len(kept) == len(document["competition"]["tasks"]):
            return
        response = await gateway.put(ADMIN_COMPETITION, json={**document["competition"], "tasks": kept},
                                     headers={**headers, "if-match": f'"{version}"'})
        if response.status_code != 412:
            assert response.status_code == 200, response.text
            return
    pytest.fail("could not remove the test's tasks")


async def with_task(admin_cli: Cli, folder: Path, extra: str, name: str = "competition.toml") -> Path:
    """The current competition as `show --toml` prints it, plus `extra` (a task), as a file to apply."""
    path = folder / name
    path.write_text(ok(await admin_cli("admin", "competition", "show", "--toml")) + extra)
    return path


async def test_apply_shows_the_diff_asks_then_applies_once(
    admin_cli: Cli, gateway: AsyncTestClient, own_tasks: list[str], tmp_path: Path
) -> None:
    task_id = f"cli-{uuid.uuid4().hex[:8]}"
    own_tasks.append(task_id)
    path = await with_task(admin_cli, tmp_path, task_toml(task_id))
    before, _ = await current(gateway)

    declined = await admin_cli("admin", "competition", "apply", str(path), input="n\n")
    assert declined.exit_code == 1, declined.output
    output = flat(declined.output)
    assert f"changes version {before}:" in output
    assert f'+ task {task_id}: added (cpu, psnr, "CLI test {task_id}")' in output  # one line per change
    assert f"note: task {task_id} has no ground truth yet" in output
    assert "Apply? [y/N]" in output and "Not applied: nothing changed." in output
    version, document = await current(gateway)
    assert version == before and task_id not in tasks_of(document)

    applied = ok(await admin_cli("admin", "competition", "apply", str(path), "--yes"))
    assert f"+ task {task_id}: added" in applied and "Apply?" not in applied
    assert f"applied: version {before + 1} is the competition now" in applied
    version, document = await current(gateway)
    assert version == before + 1 and tasks_of(document)[task_id]["daily_quota"] == 3

    again = ok(await admin_cli("admin", "competition", "apply", str(path)))
    assert f"nothing changed (version {version})" in again and "Apply?" not in again
    assert (await current(gateway))[0] == version

    quota = path.read_text().replace(task_toml(task_id), task_toml(task_id, daily_quota="7"))
    path.write_text(quota)
    raised = ok(await admin_cli("admin", "competition", "apply", str(path), input="y\n"))
    assert f"~ task {task_id}: daily_quota 3 → 7" in raised and "Apply? [y/N]: y" in raised
    assert "Scoring identity changes" not in raised  # a quota is no part of how a task is scored
    version, document = await current(gateway)
    assert version == before + 2 and tasks_of(document)[task_id]["daily_quota"] == 7

    history = flat(ok(await admin_cli("admin", "competition", "history")))
    rows = [int(found) for found in re.findall(r"│ +(\d+) │ \d{4}-", history)]
    assert rows.index(before + 2) < rows.index(before + 1) < rows.index(before)  # newest first
    assert f"task {task_id}: daily_quota 3 → 7" in history and f"task {task_id}: added" in history
    assert "root-admin" in history
    listed = json.loads(ok(await admin_cli("admin", "competition", "history", "--json")))["versions"]
    assert [v["version"] for v in listed[:3]] == [before + 2, before + 1, before]


async def test_show_and_its_toml_round_trip(
    admin_cli: Cli, gateway: AsyncTestClient, own_tasks: list[str], tmp_path: Path
) -> None:
    task_id = f"cli-{uuid.uuid4().hex[:8]}"
    own_tasks.append(task_id)
    ok(await admin_cli("admin", "competition", "apply", str(await with_task(admin_cli, tmp_path, task_toml(task_id))),
                       "--yes"))
    version, document = await current(gateway)

    table = ok(await admin_cli("admin", "competition", "show"))
    assert f"version {version}, by root-admin" in table
    row = cells(table, task_id)
    assert row[2:5] == ["cpu", "psnr", "3/day"] and row[5].startswith("main, closes 209")
    assert row[6:9] == ["none yet", document["identities"][task_id], "0"]
    recon = cells(table, "recon")
    assert recon[5:7] == ["open, no deadline", tasks_of(document)["recon"]["ground_truth_sha256"][:12]]
    assert cells(table, "closed")[5] == "closed"

    shown = ok(await admin_cli("admin", "competition", "show", "--toml"))
    served = await gateway.get(ADMIN_COMPETITION, params={"format": "toml"},
                               headers=bearer(await admin_login(gateway)))
    assert shown == served.text  # exactly what the API answers
    path = tmp_path / "shown.toml"
    path.write_text(shown)
    assert f"nothing changed (version {version})" in ok(await admin_cli("admin", "competition", "apply", str(path)))

    earlier = ok(await admin_cli("admin", "competition", "show", "--version", str(version - 1), "--toml"))
    assert f'id = "{task_id}"' not in earlier and 'id = "recon"' in earlier
    this = ok(await admin_cli("admin", "competition", "show", "--version", str(version), "--toml"))
    assert parse_competition(this) == parse_competition(shown)
    old_table = ok(await admin_cli("admin", "competition", "show", "--version", str(version - 1)))
    assert f"version {version - 1}," in old_table and task_id not in old_table
    assert "stale counts are shown for the current version only" in flat(old_table)
    missing = await admin_cli("admin", "competition", "show", "--version", "999999")
    assert missing.exit_code == 1 and "no competition version 999999" in missing.output


async def test_a_json_document_is_applied_as_json(
    admin_cli: Cli, gateway: AsyncTestClient, own_tasks: list[str], tmp_path: Path
) -> None:
    task_id = f"cli-{uuid.uuid4().hex[:8]}"
    own_tasks.append(task_id)
    document = json.loads(ok(await admin_cli("admin", "competition", "show", "--json")))["competition"]
    task = parse_competition(task_toml(task_id)).tasks[0]
    document["tasks"].append({**msgspec.to_builtins(task), "description": "Written as **JSON**."})
    path = tmp_path / "competition.json"
    path.write_text(json.dumps(document))
    applied = ok(await admin_cli("admin", "competition", "apply", str(path), "--yes"))
    assert f"+ task {task_id}: added" in applied
    _, now = await current(gateway)
    assert tasks_of(now)[task_id]["description"] == "Written as **JSON**."
    assert "nothing changed" in ok(await admin_cli("admin", "competition", "apply", str(path)))


@pytest.mark.parametrize(("fields", "field"), [
    ({"daily_quota": "0"}, "daily_quota"),
    ({"colour": '"blue"'}, "colour"),
    ({"scorer_version": '"v1"'}, "scorer_version"),
    ({"shape": "[]"}, "shape"),
    ({"metric": '"accuracy"'}, "metric"),
    ({"aliases": '["lab"]'}, "aliases"),  # another task's id
])
async def test_a_bad_document_names_the_task_and_field_and_changes_nothing(
    admin_cli: Cli, gateway: AsyncTestClient, tmp_path: Path, fields: dict[str, str], field: str
) -> None:
    path = await with_task(admin_cli, tmp_path, task_toml("cli-bad", **fields))
    before, _ = await current(gateway)
    refused = await admin_cli("admin", "competition", "apply", str(path), "--yes")
    assert refused.exit_code == 1, refused.output
    assert f"{path.name} was refused, nothing changed: task cli-bad, field {field}:" in flat(refused.output)
    assert "Apply?" not in refused.output
    assert (await current(gateway))[0] == before


CSV_COLUMNS = ('[[tasks.metrics]]\nname = "roc_auc"\ncolumn = "AUC"\nprimary = true\n'
               '[[tasks.metrics]]\nname = "log_loss"\ncolumn = "LogLoss"\n')


@pytest.mark.parametrize(("extra", "field", "words"), [
    ('metric_parameters = { average = "macro" }\n', "metric_parameters",
     "roc_auc: unknown parameter(s) average; its parameters: none"),
    (CSV_COLUMNS + "parameters = { eps = 1e-15 }\n", "metrics",
     "column LogLoss: log_loss: unknown parameter(s) eps; its parameters: none"),
], ids=["the shorthand's", "a column's"])
async def test_the_dry_run_names_a_metric_parameter_the_library_refuses(
    admin_cli: Cli, gateway: AsyncTestClient, tmp_path: Path, extra: str, field: str, words: str
) -> None:
    csv_task = '\n[[tasks]]\nid = "cli-csv"\ntitle = "CLI csv"\nkind = "cpu"\nformat = "csv"\nmetric = "roc_auc"\n'
    path = await with_task(admin_cli, tmp_path, csv_task + extra)
    before, _ = await current(gateway)
    refused = await admin_cli("admin", "competition", "apply", str(path))  # refused by the dry run, before asking
    assert refused.exit_code == 1, refused.output
    assert f"{path.name} was refused, nothing changed: task cli-csv, field {field}: {words}" in flat(refused.output)
    assert "Apply?" not in refused.output
    assert (await current(gateway))[0] == before


async def test_files_that_are_not_documents_are_refused(admin_cli: Cli, gateway: AsyncTestClient,
                                                        tmp_path: Path) -> None:
    before, _ = await current(gateway)
    broken = tmp_path / "broken.toml"
    broken.write_text("[[tasks]\nid = ")
    refused = await admin_cli("admin", "competition", "apply", str(broken), "--yes")
    assert refused.exit_code == 1 and "broken.toml was refused, nothing changed: not valid TOML" in flat(
        refused.output)
    listing = tmp_path / "competition.json"
    listing.write_text('{"tasks": [{"id": "cli-j", "title": "j", "kind": "cpu", "metric": "psnr", "shape": "2"}]}')
    refused = await admin_cli("admin", "competition", "apply", str(listing), "--yes")
    assert refused.exit_code == 1 and "task cli-j, field shape" in flat(refused.output)
    other = tmp_path / "competition.yaml"
    other.write_text("tasks: []")
    refused = await admin_cli("admin", "competition", "apply", str(other))
    assert refused.exit_code == 1 and "give a .toml or a .json file" in refused.output
    missing = await admin_cli("admin", "competition", "apply", str(tmp_path / "nowhere.toml"))
    assert missing.exit_code == 1 and "no such file" in missing.output
    assert (await current(gateway))[0] == before


async def test_a_change_made_meanwhile_refuses_the_apply_with_412(
    admin_cli: Cli, gateway: AsyncTestClient, gateway_url: str, own_tasks: list[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another admin applies between the diff and the answer to "Apply?": the diff no longer describes what the
    apply would do, so it is refused, and the host sees who changed what."""
    task_id = f"cli-{uuid.uuid4().hex[:8]}"
    own_tasks.append(task_id)
    ok(await admin_cli("admin", "competition", "apply", str(await with_task(admin_cli, tmp_path, task_toml(task_id))),
                       "--yes"))
    mine = tmp_path / "mine.toml"
    mine.write_text((await with_task(admin_cli, tmp_path, "")).read_text().replace(
        f'title = "CLI test {task_id}"', 'title = "Mine"'))
    token = await admin_login(gateway)
    meanwhile: list[int] = []

    def the_other_admin(_text: str, **_options: object) -> bool:
        with httpx.Client(base_url=gateway_url, headers=bearer(token)) as other:
            read = other.get(ADMIN_COMPETITION)
            document = read.json()["competition"]
            for task in document["tasks"]:
                if task["id"] == task_id:
                    task["title"] = "Theirs"
            wrote = other.put(ADMIN_COMPETITION, json=document, headers={"if-match": read.headers["etag"]})
            assert wrote.status_code == 200, wrote.text
            meanwhile.append(wrote.json()["version"])
        return True

    monkeypatch.setattr(click, "confirm", the_other_admin)
    refused = await admin_cli("admin", "competition", "apply", str(mine))
    assert refused.exit_code == 1, refused.output
    output = flat(refused.output)
    assert f"~ task {task_id}: title \"CLI test {task_id}\" → \"Mine\"" in output  # the diff it was asked about
    assert f"someone changed the competition meanwhile: it is at version {meanwhile[0]} now, not " \
           f"{meanwhile[0] - 1}" in output
    assert f"version {meanwhile[0]}, by root-admin" in output and "→ \"Theirs\"" in output
    assert f"run `podium admin competition apply {mine}` again" in output
    version, document = await current(gateway)
    assert version == meanwhile[0] and tasks_of(document)[task_id]["title"] == "Theirs"
    monkeypatch.undo()

    again = ok(await admin_cli("admin", "competition", "apply", str(mine), "--yes"))  # against the new version
    assert '"Theirs" → "Mine"' in again


async def test_ground_truth_put_uploads_checks_and_records_the_digest(
    admin_cli: Cli, gateway: AsyncTestClient, own_tasks: list[str], tmp_path: Path
) -> None:
    task_id = f"cli-{uuid.uuid4().hex[:8]}"
    own_tasks.append(task_id)
    ok(await admin_cli("admin", "competition", "apply", str(await with_task(admin_cli, tmp_path, task_toml(task_id))),
                       "--yes"))
    before, _ = await current(gateway)

    incomplete = tmp_path / "incomplete.zip"
    incomplete.write_bytes(npy_zip({"sample_0000": np.zeros(2, np.float32)}))
    refused = await admin_cli("admin", "ground-truth", "put", task_id, str(incomplete))
    assert refused.exit_code == 1, refused.output
    assert f"incomplete.zip was refused as the ground truth of {task_id}, nothing changed:" in flat(refused.output)
    assert "lacks sample_0001.npy" in flat(refused.output)
    wrong_shape = tmp_path / "wrong-shape.zip"
    wrong_shape.write_bytes(npy_zip({f"sample_000{i}": np.zeros(3, np.float32) for i in range(2)}))
    refused = await admin_cli("admin", "ground-truth", "put", task_id, str(wrong_shape))
    assert refused.exit_code == 1 and "has shape [3], the task says [2]" in flat(refused.output)
    version, document = await current(gateway)
    assert version == before and not tasks_of(document)[task_id]["ground_truth_sha256"]

    good = tmp_path / "truth.zip"
    good.write_bytes(npy_zip({f"sample_000{i}": np.full(2, i, np.float32) for i in range(2)}))
    digest = hashlib.sha256(good.read_bytes()).hexdigest()
    put = ok(await admin_cli("admin", "ground-truth", "put", task_id, str(good)))
    assert "uploading truth.zip" in put  # the progress bar's last state
    assert f"the ground truth of {task_id} is now truth.zip" in flat(put) and f"sha256 {digest[:12]}" in put
    assert f"version {before + 1}" in put
    assert f"~ task {task_id}: ground_truth_sha256" in put
    version, document = await current(gateway)
    assert version == before + 1 and tasks_of(document)[task_id]["ground_truth_sha256"] == digest
    assert cells(ok(await admin_cli("admin", "competition", "show")), task_id)[6] == digest[:12]

    same = ok(await admin_cli("admin", "ground-truth", "put", task_id, str(good)))
    assert f"nothing changed (version {version})" in same

    better = tmp_path / "truth-2.zip"
    better.write_bytes(npy_zip({f"sample_000{i}": np.full(2, i + 1, np.float32) for i in range(2)}))
    replaced = flat(ok(await admin_cli("admin", "ground-truth", "put", task_id, str(better))))
    assert f"Scoring identity changes: {task_id}" in replaced
    assert f"task {task_id}: 0 scored submissions were scored under an older definition (nothing to rescore)" in \
        replaced
    assert (await current(gateway))[0] == version + 1

    unknown = await admin_cli("admin", "ground-truth", "put", "no-such-task", str(good))
    assert unknown.exit_code == 1 and "no task 'no-such-task'" in unknown.output


async def test_a_new_ground_truth_counts_the_scores_it_leaves_behind_and_names_the_rescore(
    admin_cli: Cli, gateway: AsyncTestClient, make_team: MakeTeam, tmp_path: Path
) -> None:
    """A scored submission, then a new ground truth: the command says one score was made under the older
    definition and which rescore brings it up to date; `show` counts it until the rescore has run. The task has a
    submission now, so it cannot be removed: it is archived at the end."""
    task_id = f"cli-{uuid.uuid4().hex[:8]}"
    ok(await admin_cli("admin", "competition", "apply", str(await with_task(admin_cli, tmp_path, task_toml(task_id))),
                       "--yes"))
    truth = {f"sample_000{i}": np.full(2, 0.25 * (i + 1), np.float32) for i in range(2)}
    first = tmp_path / "truth.zip"
    first.write_bytes(npy_zip(truth))
    ok(await admin_cli("admin", "ground-truth", "put", task_id, str(first)))
    team = await make_team()
    submission = tmp_path / "predictions.zip"
    submission.write_bytes(npy_zip({name: array + np.float32(0.01) for name, array in truth.items()}))
    assert "scored" in ok(await team.cli("submit", task_id, str(submission)))

    second = tmp_path / "truth-2.zip"
    second.write_bytes(npy_zip({name: array + np.float32(0.5) for name, array in truth.items()}))
    replaced = flat(ok(await admin_cli("admin", "ground-truth", "put", task_id, str(second))))
    assert f"task {task_id}: 1 scored submission was scored under an older definition; rescore them with " \
           f"`podium admin rescore {task_id}`" in replaced
    assert cells(ok(await admin_cli("admin", "competition", "show")), task_id)[8] == "1"

    rescored = ok(await admin_cli("admin", "rescore", task_id))
    assert "1/1 rescored" in rescored
    assert cells(ok(await admin_cli("admin", "competition", "show")), task_id)[8] == "0"

    removed = await with_task(admin_cli, tmp_path, "", name="removed.toml")
    sections = removed.read_text().split("[[tasks]]")
    removed.write_text("[[tasks]]".join(part for part in sections if f'id = "{task_id}"' not in part))
    refused = await admin_cli("admin", "competition", "apply", str(removed), "--yes")
    assert refused.exit_code == 1 and f"task {task_id} has submissions, so it cannot be removed; archive it " \
        "instead" in flat(refused.output)
    archived = await with_task(admin_cli, tmp_path, "", name="archived.toml")
    archived.write_text(edit_task(archived.read_text(), task_id, "archived = false", "archived = true"))
    ok(await admin_cli("admin", "competition", "apply", str(archived), "--yes"))
    _, document = await current(gateway)
    assert tasks_of(document)[task_id]["archived"] is True


async def test_tasks_shows_descriptions_formats_phases_and_the_quota_left(
    admin_cli: Cli, make_cli: Callable[[], Cli], make_team: MakeTeam, own_tasks: list[str], tmp_path: Path,
    archive: Callable[..., Path]
) -> None:
    described, upcoming = f"cli-{uuid.uuid4().hex[:8]}", f"cli-{uuid.uuid4().hex[:8]}"
    own_tasks += [described, upcoming]
    description = '"""\n# Rules of the game\n\nSubmit **float32** tensors.\n\n- one file per sample\n"""'
    later = task_toml(upcoming).replace("opens_at = 2020-01-01T00:00:00Z", "opens_at = 2098-01-01T00:00:00Z")
    path = await with_task(admin_cli, tmp_path, task_toml(described, description=description) + later)
    ok(await admin_cli("admin", "competition", "apply", str(path), "--yes"))
    team = await make_team()
    ok(await team.cli("submit", "lab", str(archive("lab")), "--no-wait"))

    shown = ok(await team.cli("tasks"))
    section = shown[shown.index(described):shown.index(upcoming)]
    assert "Rules of the game" in section and "Submit float32 tensors." in section and "**" not in section
    assert "one file per sample" in section
    assert "a ZIP of 2 tensors named sample_0000 … sample_0001" in flat(section)
    assert re.search(r"open: phase main, closes 209\d-\d\d-\d\d \d\d:\d\d .*\(in \d+ d( \d+ h)?\)", flat(section))
    assert "3 of 3 submissions left today" in section
    assert "takes no submissions now" in flat(section) and "no ground truth yet" in flat(section)
    assert re.search(r"closed; the next phase opens 209\d-\d\d-\d\d .*\(in \d+ d", flat(shown[shown.index(upcoming):]))
    lab = flat(shown[shown.index("lab —"):])
    assert "99 of 100 submissions left today" in lab and "open, no deadline" in lab
    assert "closed: no phase opens again" in flat(shown[shown.index("closed —"):])

    anonymous = flat(ok(await make_cli()("tasks")))
    assert "3 submissions a day per team" in anonymous and "left today" not in anonymous

    archived = (await with_task(admin_cli, tmp_path, "", name="archived.toml"))
    archived.write_text(edit_task(archived.read_text(), described, "archived = false", "archived = true"))
    assert f"task {described}: archived false → true" in ok(
        await admin_cli("admin", "competition", "apply", str(archived), "--yes"))
    shown = flat(ok(await team.cli("tasks")))
    assert f"{described} — CLI test {described} [archived]" in shown
    assert "archived: read-only, it takes no more submissions" in shown


pytestmark = pytest.mark.timeout(180)
