"""Which files a task takes: the name's extension decides, a declared type refuses only what clearly is not one."""

from __future__ import annotations

from typing import get_args, get_type_hints

import pytest

from proto.competition import Task
from submission_service.upload_files import EXTENSIONS, upload_refusal

ZIP_TASK = "task lab takes a ZIP of the result tensors, a .zip file"
MODEL_TASK = "task digits takes an ONNX model, a .onnx file"


@pytest.mark.parametrize(("kind", "filename", "content_type"), [
    ("cpu", "predictions.zip", "application/zip"),  # MLS-GOAT's submit.py, task1
    ("cpu", "team_task1.ZIP", "application/x-zip-compressed"),  # Windows browsers
    ("cpu", "preds.zip", "application/octet-stream"),
    ("cpu", "preds.zip", ""),  # a presigned start says no type
    ("cpu", "C:\\Users\\me\\preds.zip", "multipart/x-zip"),
    ("gpu", "model.onnx", "application/octet-stream"),  # MLS-GOAT's submit.py, task2
    ("gpu", "model.ONNX", ""),
    ("gpu", "model.onnx", "application/x-onnx"),
])
def test_the_files_clients_send_are_accepted(kind: str, filename: str, content_type: str) -> None:
    assert upload_refusal(kind, "any", filename, content_type) is None


@pytest.mark.parametrize(("kind", "task", "filename", "content_type", "reason"), [
    ("cpu", "lab", "notes.txt", "text/plain", f"{ZIP_TASK}; got 'notes.txt'"),
    ("cpu", "lab", "notes.txt", "application/zip", f"{ZIP_TASK}; got 'notes.txt'"),
    ("cpu", "lab", "model.onnx", "application/octet-stream", f"{ZIP_TASK}; got 'model.onnx'"),
    ("cpu", "lab", "preds.zip.txt", "", f"{ZIP_TASK}; got 'preds.zip.txt'"),
    ("cpu", "lab", "zip", "", f"{ZIP_TASK}; got 'zip'"),
    ("cpu", "lab", "", "application/zip", f"{ZIP_TASK}; got a file without a name"),
    ("cpu", "lab", "../../etc/passwd", "", f"{ZIP_TASK}; got 'passwd'"),
    ("cpu", "lab", "preds.zip", "text/plain; charset=utf-8", f"{ZIP_TASK}; got 'preds.zip' sent as 'text/plain'"),
    ("cpu", "lab", "preds.zip", "IMAGE/PNG", f"{ZIP_TASK}; got 'preds.zip' sent as 'image/png'"),
    ("cpu", "lab", "preds.zip", "application/json", f"{ZIP_TASK}; got 'preds.zip' sent as 'application/json'"),
    ("gpu", "digits", "predictions.zip", "application/zip", f"{MODEL_TASK}; got 'predictions.zip'"),
    ("gpu", "digits", "model.onnx", "text/html", f"{MODEL_TASK}; got 'model.onnx' sent as 'text/html'"),
])
def test_a_file_of_another_kind_is_refused_naming_what_is_expected(
    kind: str, task: str, filename: str, content_type: str, reason: str
) -> None:
    assert upload_refusal(kind, task, filename, content_type) == reason


def test_a_long_or_unprintable_name_is_shown_short_and_printable() -> None:
    reason = upload_refusal("cpu", "lab", "a\r\nX-Evil: 1" + "x" * 500 + ".txt", "")
    assert reason == f"{ZIP_TASK}; got 'aX-Evil: 1{'x' * 50}…'"


def test_every_kind_of_task_has_its_extension() -> None:
    assert set(EXTENSIONS) == set(get_args(get_type_hints(Task)["kind"]))
