"""The Codabench bundle mapper on small generated bundles: what maps, what is named as not mapped, and the hostile
bundles refused with a reason."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
import yaml

from podium_cli.codabench import BundleLimits, BundleRefused, Imported, merged, read_bundle
from proto.competition import Competition, check_competition

SCORE_PY = b"""import json, sys
from pathlib import Path
truth = float((Path(sys.argv[1]) / "ref" / "answer.txt").read_text())
guess = float((Path(sys.argv[1]) / "res" / "answer.txt").read_text())
(Path(sys.argv[2]) / "scores.json").write_text(json.dumps({"error": abs(truth - guess), "guess": guess}))
"""


def v2_yaml(**overrides: object) -> dict[str, object]:
    document: dict[str, object] = {
        "version": 2,
        "title": "Compute pi",
        "description": "Find the value of pi.",
        "docker_image": "codalab/codalab-legacy:py39",
        "terms": "pages/terms.md",
        "pages": [{"title": "Overview", "file": "pages/overview.md"}, {"title": "Data", "file": "pages/data.html"}],
        "tasks": [{"index": 0, "name": "Pi development", "description": "Three digits.",
                   "reference_data": "reference_data/", "scoring_program": "scoring_program/"}],
        "phases": [
            {"index": 0, "name": "Development", "start": "1-1-2026", "end": "2026-03-01", "tasks": [0],
             "max_submissions_per_day": 3, "execution_time_limit_ms": 120_000},
            {"index": 1, "name": "Final", "start": datetime(2026, 3, 1, 12, 0), "tasks": [0]},
        ],
        "leaderboards": [{"title": "Results", "key": "main", "columns": [
            {"title": "Error", "key": "error", "index": 0, "sorting": "asc", "precision": 6},
            {"title": "Guess", "key": "guess", "index": 1, "sorting": "desc", "hidden": True},
        ]}],
    }
    document.update(overrides)
    return document


def bundle(document: object, files: dict[str, bytes] | None = None, *, prefix: str = "") -> bytes:
    default = {"pages/terms.md": b"Be nice.", "pages/overview.md": b"# Pi\n\nCompute it.",
               "pages/data.html": b"<h2>Data</h2><p>One <b>number</b>.</p><script>alert(1)</script>",
               "reference_data/answer.txt": b"3.14159", "scoring_program/score.py": SCORE_PY,
               "scoring_program/metadata": b"command: python3 $program/score.py $input $output\n"}
    text = document if isinstance(document, bytes) else yaml.safe_dump(document).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in {"competition.yaml": text, **(default if files is None else files)}.items():
            archive.writestr(prefix + name, content)
    return buffer.getvalue()


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def run_program(program: bytes, folder: Path, submission: bytes) -> dict[str, float]:
    """Run the program the way Podium's Codabench contract does: `python score.py INPUT OUTPUT`."""
    for name, content in members(program).items():
        (folder / "program" / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / "program" / name).write_bytes(content)
    for part, content in (("ref", b"3.14159"), ("res", submission)):
        (folder / "input" / part).mkdir(parents=True)
        (folder / "input" / part / "answer.txt").write_bytes(content)
    (folder / "output").mkdir()
    subprocess.run([sys.executable, "score.py", str(folder / "input"), str(folder / "output")],
                   cwd=folder / "program", check=True, timeout=60)
    return json.loads((folder / "output" / "scores.json").read_text())


def test_a_codabench_bundle_maps_title_pages_phases_columns_and_files() -> None:
    imported = read_bundle(bundle(v2_yaml()))
    assert imported.competition.competition.name == "Compute pi"
    (task,) = imported.competition.tasks
    assert (task.id, task.title, task.kind, task.format, task.metric) == (
        "pi-development", "Pi development", "cpu", "file", "program")
    assert task.program.contract == "codabench" and (task.program.wall_s, task.program.cpu_s) == (120.0, 120)
    assert task.daily_quota == 3
    assert [(p.id, p.opens_at, p.closes_at) for p in task.phases] == [
        ("development", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)),
        ("final", datetime(2026, 3, 1, 12, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)),
    ]
    assert [(c.name, c.header, c.direction, c.primary, c.hidden, c.precision) for c in task.metrics] == [
        ("program", "error", "asc", True, False, 6), ("program", "guess", "desc", False, True, 4)]
    assert task.description.startswith("Three digits.\n\nFind the value of pi.\n\n## Overview\n\n# Pi")
    assert "## Data\n\n## Data\n\nOne number." in task.description and "alert" not in task.description
    assert task.description.endswith("## Terms\n\nBe nice.")
    (files,) = imported.files
    assert files.task_id == task.id and members(files.ground_truth or b"") == {"answer.txt": b"3.14159"}
    assert members(files.program or b"")["score.py"] == SCORE_PY  # runs as it is: no shim
    assert imported.unmapped == ()


def test_the_mapped_competition_passes_the_platforms_checks_once_file_is_scored(monkeypatch: pytest.MonkeyPatch
                                                                                ) -> None:
    imported = read_bundle(bundle(v2_yaml()))
    monkeypatch.setattr("proto.competition.SCORED_FORMATS", frozenset({"file", "tensors"}))
    document = msgspec.to_builtins(imported.competition)
    assert check_competition(document) == imported.competition


def test_the_same_bundle_gives_the_same_files_byte_for_byte() -> None:
    first, second = read_bundle(bundle(v2_yaml())), read_bundle(bundle(v2_yaml()))
    assert first.files == second.files


def test_a_zipped_folder_and_zips_inside_the_bundle_are_read() -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("answer.txt", b"3.14159")
    document = v2_yaml(tasks=[{"index": 0, "name": "Pi", "reference_data": "reference.zip",
                               "scoring_program": "scoring_program"}])
    files = {"reference.zip": inner.getvalue(), "scoring_program/score.py": SCORE_PY}
    imported = read_bundle(bundle(document, files, prefix="my-bundle/"))
    assert members(imported.files[0].ground_truth or b"") == {"answer.txt": b"3.14159"}
    assert "page Overview: pages/overview.md is not in the bundle" in imported.unmapped


def test_a_program_run_another_way_gets_a_score_py_that_runs_it(tmp_path: Path) -> None:
    files = {"reference_data/answer.txt": b"3.14159", "scoring_program/evaluate.py": SCORE_PY,
             "scoring_program/metadata": b"command: python $program/evaluate.py $input $output\n"}
    imported = read_bundle(bundle(v2_yaml(pages=[], terms=None), files))
    program = imported.files[0].program or b""
    assert set(members(program)) == {"evaluate.py", "metadata", "score.py"}
    assert run_program(program, tmp_path, b"3.0") == pytest.approx({"error": 0.14159, "guess": 3.0})


def test_what_podium_does_not_take_is_named() -> None:
    document = v2_yaml(
        docker_image="nvidia/cuda:12.2-runtime", image="logo.png", registration_auto_approve=True,
        solutions=[{"index": 0, "tasks": [0], "path": "solution/"}],
        tasks=[{"index": 0, "name": "Pi", "reference_data": "reference_data", "scoring_program": "scoring_program",
                "ingestion_program": "ingestion_program"},
               {"index": 1, "key": "7f0c8a52-0000-4000-8000-000000000000"}],
        leaderboards=[
            {"title": "Results", "primary_index": 1, "columns": [
                {"key": "error", "title": "Error", "index": 0, "sorting": "asc"},
                {"key": "guess", "title": "Guess", "index": 1},
                {"key": "score", "title": "Score", "index": 2},
                {"key": "mean", "title": "Mean", "index": 3, "computation": "avg", "computation_indexes": "0,1"}]},
            {"title": "Private", "columns": [{"key": "error", "index": 0}]}],
    )
    document["phases"][0]["max_submissions"] = 100  # type: ignore[index]
    pages = dict.fromkeys(("pages/terms.md", "pages/overview.md", "pages/data.html"), b"x")
    files = {**pages, "reference_data/answer.txt": b"3.14", "scoring_program/score.py": SCORE_PY}
    imported = read_bundle(bundle(document, files))
    lines = "\n".join(imported.unmapped)
    assert "settings without a Podium counterpart: image, registration_auto_approve" in lines
    assert "docker_image nvidia/cuda:12.2-runtime: not a Python 3 image" in lines
    assert "solutions (sample submissions) are not imported" in lines
    assert "refers to task 7f0c8a52-0000-4000-8000-000000000000 of a Codabench server" in lines
    assert "task Pi: its ingestion program (ingestion_program); Podium scores the results" in lines
    assert "leaderboard Private: Podium has one set of columns per task; the first leaderboard (Results)" in lines
    assert "column 'score': not usable as a Podium column name" in lines
    assert "column Mean: computed from other columns by Codabench" in lines
    assert "phase Development: max_submissions 100 (a total per participant)" in lines
    (task,) = imported.competition.tasks
    assert [(c.header, c.primary) for c in task.metrics] == [("error", False), ("guess", True)]  # primary_index


def test_a_codalab_bundle_maps_its_phases_to_one_task_per_program_and_reference() -> None:
    document = {
        "title": "Tree competition", "description": "About a tree.", "end_date": "2027-01-01",
        "html": {"overview": "overview.html", "terms": "terms.html"},
        "phases": {1: {"phasenumber": 1, "label": "Development", "start_date": "2026-06-30",
                       "scoring_program": "program.zip", "reference_data": "reference.zip"},
                   2: {"phasenumber": 2, "label": "Final", "start_date": "2026-08-30",
                       "scoring_program": "program.zip", "reference_data": "reference.zip"}},
        "leaderboard": {"leaderboards": {"Results": {"label": "Results", "rank": 1}},
                        "columns": {"Difference": {"leaderboard": {"label": "Results", "rank": 1},
                                                   "label": "Difference", "numeric_format": 6, "sort": "asc"}}},
    }
    program, reference = io.BytesIO(), io.BytesIO()
    with zipfile.ZipFile(program, "w") as archive:
        archive.writestr("evaluate.py", SCORE_PY)
        archive.writestr("metadata", "command: python $program/evaluate.py $input $output\n")
    with zipfile.ZipFile(reference, "w") as archive:
        archive.writestr("answer.txt", "3.14159")
    text = yaml.safe_dump(document).replace("Results:\n", "Results: &RESULTS\n", 1).encode()  # CodaLab's anchors
    imported = read_bundle(bundle(text, {"overview.html": b"<p>A tree.</p>", "terms.html": b"<p>Terms.</p>",
                                         "program.zip": program.getvalue(), "reference.zip": reference.getvalue()}))
    (task,) = imported.competition.tasks
    assert task.id == "development" and [p.id for p in task.phases] == ["development", "final"]
    assert task.phases[0].closes_at == datetime(2026, 8, 30, tzinfo=UTC)
    assert task.phases[1].closes_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert [(c.header, c.direction, c.precision) for c in task.metrics] == [("Difference", "asc", 6)]
    assert "## overview\n\nA tree." in task.description and task.description.endswith("## Terms\n\nTerms.")
    assert "score.py" in members(imported.files[0].program or b"")


def test_importing_again_keeps_what_was_put_and_other_tasks() -> None:
    imported = read_bundle(bundle(v2_yaml())).competition
    (task,) = imported.tasks
    put = msgspec.structs.replace(task, ground_truth="pi-development/a.zip", ground_truth_sha256="a" * 64,
                                  program=msgspec.structs.replace(task.program, key="pi-development/b.zip",
                                                                  sha256="b" * 64))
    other = msgspec.structs.replace(task, id="other")
    current = Competition(tasks=(other, put))
    result = merged(current, imported)
    assert result.competition.name == "Compute pi"
    assert [t.id for t in result.tasks] == ["other", "pi-development"]
    assert result.tasks[1] == put
    assert merged(Competition(), imported).tasks == imported.tasks


# --- hostile and broken bundles ----------------------------------------------------------------------------------


def refusal(data: bytes, limits: BundleLimits = BundleLimits()) -> str:  # noqa: B008
    with pytest.raises(BundleRefused) as refused:
        read_bundle(data, limits)
    return str(refused.value)


@pytest.mark.parametrize(("name", "reason"), [
    ("../evil.py", "../evil.py climbs out of the bundle ('..')"),
    ("scoring_program/../../evil.py", "climbs out of the bundle"),
    ("/etc/cron.d/evil", "/etc/cron.d/evil is an absolute path"),
    ("scoring_program\\evil.py", "is not a plain path"),
])
def test_a_name_that_climbs_out_refuses_the_bundle(name: str, reason: str) -> None:
    assert reason in refusal(bundle(v2_yaml(), {name: b"x"}))


def test_a_zip_bomb_is_refused_by_its_declared_size_before_inflating() -> None:
    limits = BundleLimits(total_bytes=1_000_000)
    message = refusal(bundle(v2_yaml(), {"reference_data/big.bin": b"\0" * 2_000_000}), limits)
    assert "holds 2,00" in message and "at most 1,000,000 in all" in message


def test_a_zip_bomb_inside_the_bundle_counts_against_the_same_budget() -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", b"\0" * 600_000)
    document = v2_yaml(tasks=[{"index": 0, "name": "Pi", "reference_data": "ref.zip",
                               "scoring_program": "scoring_program"}])
    files = {"ref.zip": inner.getvalue(), "scoring_program/score.py": SCORE_PY}
    assert "ref.zip holds 600,000 bytes uncompressed" in refusal(bundle(document, files),
                                                               BundleLimits(total_bytes=500_000))


def test_too_many_entries_are_refused() -> None:
    files = {f"reference_data/{n}.txt": b"1" for n in range(20)}
    assert "has 21 entries; the limit is 10" in refusal(bundle(v2_yaml(), files), BundleLimits(entries=10))


def test_a_yaml_bomb_is_refused() -> None:
    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"{chr(98 + n)}: &{chr(98 + n)} [{', '.join([f'*{chr(97 + n)}'] * 10)}]" for n in range(8)]
    assert "expands to more than 100,000 values" in refusal(bundle("\n".join(levels).encode()))


def test_yaml_that_builds_python_objects_is_refused() -> None:
    message = refusal(bundle(b"title: !!python/object/apply:os.system ['touch /tmp/pwned']\nversion: 2\n"))
    assert "competition.yaml is not valid YAML" in message


def test_an_oversized_yaml_is_refused() -> None:
    assert "competition.yaml is 2,0" in refusal(bundle(b"#" * 2_000_000))


@pytest.mark.parametrize(("data", "reason"), [
    (b"not a zip", "the bundle is not a ZIP archive"),
    (b"PK\x05\x06" + b"\0" * 18, "no competition.yaml at its top"),  # an empty ZIP
    (bundle(b"- a list"), "competition.yaml must be a mapping"),
    (bundle(b"title: no version\n"), "neither a Codabench bundle (version: 2) nor a CodaLab one"),
    (bundle(v2_yaml(leaderboards=[])), "has no leaderboards"),
    (bundle(v2_yaml(phases=[{"name": "P", "start": "the first of May", "tasks": [0]}])), "is not a date"),
    (bundle(v2_yaml(phases=[{"name": "P", "start": "2026-05-01", "end": "2026-04-01", "tasks": [0]}])),
     "phase P ends before it starts"),
])
def test_a_bundle_that_cannot_be_read_is_refused_with_the_reason(data: bytes, reason: str) -> None:
    assert reason in refusal(data)


def test_a_program_that_is_not_a_python_script_is_named_not_put() -> None:
    files = {"reference_data/answer.txt": b"3", "scoring_program/evaluate": b"\x7fELF",
             "scoring_program/metadata": b"command: $program/evaluate $input $output\n"}
    imported: Imported = read_bundle(bundle(v2_yaml(pages=[], terms=None), files))
    assert imported.files[0].program is None and imported.files[0].ground_truth is not None
    assert any("is not `python SCRIPT.py`" in line for line in imported.unmapped)
