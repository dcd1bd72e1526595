"""A masks task end to end on the running platform: a host adds it (Dice primary, IoU beside it, three classes),
puts a ZIP of PNG label images as its ground truth (one with a label out of range is refused with 422), and a team's
ZIP of PNG masks is scored by cpu_scorer over the public and the private cases: the board's score is the public Dice,
the admin's details show both columns. A mask of the wrong size or a missing case fails with the reason its team
reads."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import numpy as np
import pytest
from litestar.testing import AsyncTestClient
from nats.aio.client import Client as NatsClient
from PIL import Image

from proto.competition import Split
from tests.api import login, new_team
from tests.service.competition.host import Host, new_task, score_event

CLASSES, CASES, SIZE = 3, 8, (12, 16)


@pytest.fixture
def host(gateway: AsyncTestClient, admin_token: str) -> Host:
    return Host(gateway, admin_token)


def masks_task() -> dict[str, Any]:
    task = new_task("masks", format="masks", metric="dice", max_upload_bytes=200_000,
                    metrics=[{"name": "dice", "column": "Dice", "primary": True, "parameters": {"classes": CLASSES}},
                             {"name": "iou", "column": "IoU", "parameters": {"classes": CLASSES}}])
    del task["shape"], task["samples"]
    return task


def png(labels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(labels).save(buffer, "PNG")
    return buffer.getvalue()


def zipped(masks: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for case, labels in masks.items():
            archive.writestr(f"{case}.png", png(labels))
    return buffer.getvalue()


def dice(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Dice of classes 1…CLASSES-1 within each image, the mean over the images where the class appears in either,
    then over the classes: the plain way, image by image."""
    per_class = []
    for label in range(1, CLASSES):
        values = [2 * np.sum((t == label) & (p == label)) / (np.sum(t == label) + np.sum(p == label))
                  for t, p in zip(truth, predicted, strict=True) if (t == label).any() or (p == label).any()]
        per_class.append(np.mean(values))
    return float(np.mean(per_class))


def iou(truth: np.ndarray, predicted: np.ndarray) -> float:
    """IoU of classes 1…CLASSES-1 over all pixels of the images at once, then the mean over the classes."""
    return float(np.mean([np.sum((truth == label) & (predicted == label))
                          / np.sum((truth == label) | (predicted == label)) for label in range(1, CLASSES)]))


async def test_a_masks_task_scores_a_zip_of_png_masks_with_every_column(host: Host, nc: NatsClient) -> None:
    task = masks_task()
    await host.add_task(task)
    rng = np.random.default_rng(5)
    truth = {f"case_{index:02d}": rng.integers(0, CLASSES, SIZE, dtype=np.uint8) for index in range(CASES)}

    out_of_range = dict(truth, case_03=np.full(SIZE, CLASSES, dtype=np.uint8))
    refused = await host.upload_ground_truth(task["id"], zipped(out_of_range))
    assert refused.status_code == 422, refused.text
    assert "case_03.png: label 3 at row 0, column 0; labels are 0..2 (the task has 3 classes)" in refused.json()[
        "detail"], refused.text
    assert (await host.upload_ground_truth(task["id"], zipped(truth))).status_code == 200

    shown = next(t for t in (await host.client.get("/api/v1/tasks")).json()["tasks"] if t["id"] == task["id"])
    assert shown["expected_format"].startswith("a ZIP of PNG masks (dice): one <case>.png per case"), shown

    team_id, name, password = await new_team(host.client, host.token)
    token = await login(host.client, name, password)
    noisy = {case: np.where(rng.random(SIZE) < 0.3, rng.integers(0, CLASSES, SIZE), labels).astype(np.uint8)
             for case, labels in truth.items()}
    scored = await host.submit(token, task["id"], "masks.zip", zipped(noisy), "application/zip")
    assert scored["status"] == "scored", scored

    private = np.array(Split(**task["split"]).private_samples(CASES))
    cases = sorted(truth)
    stack = np.stack([truth[case] for case in cases])
    predicted = np.stack([noisy[case] for case in cases])
    expected = {"Dice": (dice(stack[~private], predicted[~private]), dice(stack[private], predicted[private])),
                "IoU": (iou(stack[~private], predicted[~private]), iou(stack[private], predicted[private]))}
    assert scored["public_score"] == pytest.approx(expected["Dice"][0], abs=1e-12), scored
    assert scored["metrics"]["IoU_public"] == pytest.approx(expected["IoU"][0], abs=1e-12), scored
    event = await score_event(nc, task["id"], scored["id"])
    assert event.public_columns == pytest.approx({header: values[0] for header, values in expected.items()})
    assert event.private_columns == pytest.approx({header: values[1] for header, values in expected.items()})

    details = await host.details(scored["id"])
    assert details["primary"] == "Dice" and details["classes"] == CLASSES, details
    assert {key: details[key] for key in ("Dice_public", "Dice_private", "IoU_public", "IoU_private")} == \
        pytest.approx({f"{header}_{split}": values[index] for header, values in expected.items()
                       for index, split in enumerate(("public", "private"))}), details
    line = await host.board_line(task["id"], team_id, token)
    assert line["score"] == pytest.approx(expected["Dice"][0], abs=1e-12), line

    # The team's mistakes come back as reasons it can act on.
    wrong_size = dict(noisy, case_02=np.zeros((SIZE[0], SIZE[1] + 1), dtype=np.uint8))
    failed = await host.submit(token, task["id"], "masks.zip", zipped(wrong_size), "application/zip")
    assert (failed["status"], failed["reason"]) == (
        "failed", "case_02.png: the image is 17×12 pixels; expected 16×12 (the ground truth's size)"), failed
    missing = {case: labels for case, labels in noisy.items() if case != "case_05"}
    failed = await host.submit(token, task["id"], "masks.zip", zipped(missing), "application/zip")
    assert (failed["status"], failed["reason"]) == (
        "failed", "case_05 is missing from the ZIP (expected case_05 as .png)"), failed
