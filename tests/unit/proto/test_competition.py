"""The competition document: every problem is refused with the task and field it concerns, and the scoring
identity moves exactly with what can change a score."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from podium_runtime.scoring import metrics
from proto.competition import CSV_METRICS, METRIC_NAMES, CompetitionError, CsvColumns, parse_competition, to_toml

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
CSV_TASK = """
[[tasks]]
id = "c"
title = "A CSV task"
kind = "cpu"
format = "csv"
metric = "roc_auc"
"""
MASKS_TASK = """
[[tasks]]
id = "k"
title = "A masks task"
kind = "cpu"
format = "masks"
metric = "dice"
"""
COLUMN = """
[[tasks.metrics]]
name = "{}"
column = "{}"
{}
"""
MODEL_TASK = """
[[tasks]]
id = "m"
title = "A model task"
kind = "gpu"
metric = "accuracy"
shape = [4]
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
    (TASK.replace('metric = "psnr"', 'metric = "auc"'), "t", "metric", "expected one of accuracy, average_precision"),
    (TASK + TASK, "t", "id", "unique"),
    (TASK.replace('id = "t"', 'id = "a.b"'), "a.b", "id", "matching regex"),
    (TASK + 'sample_pattern = "same"\n', "t", "sample_pattern", "distinct"),
    (TASK + "[[tasks.phases]]\nid = \"p\"\nopens_at = 2026-02-01T00:00:00Z\ncloses_at = 2026-01-01T00:00:00Z\n",
     "t", "phases", "before closes_at"),
    (TASK + "[[tasks.phases]]\nid = \"p\"\nopens_at = 2026-01-01T00:00:00\ncloses_at = 2026-02-01T00:00:00Z\n",
     "t", "phases", "time zone"),
    (TASK + 'ground_truth_sha256 = "' + "a" * 64 + '"\n', "t", "ground_truth_sha256", "without a ground_truth"),
    (TASK.replace('title = "A task"\n', ""), "t", "title", "missing required field"),
    (TASK + 'format = "parquet"\n', "t", "format",
     "Invalid enum value 'parquet'; expected one of coco, csv, file, masks, onnx, tensors"),
    (TASK + 'format = "onnx"\n', "t", "format", "a cpu task cannot take format onnx; it takes tensors or csv or masks"),
    (MODEL_TASK + 'format = "tensors"\n', "m", "format", "a gpu task cannot take format tensors; it takes onnx"),
    (TASK + 'format = "masks"\n', "t", "metric", "a masks task cannot use metric psnr; it takes one of dice, iou"),
    (CSV_TASK.replace("roc_auc", "psnr"), "c", "metric", "a csv task cannot use metric psnr; it takes one of accuracy"),
    (CSV_TASK + 'csv = { target_columns = [""] }\n', "c", "csv", "a column name cannot be empty"),
    (CSV_TASK + "csv = { id = 1 }\n", "c", "csv", "unknown field `id`"),
    (CSV_TASK + "metric_parameters = { x = [1] }\n", "c", "metric_parameters[...]",
     "Expected `int | float | str`, got `array`"),
    (TASK + "metric_parameters = { cap_db = 1 }\n", "t", "metric_parameters", "takes no metric_parameters"),
    (TASK + 'format = "coco"\n', "t", "metric", "a coco task cannot use metric psnr; it takes one of map, map50, "
     "map75"),
    (CSV_TASK + COLUMN.format("roc_auc", "AUC", "primary = true") + COLUMN.format("rmse", "RMSE", ""), "c", "metrics",
     "columns RMSE score values and AUC (probabilities) do not: one CSV cannot hold both"),
    (CSV_TASK.replace("roc_auc", "mae") + COLUMN.format("mae", "MAE", "") + COLUMN.format("accuracy", "Acc", ""), "c",
     "metrics", "columns MAE score values and Acc (labels) do not"),
    (MASKS_TASK + COLUMN.format("dice", "Dice", "parameters = { classes = 4 }") + COLUMN.format("iou", "IoU", ""),
     "k", "metrics", "the columns of a masks task must agree on parameters.classes (the masks' labels are 0 … "
     "classes-1), not Dice 4, IoU 2"),
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


def test_a_task_without_a_format_takes_its_kinds_default_and_names_it_to_the_same_identity() -> None:
    tensors, model = parse_competition(TASK + MODEL_TASK).tasks
    assert (tensors.format, tensors.effective_format, model.format, model.effective_format) == (
        None, "tensors", None, "onnx")
    named = parse_competition(TASK + 'format = "tensors"\n' + MODEL_TASK + 'format = "onnx"\n').tasks
    assert [task.effective_format for task in named] == ["tensors", "onnx"]
    # Naming the default changes no score: the identity stays, and so do those of files written before formats.
    assert [task.scorer_version for task in named] == [tensors.scorer_version, model.scorer_version]


def test_the_scoring_identity_includes_the_effective_format() -> None:
    task = parse_competition(TASK).tasks[0]
    # A format this version does not score yet is refused when applied; its identity is still its own.
    assert msgspec.structs.replace(task, format="csv").scorer_version != task.scorer_version
    assert msgspec.structs.replace(task, format="masks").scorer_version != msgspec.structs.replace(
        task, format="csv").scorer_version


def test_a_named_format_survives_the_toml_a_host_is_shown() -> None:
    competition = parse_competition(TASK + 'format = "tensors"\n' + MODEL_TASK)
    shown = to_toml(competition)
    assert 'format = "tensors"' in shown and shown.count("format =") == 1  # TOML has no null: an absent one stays out
    assert parse_competition(shown) == competition


def test_the_metric_names_are_the_metric_librarys() -> None:
    assert METRIC_NAMES == metrics.names()
    assert CSV_METRICS == tuple(name for name in metrics.names()
                                if metrics.METRICS[name].takes in ("labels", "probabilities", "values"))


def test_a_csv_task_needs_no_shape_and_its_columns_and_parameters_are_its_identity() -> None:
    task = parse_competition(CSV_TASK).tasks[0]
    assert (task.effective_format, task.shape, task.csv, task.metric_parameters) == ("csv", (), CsvColumns(), {})
    assert task.scorer_version.startswith("roc_auc-")
    changed = [msgspec.structs.replace(task, csv=CsvColumns(id_column="id")),
               msgspec.structs.replace(task, csv=CsvColumns(prediction_columns=("a", "b"))),
               msgspec.structs.replace(task, metric_parameters={"beta": 2}),
               msgspec.structs.replace(task, metric="log_loss")]
    assert len({task.scorer_version, *(t.scorer_version for t in changed)}) == len(changed) + 1
    written = parse_competition(CSV_TASK + 'csv = { id_column = "row", prediction_columns = ["a", "b"] }\n'
                                'metric_parameters = { beta = 2 }\n')
    assert parse_competition(to_toml(written)) == written
    assert written.tasks[0].csv == CsvColumns(id_column="row", prediction_columns=("a", "b"))


def test_the_csv_fields_leave_the_identities_of_other_tasks_as_they_were() -> None:
    task = parse_competition(TASK).tasks[0]
    assert msgspec.structs.replace(task, csv=CsvColumns(id_column="x")).scorer_version == task.scorer_version


@pytest.mark.parametrize("columns", [
    # Labels scored from probabilities (the predicted class), beside the probabilities' own metrics.
    COLUMN.format("roc_auc", "AUC", "primary = true") + COLUMN.format("log_loss", "LogLoss", "")
    + COLUMN.format("accuracy", "Acc", "hidden = true"),
    COLUMN.format("roc_auc", "AUC", "primary = true") + COLUMN.format("mcc", "MCC", "tie_break = true"),
])
def test_columns_one_csv_file_can_hold_are_accepted(columns: str) -> None:
    task = parse_competition(CSV_TASK + columns).tasks[0]
    assert [column.header for column in task.columns][0] == "AUC"


def test_values_columns_go_together_and_masks_columns_agree_on_classes() -> None:
    values = parse_competition(CSV_TASK.replace("roc_auc", "rmse") + COLUMN.format("rmse", "RMSE", "primary = true")
                               + COLUMN.format("mae", "MAE", "") + COLUMN.format("r2", "R2", "")).tasks[0]
    assert [column.header for column in values.columns] == ["RMSE", "MAE", "R2"]
    masks = parse_competition(MASKS_TASK + COLUMN.format("dice", "Dice", "parameters = { classes = 4 }")
                              + COLUMN.format("iou", "IoU", "parameters = { classes = 4, average = \"images\" }"))
    assert [column.parameters["classes"] for column in masks.tasks[0].columns] == [4, 4]
    # A column that names no classes has the library's default, two: the same as one that names two.
    default = COLUMN.format("dice", "Dice", "") + COLUMN.format("iou", "IoU", "parameters = { classes = 2 }")
    assert parse_competition(MASKS_TASK + default).tasks[0].primary_column.header == "Dice"
