"""The coco format: a detection-results JSON checked against a COCO ground truth, every refusal with its reason,
and COCO's AP, AP50 and AP75 on the public and the private images."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from podium_runtime.ground_truth import GroundTruthRejected
from podium_runtime.scoring.formats import coco
from podium_runtime.scoring.refusals import SubmissionRefused
from proto.competition import Split

SPLIT = Split(private_fraction=0.5, seed=3)
ALL_PUBLIC = Split(private_fraction=0.0)


def ground_truth_file(n_images: int = 6, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    images = [{"id": 100 + index, "width": 200, "height": 200} for index in range(n_images)]
    annotations = []
    for image in images:
        for _ in range(int(rng.integers(1, 4))):
            x, y = rng.uniform(0, 100, 2)
            w, h = rng.uniform(10, 90, 2)
            category = int(rng.integers(1, 4))
            annotations.append({"id": len(annotations) + 1, "image_id": image["id"], "category_id": category,
                                "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
    categories = [{"id": category, "name": f"class {category}"} for category in (1, 2, 3)]
    return {"images": images, "annotations": annotations, "categories": categories}


def encoded(document: object) -> bytes:
    return json.dumps(document).encode()


def perfect_results(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"image_id": annotation["image_id"], "category_id": annotation["category_id"], "bbox": annotation["bbox"],
             "score": 0.9} for annotation in document["annotations"]]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return ground_truth_file()


@pytest.fixture(scope="module")
def truth(document: dict[str, Any]) -> coco.CocoTruth:
    return coco.read_ground_truth(encoded(document), SPLIT)


def one_box_truth() -> coco.CocoTruth:
    document = {"images": [{"id": 1, "width": 100, "height": 100}],
                "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100,
                                 "iscrowd": 0}],
                "categories": [{"id": 1, "name": "thing"}]}
    return coco.read_ground_truth(encoded(document), ALL_PUBLIC)


def test_the_ground_truth_keeps_its_images_in_id_order_with_the_tasks_split(truth: coco.CocoTruth) -> None:
    assert truth.image_ids.tolist() == [100, 101, 102, 103, 104, 105]
    assert truth.private.tolist() == SPLIT.private_samples(6)
    assert truth.category_ids.tolist() == [1, 2, 3]


def test_detections_equal_to_the_ground_truth_score_one_on_both_splits(document, truth) -> None:
    detections = coco.read_submission(encoded(perfect_results(document)), truth)
    assert len(detections.scores) == len(document["annotations"])
    for private in (False, True):
        assert coco.coco_ap(truth, detections, private=private) == {"ap": 1.0, "ap50": 1.0, "ap75": 1.0}


def test_one_box_at_iou_064_counts_at_050_to_060_only() -> None:
    """IoU 0.64 is a match at the thresholds 0.50, 0.55 and 0.60 of COCO's ten: AP50 = 1, AP75 = 0, AP = 3/10."""
    truth = one_box_truth()
    results = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 6.4], "score": 0.8}]
    scores = coco.coco_ap(truth, coco.read_submission(encoded(results), truth), private=False)
    assert scores["ap50"] == 1.0 and scores["ap75"] == 0.0
    assert scores["ap"] == pytest.approx(0.3)


def test_a_false_positive_ranked_first_halves_the_precision_at_full_recall() -> None:
    """COCO's 101-point interpolated precision: a wrong box above the right one gives precision 1/2 at recall 1."""
    truth = one_box_truth()
    results = [{"image_id": 1, "category_id": 1, "bbox": [50, 50, 10, 10], "score": 0.9},
               {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.5}]
    scores = coco.coco_ap(truth, coco.read_submission(encoded(results), truth), private=False)
    assert scores == {"ap": pytest.approx(0.5), "ap50": pytest.approx(0.5), "ap75": pytest.approx(0.5)}


def test_no_detections_score_zero_and_an_empty_split_has_no_value(truth: coco.CocoTruth) -> None:
    empty = coco.read_submission(b"[]", truth)
    assert coco.coco_ap(truth, empty, private=False) == {"ap": 0.0, "ap50": 0.0, "ap75": 0.0}
    all_public = coco.read_ground_truth(encoded(ground_truth_file()), ALL_PUBLIC)
    assert coco.coco_ap(all_public, empty, private=True) == {"ap": None, "ap50": None, "ap75": None}


def test_only_the_requested_splits_images_count(document, truth) -> None:
    """Perfect boxes on the public images only: the public AP is 1, the private one 0."""
    public_images = set(truth.image_ids[~truth.private].tolist())
    results = [result for result in perfect_results(document) if result["image_id"] in public_images]
    detections = coco.read_submission(encoded(results), truth)
    assert coco.coco_ap(truth, detections, private=False)["ap"] == 1.0
    assert coco.coco_ap(truth, detections, private=True)["ap"] == 0.0


def test_coco_prints_nothing(document, truth, capfd: pytest.CaptureFixture[str]) -> None:
    coco.coco_ap(truth, coco.read_submission(encoded(perfect_results(document)), truth), private=False)
    assert capfd.readouterr() == ("", "")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"not json", r"^the file must be a JSON list of detections .*: JSON is malformed"),
        (b'{"image_id": 100}', r"^the file must be a JSON list .*: Expected `array`, got `object`$"),
        (b'[{"image_id": 100, "category_id": 1, "bbox": [0, 0, 1, 1]}]',
         r": entry \[0\]: Object missing required field `score`$"),
        (b'[{"image_id": 100, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1},'
         b' {"image_id": "100", "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}]',
         r": entry \[1\]\.image_id: Expected `int`, got `str`$"),
        (b'[{"image_id": 100, "category_id": 1, "bbox": [0, 0, 1], "score": 1}]',
         r": entry \[0\]\.bbox: Expected `array` of length 4$"),
        (b'[{"image_id": 100, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1e999}]',
         r": entry \[0\]\.score: Number out of range$"),
        (b'[{"image_id": 100, "category_id": 1, "bbox": [0, 0, 1, 1], "score": NaN}]', r"JSON is malformed"),
    ],
)
def test_a_file_that_is_not_a_list_of_detections_is_refused_with_where(truth, content: bytes, reason: str) -> None:
    with pytest.raises(SubmissionRefused, match=reason):
        coco.read_submission(content, truth)


def test_unknown_image_ids_are_counted_and_the_first_few_named(document, truth) -> None:
    results = perfect_results(document)
    for index, image_id in enumerate([7, 8, 7, 9, 10, 11, 12]):
        results[index] = {**results[index], "image_id": image_id}
    with pytest.raises(SubmissionRefused, match=r"^7 detections have a image_id not in the ground truth's images: "
                       r"7, 8, 9, 10, 11, … \(the first at entry \[0\]\)"):
        coco.read_submission(encoded(results), truth)


def test_an_unknown_category_is_named(document, truth) -> None:
    results = perfect_results(document)
    results[2] = {**results[2], "category_id": 42}
    with pytest.raises(SubmissionRefused, match=r"^1 detections have a category_id not in the ground truth's "
                       r"categories: 42 \(the first at entry \[2\]\)"):
        coco.read_submission(encoded(results), truth)


def test_a_negative_width_is_refused(document, truth) -> None:
    results = perfect_results(document)
    results[1] = {**results[1], "bbox": [1.0, 2.0, -3.0, 4.0]}
    with pytest.raises(SubmissionRefused, match=r"^entry \[1\]: bbox \[1\.0, 2\.0, -3\.0, 4\.0\] must be 4 finite"):
        coco.read_submission(encoded(results), truth)


def test_too_many_detections_on_one_image_are_refused(truth: coco.CocoTruth) -> None:
    results = [{"image_id": 103, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}] * 101
    with pytest.raises(SubmissionRefused, match=r"^image 103 has 101 detections; the limit is 100 per image"):
        coco.read_submission(encoded(results), truth)


def test_too_many_detections_in_all_are_refused(truth: coco.CocoTruth) -> None:
    results = [{"image_id": 100 + index % 6, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}
               for index in range(6 * 3 + 1)]
    with pytest.raises(SubmissionRefused, match=r"^19 detections; the limit is 3 per image, 18 for the 6 images"):
        coco.read_submission(encoded(results), truth, max_per_image=3)


def test_a_file_over_the_size_limit_is_refused_before_parsing(truth: coco.CocoTruth) -> None:
    with pytest.raises(SubmissionRefused, match=r"^the results file is 67108865 bytes; the limit is 67108864 bytes"):
        coco.read_submission(b" " * (coco.MAX_SUBMISSION_BYTES + 1), truth)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda doc: doc.pop("categories"), r"Object missing required field `categories`"),
        (lambda doc: doc["images"].append(dict(doc["images"][0])), r"lists image id 100 twice"),
        (lambda doc: doc["annotations"][0].update(image_id=5), r"annotations\[0\]: its image_id or category_id"),
        (lambda doc: doc["annotations"][1].update(bbox=[0, 0, -1, 1]), r"annotations\[1\]: bbox must be 4 finite"),
        (lambda doc: doc["annotations"][1].update(id=doc["annotations"][0]["id"]), r"annotation ids are not unique"),
        (lambda doc: doc["annotations"].clear(), r"^the ground truth has no annotations: without a true box there is "
         r"no AP to compute$"),
    ],
)
def test_a_broken_ground_truth_is_refused_for_the_host(change, reason: str) -> None:
    document = ground_truth_file()
    change(document)
    with pytest.raises(GroundTruthRejected, match=reason):
        coco.read_ground_truth(encoded(document), SPLIT)
