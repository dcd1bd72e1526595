"""The competition as a host changes it (submission_service.competition): the diff a host reads before applying,
the ground truth a document keeps, its metrics' parameters, whose scoring identity changed, what participants are
told."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from proto.competition import Competition, CompetitionError, MetricColumn, Phase, Task
from submission_service import competition as domain
from tests.unit.fakes import COMPETITION

RECON = COMPETITION.tasks[0]
DIGEST = "c" * 64
WITH_TRUTH = domain.with_ground_truth(COMPETITION, RECON.id, "reconstruction/x.zip", DIGEST)
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def changed(**fields: object) -> Competition:
    return msgspec.structs.replace(WITH_TRUTH, tasks=(msgspec.structs.replace(WITH_TRUTH.tasks[0], **fields),
                                                      *WITH_TRUTH.tasks[1:]))


def test_the_same_document_changes_nothing() -> None:
    assert domain.diff(WITH_TRUTH, WITH_TRUTH) == []


def test_a_quota_and_a_deadline_are_one_line_each_and_keep_the_identity() -> None:
    phase = Phase(id="main", opens_at=datetime(2026, 1, 1, tzinfo=UTC), closes_at=datetime(2027, 1, 1, tzinfo=UTC))
    document = changed(daily_quota=40, phases=(phase,))
    assert domain.diff(WITH_TRUTH, document) == [
        f"task {RECON.id}: daily_quota 20 → 40",
        f"task {RECON.id}: phases [] → [main 2026-01-01 00:00 UTC–2027-01-01 00:00 UTC]",
    ]
    assert domain.identity_changed(WITH_TRUTH, document) == []


def test_naming_the_default_format_is_one_line_and_keeps_the_identity() -> None:
    document = changed(format="tensors")
    assert domain.diff(WITH_TRUTH, document) == [f"task {RECON.id}: format None → \"tensors\""]
    assert domain.identity_changed(WITH_TRUTH, document) == []


def test_new_ground_truth_is_a_new_identity_and_says_so() -> None:
    document = domain.with_ground_truth(WITH_TRUTH, RECON.id, "reconstruction/y.zip", "d" * 64)
    lines = domain.diff(WITH_TRUTH, document)
    assert f"task {RECON.id}: ground_truth_sha256 cccccccccccc → dddddddddddd" in lines
    assert any(line.startswith(f"task {RECON.id}: scoring identity ") for line in lines)
    assert domain.identity_changed(WITH_TRUTH, document) == [RECON.id]


def test_added_removed_and_reordered_tasks_are_named() -> None:
    both = msgspec.structs.replace(WITH_TRUTH, tasks=WITH_TRUTH.tasks[:2])  # reconstruction, digits
    reversed_tasks = msgspec.structs.replace(both, tasks=both.tasks[::-1])
    assert domain.diff(both, reversed_tasks) == ["task order: digits, reconstruction"]
    only_first = msgspec.structs.replace(both, tasks=both.tasks[:1])
    assert domain.diff(both, only_first) == ["task digits: removed"]
    assert domain.removed_tasks(both, only_first) == ["digits"]
    assert domain.diff(only_first, both) == [
        'task digits: added (gpu, accuracy, "Handwritten digits (an ONNX model, accuracy)")']


def test_a_file_without_ground_truth_keeps_the_one_the_host_put() -> None:
    file = msgspec.structs.replace(WITH_TRUTH, tasks=(msgspec.structs.replace(RECON, ground_truth=""),
                                                      *WITH_TRUTH.tasks[1:]))
    kept = domain.carry_ground_truth(WITH_TRUTH, file)
    assert (kept.tasks[0].ground_truth, kept.tasks[0].ground_truth_sha256) == ("reconstruction/x.zip", DIGEST)
    other_key = msgspec.structs.replace(file, tasks=(msgspec.structs.replace(RECON, ground_truth="other.zip"),))
    assert domain.carry_ground_truth(WITH_TRUTH, other_key).tasks[0].ground_truth_sha256 == ""


def test_participants_are_told_why_a_task_takes_no_submission() -> None:
    assert domain.refusal(WITH_TRUTH.tasks[0], NOW) == ""
    assert "no ground truth yet" in domain.refusal(RECON, NOW)
    assert "archived" in domain.refusal(msgspec.structs.replace(WITH_TRUTH.tasks[0], archived=True), NOW)
    later = Phase(id="final", opens_at=datetime(2026, 7, 1, tzinfo=UTC), closes_at=datetime(2026, 8, 1, tzinfo=UTC))
    waiting = msgspec.structs.replace(WITH_TRUTH.tasks[0], phases=(later,))
    assert domain.refusal(waiting, NOW) == ("task reconstruction accepts no submissions now (no open phase; the "
                                            "next phase opens 2026-07-01 00:00 UTC)")
    assert domain.next_phase(waiting, NOW) == later


def test_the_expected_format_says_what_to_upload() -> None:
    assert domain.expected_format(RECON) == ("a ZIP of 300 tensors named sample_0000 … sample_0299 (.pt, .npy or "
                                             ".safetensors), each float of shape 3×64×64")
    assert domain.expected_format(COMPETITION.tasks[1]).startswith("an ONNX model: input 'input' float32 [batch, 64]")


# --- the metrics' parameters and the board's columns ------------------------------------------------------------

CHURN = next(task for task in COMPETITION.tasks if task.id == "churn")  # the demo's csv task, two columns


def with_churn(task: Task) -> Competition:
    return msgspec.structs.replace(COMPETITION, tasks=tuple(task if t.id == task.id else t for t in COMPETITION.tasks))


def test_the_demo_competitions_parameters_are_the_metric_librarys() -> None:
    domain.check_metric_parameters(COMPETITION)


@pytest.mark.parametrize(("task", "field", "words"), [
    (msgspec.structs.replace(CHURN, metrics=(msgspec.structs.replace(CHURN.metrics[0], parameters={"average": "x"}),
                                             CHURN.metrics[1])),
     "metrics", "column AUC: roc_auc: unknown parameter(s) average; its parameters: none"),
    (msgspec.structs.replace(CHURN, metrics=(CHURN.metrics[0],
                                             msgspec.structs.replace(CHURN.metrics[1], parameters={"eps": 0.1}))),
     "metrics", "column LogLoss: log_loss: unknown parameter(s) eps; its parameters: none"),
    (msgspec.structs.replace(CHURN, metrics=(), metric_parameters={"pos_label": 2}),
     "metric_parameters", "roc_auc: unknown parameter(s) pos_label; its parameters: none"),
    (msgspec.structs.replace(CHURN, format="masks", metric="dice", metrics=(), metric_parameters={"classes": 1}),
     "metric_parameters", "dice: parameter classes must be a whole number ≥ 2, not 1"),
    (msgspec.structs.replace(CHURN, format="masks", metric="iou", metrics=(),
                             metric_parameters={"average": "voxels"}),
     "metric_parameters", "iou: parameter average must be one of 'images', 'pixels', not 'voxels'"),
    (msgspec.structs.replace(CHURN, format="coco", metric="map", metrics=(), metric_parameters={"iou": 0.5}),
     "metric_parameters", "map: unknown parameter(s) iou; its parameters: none"),
], ids=["a column's unknown parameter", "the second column's", "the shorthand's", "a bad value", "not a choice",
        "a metric of its format without parameters"])
def test_a_parameter_the_metric_library_refuses_names_the_task_and_where_it_was_written(
        task: Task, field: str, words: str) -> None:
    with pytest.raises(CompetitionError) as refused:
        domain.check_metric_parameters(with_churn(task))
    assert (refused.value.task, refused.value.field) == ("churn", field)
    assert refused.value.message == words


def test_a_columns_presentation_is_a_change_of_its_own_that_keeps_the_identity() -> None:
    hidden = msgspec.structs.replace(CHURN.metrics[1], hidden=True, precision=2)
    document = with_churn(msgspec.structs.replace(CHURN, metrics=(CHURN.metrics[0], hidden)))
    assert domain.diff(COMPETITION, document) == [
        "task churn: metrics [AUC (roc_auc, primary, precision 4), LogLoss (log_loss, precision 4)] → "
        "[AUC (roc_auc, primary, precision 4), LogLoss (log_loss, hidden, precision 2)]"]
    assert domain.identity_changed(COMPETITION, document) == []


def test_the_expected_format_of_masks_and_detections_says_what_to_upload() -> None:
    masks = Task(id="seg", title="Segmentation", kind="cpu", format="masks", metric="dice",
                 metrics=(MetricColumn(name="dice", primary=True, parameters={"classes": 4}), MetricColumn(name="iou",
                          parameters={"classes": 4})))
    assert domain.expected_format(masks) == (
        "a ZIP of PNG masks (dice): one <case>.png per case of the ground truth, each a single-channel label image of "
        "the ground truth's size whose pixels are class numbers 0 … 3")
    assert domain.expected_format(msgspec.structs.replace(masks, metrics=())).endswith("class numbers 0 … 1")
    boxes = Task(id="det", title="Detection", kind="cpu", format="coco", metric="map")
    assert domain.expected_format(boxes) == (
        "a COCO detection-results JSON (map): a list of {image_id, category_id, bbox: [x, y, width, height], score}, "
        "at most 100 detections per image")


COLUMNS_TASK = msgspec.convert({
    "id": "churn", "title": "Churn", "kind": "cpu", "format": "csv", "metric": "roc_auc",
    "metrics": [{"name": "log_loss", "column": "LogLoss", "precision": 3, "tie_break": True},
                {"name": "average_precision", "column": "HostOnlyAP", "hidden": True},
                {"name": "roc_auc", "column": "AUC", "primary": True, "precision": 5}]}, type=type(RECON))


def test_a_tasks_columns_say_each_metric_in_words_primary_first_and_hidden_ones_to_admins_only() -> None:
    shown = domain.task_columns(COLUMNS_TASK, admin=False)
    assert [(c.header, c.metric, c.direction, c.precision, c.primary, c.tie_break, c.hidden) for c in shown] == [
        ("AUC", "roc_auc", "desc", 5, True, False, False), ("LogLoss", "log_loss", "asc", 3, False, True, False)]
    assert shown[0].definition.startswith("Area under the ROC curve") and "negative log" in shown[1].definition
    assert [(c.header, c.hidden) for c in domain.task_columns(COLUMNS_TASK, admin=True)] == [
        ("AUC", False), ("LogLoss", False), ("HostOnlyAP", True)]


def test_a_task_with_its_metric_alone_has_one_primary_column_named_like_it() -> None:
    (column,) = domain.task_columns(RECON, admin=False)
    assert (column.header, column.metric, column.direction, column.primary) == ("psnr", "psnr", "desc", True)
