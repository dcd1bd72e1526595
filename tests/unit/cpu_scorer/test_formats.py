"""cpu_scorer's pure scoring of each format's columns (no I/O): csv (every column from one read of the file, label
columns on a probability task scoring the predicted class), masks (Dice and IoU over the public and the private
cases) and coco (AP, AP50, AP75 from one COCO evaluation per split), each against its library or the plain
definition; the ground truth's readers and checks per format."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sklearn import metrics as sk  # pyright: ignore[reportMissingTypeStubs]

from cpu_scorer.handlers import predicted_labels, score_detections, score_masks, score_predictions
from podium_runtime import ground_truth
from podium_runtime.scoring.archive import ArchiveLimits
from podium_runtime.scoring.formats.csv import CsvSettings, read_solution
from podium_runtime.scoring.refusals import GroundTruthRejected, MetricUndefined
from proto.competition import CsvColumns, MetricColumn, Split, Task

ROWS = 48


def csv_task(*metrics: MetricColumn, **fields: Any) -> Task:
    return Task(id="t", title="T", kind="cpu", format="csv", metric=metrics[0].name, metrics=metrics, **fields)


def binary_solution(seed: int = 0) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray]:
    """A solution CSV with its targets, its public and its private rows (every third row Ignored)."""
    rng = np.random.default_rng(seed)
    target = rng.permutation(np.arange(ROWS) % 2)
    usage = np.array(["Public", "Private", "Ignored"])[np.arange(ROWS) % 3]
    lines = ["id,target,Usage", *(f"r{i},{t},{u}" for i, (t, u) in enumerate(zip(target, usage, strict=True)))]
    return "\n".join(lines).encode(), target, usage == "Public", usage == "Private"


def submission(values: np.ndarray, header: str = "id,target") -> bytes:
    rows = [f"r{i}," + ",".join(map(repr, np.atleast_1d(row).tolist())) for i, row in enumerate(values)]
    return "\n".join([header, *rows]).encode()


def test_a_csv_file_is_read_once_and_every_column_scored_with_label_columns_at_the_threshold() -> None:
    data, target, public, private = binary_solution()
    values = np.clip(target + np.random.default_rng(1).normal(0, 0.5, ROWS), 0, 1)
    values[:4] = 0.5  # exactly one half is class 0
    task = csv_task(MetricColumn(name="roc_auc", column="AUC", primary=True), MetricColumn(name="log_loss"),
                    MetricColumn(name="accuracy", column="Acc", hidden=True), MetricColumn(name="f1_macro"))
    scored = score_predictions(submission(values), read_solution(data), task)
    labels = (values > 0.5).astype(float)
    assert (labels[:4] == 0).all()
    for split, rows in enumerate((public, private)):
        assert scored[split] == pytest.approx({
            "AUC": sk.roc_auc_score(target[rows], values[rows]),
            "log_loss": sk.log_loss(target[rows], values[rows], labels=[0, 1]),
            "Acc": sk.accuracy_score(target[rows], labels[rows]),
            "f1_macro": sk.f1_score(target[rows], labels[rows], average="macro")}, abs=1e-12)
    assert list(scored[0]) == ["AUC", "log_loss", "Acc", "f1_macro"]


def test_a_multi_class_file_gives_label_columns_each_rows_highest_class() -> None:
    rng = np.random.default_rng(3)
    classes = ("cat", "dog", "owl")
    truth = rng.permutation(np.arange(ROWS) % 3)
    usage = np.where(np.arange(ROWS) % 2 == 0, "Public", "Private")
    solution = "\n".join(["id,animal,Usage", *(f"r{i},{classes[t]},{u}" for i, (t, u) in
                                                 enumerate(zip(truth, usage, strict=True)))]).encode()
    scores = rng.dirichlet(np.ones(3), ROWS)
    task = csv_task(MetricColumn(name="roc_auc_ovr", primary=True), MetricColumn(name="accuracy"),
                    csv=CsvColumns(prediction_columns=classes))
    settings = CsvSettings(prediction_columns=classes)
    public, private = score_predictions(submission(scores, "id,cat,dog,owl"), read_solution(solution, settings), task)
    rows = usage == "Public"
    assert public == pytest.approx({
        "roc_auc_ovr": sk.roc_auc_score(truth[rows], scores[rows], multi_class="ovr"),
        "accuracy": sk.accuracy_score(truth[rows], scores[rows].argmax(axis=1))}, abs=1e-12)
    assert private["accuracy"] == pytest.approx(sk.accuracy_score(truth[~rows], scores[~rows].argmax(axis=1)))


def test_a_values_task_scores_every_column_on_the_values() -> None:
    data, target, public, _ = binary_solution()
    values = target * 3.0 + np.random.default_rng(4).normal(0, 1, ROWS)
    task = csv_task(MetricColumn(name="rmse", primary=True), MetricColumn(name="mae", column="MAE"))
    scored_public, _ = score_predictions(submission(values), read_solution(data), task)
    assert scored_public == pytest.approx({"rmse": sk.root_mean_squared_error(target[public], values[public]),
                                           "MAE": sk.mean_absolute_error(target[public], values[public])})


def test_a_column_without_a_value_refuses_the_submission_naming_it() -> None:
    data, target, _, _ = binary_solution()
    one_class = data.replace(b",1,Public", b",0,Public")
    task = csv_task(MetricColumn(name="log_loss", primary=True), MetricColumn(name="roc_auc", column="AUC"))
    with pytest.raises(MetricUndefined, match=r"^column AUC has no value: roc_auc: the truth has only one class"):
        score_predictions(submission(np.full(ROWS, 0.3)), read_solution(one_class), task)


@pytest.mark.parametrize(("predictions", "probabilities", "classes", "expected"), [
    ([0.2, 0.5, 0.51, 1.0], True, False, [0, 0, 1, 1]),
    ([0.0, 1.0, 2.0], False, False, [0, 1, 2]),
    ([[0.2, 0.8], [0.5, 0.5], [0.9, 0.1]], True, True, [1, 0, 0]),
    ([[3.0, 1.0, 4.0]], False, True, [2]),
])
def test_predicted_labels(predictions: list[Any], probabilities: bool, classes: bool, expected: list[int]) -> None:
    labels = predicted_labels(np.array(predictions), probabilities=probabilities, classes=classes)
    assert labels.tolist() == expected


# --- masks -----------------------------------------------------------------------------------------------------

def zipped_masks(masks: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for case, labels in masks.items():
            png = io.BytesIO()
            Image.fromarray(labels).save(png, "PNG")
            archive.writestr(f"{case}.png", png.getvalue())
    return buffer.getvalue()


def masks_task(**parameters: Any) -> Task:
    iou = MetricColumn(name="iou", column="IoU", parameters={**parameters, "exclude_background": False})
    return Task(id="m", title="M", kind="cpu", format="masks", metric="dice", split=Split(private_fraction=0.5, seed=1),
                metrics=(MetricColumn(name="dice", primary=True, parameters=parameters), iou))


def test_masks_are_scored_per_column_over_the_public_and_the_private_cases() -> None:
    rng = np.random.default_rng(2)
    truth = {f"c{index}": rng.integers(0, 4, (8, 10), dtype=np.uint8) for index in range(6)}
    predicted = {case: np.where(rng.random(labels.shape) < 0.2, 0, labels).astype(np.uint8)
                 for case, labels in truth.items()}
    task = masks_task(classes=4)
    read = ground_truth.parse_masks(zipped_masks(truth), task)
    public, private = score_masks(zipped_masks(predicted), read, task, ArchiveLimits())
    stack_truth, stack_predicted = np.stack(list(truth.values())), np.stack(list(predicted.values()))
    for values, rows in ((public, ~read.private), (private, read.private)):
        t, p = stack_truth[rows], stack_predicted[rows]
        dice = [np.mean([2 * np.sum((a == k) & (b == k)) / (np.sum(a == k) + np.sum(b == k))
                         for a, b in zip(t, p, strict=True) if (a == k).any() or (b == k).any()]) for k in (1, 2, 3)]
        iou = [np.sum((t == k) & (p == k)) / np.sum((t == k) | (p == k)) for k in range(4)]
        assert values == pytest.approx({"dice": np.mean(dice), "IoU": np.mean(iou)}, abs=1e-12)


def test_the_masks_ground_truth_takes_its_classes_from_the_columns() -> None:
    labels = {"a": np.full((4, 4), 2, dtype=np.uint8)}
    assert ground_truth.parse_masks(zipped_masks(labels), masks_task(classes=3)).classes == 3
    with pytest.raises(GroundTruthRejected, match=r"a.png: label 2 at row 0, column 0; labels are 0..1 \(the task has "
                                                  r"2 classes\)"):
        ground_truth.check(zipped_masks(labels), masks_task())
    with pytest.raises(GroundTruthRejected, match=r"^task m, column dice: dice: parameter classes must be a whole "
                                                  r"number ≥ 2, not 'three'$"):
        ground_truth.check(zipped_masks(labels), masks_task(classes="three"))


# --- coco ------------------------------------------------------------------------------------------------------

def coco_document() -> dict[str, Any]:
    images = [{"id": index, "width": 100, "height": 100} for index in range(1, 5)]
    annotations = [{"id": index, "image_id": index, "category_id": 1, "bbox": [10, 10, 40, 40], "area": 1600,
                    "iscrowd": 0} for index in range(1, 5)]
    return {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "thing"}]}


def coco_task(*metrics: MetricColumn, private_fraction: float = 0.5) -> Task:
    return Task(id="d", title="D", kind="cpu", format="coco", metric=metrics[0].name, metrics=metrics,
                split=Split(private_fraction=private_fraction, seed=2))


def test_detections_score_every_column_from_one_evaluation_per_split() -> None:
    document = coco_document()
    task = coco_task(MetricColumn(name="map", primary=True), MetricColumn(name="map50", column="AP50"),
                     MetricColumn(name="map75", column="AP75", hidden=True))
    truth = ground_truth.parse_coco(json.dumps(document).encode(), task)
    private_ids = set(truth.image_ids[truth.private].tolist())
    # Right boxes on the public images; 0.64 of the true height on the private ones: IoU 0.64.
    results = [{"image_id": a["image_id"], "category_id": 1, "score": 0.9,
                "bbox": [10, 10, 40, 40 * (0.64 if a["image_id"] in private_ids else 1)]}
               for a in document["annotations"]]
    public, private, count = score_detections(json.dumps(results).encode(), truth, task)
    assert (public, count) == ({"map": 1.0, "AP50": 1.0, "AP75": 1.0}, 4)
    assert private == pytest.approx({"map": 0.3, "AP50": 1.0, "AP75": 0.0})


def test_a_split_without_images_reports_the_others_values() -> None:
    document = coco_document()
    task = coco_task(MetricColumn(name="map50", primary=True), private_fraction=0.0)
    truth = ground_truth.parse_coco(json.dumps(document).encode(), task)
    results = [{"image_id": 1, "category_id": 1, "score": 0.9, "bbox": [10, 10, 40, 40]}]
    public, private, _ = score_detections(json.dumps(results).encode(), truth, task)
    # One of four boxes found: precision 1 up to recall 0.25, i.e. 26 of COCO's 101 recall points.
    assert public == private == {"map50": pytest.approx(26 / 101)}


# --- the ground truth's checks ---------------------------------------------------------------------------------

def test_each_format_has_its_ground_truths_extension() -> None:
    assert [ground_truth.extension(task) for task in (
        csv_task(MetricColumn(name="roc_auc")), masks_task(), coco_task(MetricColumn(name="map")),
        Task(id="x", title="X", kind="cpu", metric="psnr", shape=(1,)),
        Task(id="g", title="G", kind="gpu", metric="accuracy", shape=(1,)))] == [".csv", ".zip", ".json", ".zip",
                                                                                 ".npz"]


def test_a_solution_is_checked_against_every_columns_metric() -> None:
    data, _, _, _ = binary_solution()
    task = csv_task(MetricColumn(name="log_loss", primary=True), MetricColumn(name="roc_auc", column="AUC"))
    ground_truth.check(data, task)
    not_binary = data.replace(b",1,", b",2,")
    with pytest.raises(GroundTruthRejected, match=r"^the solution of task t cannot be scored by log_loss \(column "
                                                  r"log_loss\): log_loss: a binary truth holds 0 and 1 only$"):
        ground_truth.check(not_binary, task)
    with pytest.raises(GroundTruthRejected, match=r"cannot be scored by roc_auc \(column AUC\): roc_auc: a binary "):
        ground_truth.check(not_binary, csv_task(MetricColumn(name="accuracy", primary=True),
                                                MetricColumn(name="roc_auc", column="AUC")))


def test_a_coco_ground_truth_is_checked_at_upload() -> None:
    task = coco_task(MetricColumn(name="map"))
    ground_truth.check(json.dumps(coco_document()).encode(), task)
    with pytest.raises(GroundTruthRejected, match="is not a COCO ground-truth JSON"):
        ground_truth.check(b"[]", task)
