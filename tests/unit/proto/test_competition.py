"""The competition document: every problem is refused with the task and field it concerns, and the scoring
identity moves exactly with what can change a score."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from proto.competition import CompetitionError, parse_competition, to_toml

SEED = Path(__file__).resolve().parents[3] / "deploy" / "competition.toml"
TASK = """
[[tasks]]
id = "t"
title = "A task"
kind = "cpu"
metric = "psnr"
shape = [2, 2]
samples = 3
"""


def refusal(text: str, content_type: str = "toml") -> CompetitionError:
    with pytest.raises(CompetitionError) as caught:
        parse_competition(text, content_type=content_type)
    return caught.value


@pytest.mark.parametrize(("text", "task", "field", "words"), [
    (TASK + "daily_quota = 0\n", "t", "daily_quota", ">= 1"),
    (TASK + 'daily_quota = "five"\n', "t", "daily_quota", "Expected `int`"),
    (TASK + 'colour = "red"\n', "t", "colour", "unknown field"),
    (TASK + 'scorer_version = "psnr-2"\n', "t", "scorer_version", "derived"),
    (TASK.replace("shape = [2, 2]\n", ""), "t", "shape", "needs the shape"),
    (TASK.replace('metric = "psnr"', 'metric = "accuracy"'), "t", "metric", "cannot use metric"),
    (TASK + TASK, "t", "id", "unique"),
    (TASK.replace('id = "t"', 'id = "a.b"'), "a.b", "id", "matching regex"),
    (TASK + 'sample_pattern = "same"\n', "t", "sample_pattern", "distinct"),
    (TASK + "[[tasks.phases]]\nid = \"p\"\nopens_at = 2026-02-01T00:00:00Z\ncloses_at = 2026-01-01T00:00:00Z\n",
     "t", "phases", "before closes_at"),
    (TASK + "[[tasks.phases]]\nid = \"p\"\nopens_at = 2026-01-01T00:00:00\ncloses_at = 2026-02-01T00:00:00Z\n",
     "t", "phases", "time zone"),
    (TASK + 'ground_truth_sha256 = "' + "a" * 64 + '"\n', "t", "ground_truth_sha256", "without a ground_truth"),
    (TASK.replace('title = "A task"\n', ""), "t", "title", "missing required field"),
])
def test_each_problem_names_its_task_and_field(text: str, task: str, field: str, words: str) -> None:
    error = refusal(text)
    assert (error.task, error.field) == (task, field)
    assert words in str(error) and str(error).startswith(f"task {task}, field {field}: ")


def test_syntax_and_top_level_problems_say_what_is_wrong() -> None:
    assert "not valid TOML" in str(refusal("[[tasks]\nid = 1"))
    assert "not valid JSON" in str(refusal("{", "json"))
    assert refusal('colour = "red"\n').field == "colour"


def test_json_documents_are_read_like_toml_ones() -> None:
    seed = parse_competition(SEED.read_bytes())
    assert parse_competition(msgspec.json.encode(seed), content_type="json") == seed


def test_the_toml_a_host_is_shown_applies_back_to_the_same_competition() -> None:
    seed = parse_competition(SEED.read_bytes())
    assert parse_competition(to_toml(seed)) == seed


def test_the_scoring_identity_moves_with_what_changes_a_score_only() -> None:
    task = parse_competition(SEED.read_bytes()).tasks[0]
    unchanged = [msgspec.structs.replace(task, title="New", description="*now*", daily_quota=99, phases=(),
                                         max_upload_bytes=1, aliases=("x",), archived=True, sort="asc")]
    changed = [msgspec.structs.replace(task, ground_truth_sha256="b" * 64), msgspec.structs.replace(task, shape=(1,)),
               msgspec.structs.replace(task, split=msgspec.structs.replace(task.split, seed=1)),
               msgspec.structs.replace(task, psnr=msgspec.structs.replace(task.psnr, cap_db=50.0)),
               msgspec.structs.replace(task, samples=299)]
    assert all(t.scorer_version == task.scorer_version for t in unchanged)
    assert len({task.scorer_version, *(t.scorer_version for t in changed)}) == len(changed) + 1
    assert task.scorer_version.startswith("psnr-")
