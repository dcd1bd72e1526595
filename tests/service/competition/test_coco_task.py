"""A coco task end to end on the running platform: a host adds it (mAP primary, AP50 beside it, AP75 hidden), puts a
COCO ground-truth JSON (one without a box is refused with 422), and a team's detection-results JSON is scored by
cpu_scorer with one COCO evaluation per split: the board's score is the public mAP, the admin's details show mAP and
AP50 and never AP75, which only the score event carries. A file that is not JSON and a detection on an image the
ground truth does not have fail with the reasons the team reads."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pytest
from faster_coco_eval import COCO, COCOeval_faster  # pyright: ignore[reportMissingTypeStubs]
from litestar.testing import AsyncTestClient
from nats.aio.client import Client as NatsClient

from proto.competition import Split
from tests.api import login, new_team
from tests.service.competition.host import Host, new_task, score_event

IMAGES = 8


@pytest.fixture
def host(gateway: AsyncTestClient, admin_token: str) -> Host:
    return Host(gateway, admin_token)


def coco_task() -> dict[str, Any]:
    task = new_task("coco", format="coco", metric="map", max_upload_bytes=100_000,
                    metrics=[{"name": "map", "column": "mAP", "primary": True},
                             {"name": "map50", "column": "AP50"},
                             {"name": "map75", "column": "AP75", "hidden": True}])
    del task["shape"], task["samples"]
    return task


def ground_truth(seed: int) -> dict[str, Any]:
    """Images with one to three boxes each, of two categories."""
    rng = np.random.default_rng(seed)
    images = [{"id": 10 + index, "width": 300, "height": 300} for index in range(IMAGES)]
    annotations = []
    for image in images:
        for _ in range(int(rng.integers(1, 4))):
            x, y, w, h = (*rng.uniform(0, 150, 2), *rng.uniform(20, 100, 2))
            annotations.append({"id": len(annotations) + 1, "image_id": image["id"],
                                "category_id": int(rng.integers(1, 3)), "bbox": [x, y, w, h], "area": w * h,
                                "iscrowd": 0})
    return {"images": images, "annotations": annotations,
            "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}


def reference(document: dict[str, Any], results: list[dict[str, Any]], image_ids: list[int]) -> list[float]:
    """COCO's AP, AP50 and AP75 over `image_ids`, straight from faster-coco-eval."""
    truth = COCO(copy.deepcopy(document), print_function=lambda *_: None)
    evaluation = COCOeval_faster(truth, truth.loadRes(copy.deepcopy(results)), iouType="bbox",  # pyright: ignore
                                 print_function=lambda *_: None)
    evaluation.params.imgIds = image_ids
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    return [float(value) for value in evaluation.stats[:3]]  # pyright: ignore


async def test_a_coco_task_scores_detections_with_one_evaluation_per_split(host: Host, nc: NatsClient) -> None:
    task = coco_task()
    await host.add_task(task)
    document = ground_truth(seed=4)
    refused = await host.upload_ground_truth(task["id"], json.dumps(document | {"annotations": []}).encode())
    assert refused.status_code == 422 and "the ground truth has no annotations" in refused.json()["detail"], \
        refused.text
    assert (await host.upload_ground_truth(task["id"], json.dumps(document).encode())).status_code == 200

    shown = next(t for t in (await host.client.get("/api/v1/tasks")).json()["tasks"] if t["id"] == task["id"])
    assert shown["expected_format"].startswith("a COCO detection-results JSON (map): a list of {image_id"), shown

    # Right boxes on the public images; on the private ones each box 0.64 of its true height (IoU 0.64).
    private = np.array(Split(**task["split"]).private_samples(IMAGES))
    image_ids = [image["id"] for image in document["images"]]
    private_ids = {image_id for image_id, hidden in zip(image_ids, private, strict=True) if hidden}
    results = [{"image_id": a["image_id"], "category_id": a["category_id"], "score": 0.9,
                "bbox": [*a["bbox"][:3], a["bbox"][3] * (0.64 if a["image_id"] in private_ids else 1.0)]}
               for a in document["annotations"]]
    team_id, name, password = await new_team(host.client, host.token)
    token = await login(host.client, name, password)
    scored = await host.submit(token, task["id"], "detections.json", json.dumps(results).encode(), "application/json")
    assert scored["status"] == "scored", scored
    assert scored["public_score"] == 1.0 and scored["metrics"]["AP50_public"] == 1.0, scored
    assert not [key for key in scored["metrics"] if "AP75" in key], scored

    expected = reference(document, results, sorted(private_ids))
    assert expected[2] < expected[1]  # the shortened boxes miss at IoU 0.75: the hidden column has its own value
    event = await score_event(nc, task["id"], scored["id"])
    assert event.public_columns == {"mAP": 1.0, "AP50": 1.0, "AP75": 1.0}
    assert event.private_columns == pytest.approx(dict(zip(("mAP", "AP50", "AP75"), expected, strict=True)))
    details = await host.details(scored["id"])
    assert (details["primary"], details["mAP_private"], details["AP50_private"]) == (
        "mAP", pytest.approx(expected[0]), pytest.approx(expected[1])), details
    assert not [key for key in details if "AP75" in key], details
    line = await host.board_line(task["id"], team_id, token)
    assert line["score"] == 1.0, line

    failed = await host.submit(token, task["id"], "detections.json", b"[{", "application/json")
    assert failed["status"] == "failed", failed
    assert failed["reason"].startswith("the file must be a JSON list of detections {image_id, category_id, bbox: "
                                       "[x, y, w, h], score}: "), failed
    stranger = [*results[:2], {**results[0], "image_id": 999}]
    failed = await host.submit(token, task["id"], "detections.json", json.dumps(stranger).encode(), "application/json")
    assert (failed["status"], failed["reason"]) == (
        "failed", "1 detections have a image_id not in the ground truth's images: 999 (the first at entry [2])"), failed
