"""Which files a task takes: the name's extension decides, a declared type refuses only what clearly is not one."""

from __future__ import annotations

from typing import get_args, get_type_hints

import pytest

from proto.competition import Task
from submission_service.upload_files import EXTENSIONS, stored_extension, upload_refusal

ZIP_TASK = "task lab takes a ZIP of the result tensors, a .zip file"
MODEL_TASK = "task digits takes an ONNX model, a .onnx file"
CSV_TASK = "task churn takes a CSV of predictions, a .csv file"


@pytest.mark.parametrize(("kind", "filename", "content_type"), [
    ("tensors", "predictions.zip", "application/zip"),  # MLS-GOAT's submit.py, task1
    ("tensors", "team_task1.ZIP", "application/x-zip-compressed"),  # Windows browsers
    ("tensors", "preds.zip", "application/octet-stream"),
    ("tensors", "preds.zip", ""),  # a presigned start says no type
    ("tensors", "C:\\Users\\me\\preds.zip", "multipart/x-zip"),
    ("onnx", "model.onnx", "application/octet-stream"),  # MLS-GOAT's submit.py, task2
    ("onnx", "model.ONNX", ""),
    ("onnx", "model.onnx", "application/x-onnx"),
    ("csv", "predictions.csv", "text/csv"),
    ("csv", "predictions.CSV", "application/vnd.ms-excel"),  # Windows browsers
    ("csv", "predictions.csv", "text/plain"),
    ("csv", "predictions.csv", ""),
])
def test_the_files_clients_send_are_accepted(kind: str, filename: str, content_type: str) -> None:
    assert upload_refusal(kind, "any", filename, content_type) is None


@pytest.mark.parametrize(("kind", "task", "filename", "content_type", "reason"), [
    ("tensors", "lab", "notes.txt", "text/plain", f"{ZIP_TASK}; got 'notes.txt'"),
    ("tensors", "lab", "notes.txt", "application/zip", f"{ZIP_TASK}; got 'notes.txt'"),
    ("tensors", "lab", "model.onnx", "application/octet-stream", f"{ZIP_TASK}; got 'model.onnx'"),
    ("tensors", "lab", "preds.zip.txt", "", f"{ZIP_TASK}; got 'preds.zip.txt'"),
    ("tensors", "lab", "zip", "", f"{ZIP_TASK}; got 'zip'"),
    ("tensors", "lab", "", "application/zip", f"{ZIP_TASK}; got a file without a name"),
    ("tensors", "lab", "../../etc/passwd", "", f"{ZIP_TASK}; got 'passwd'"),
    ("tensors", "lab", "preds.zip", "text/plain; charset=utf-8", f"{ZIP_TASK}; got 'preds.zip' sent as 'text/plain'"),
    ("tensors", "lab", "preds.zip", "IMAGE/PNG", f"{ZIP_TASK}; got 'preds.zip' sent as 'image/png'"),
    ("tensors", "lab", "preds.zip", "application/json", f"{ZIP_TASK}; got 'preds.zip' sent as 'application/json'"),
    ("onnx", "digits", "predictions.zip", "application/zip", f"{MODEL_TASK}; got 'predictions.zip'"),
    ("onnx", "digits", "model.onnx", "text/html", f"{MODEL_TASK}; got 'model.onnx' sent as 'text/html'"),
    ("csv", "churn", "predictions.zip", "application/zip", f"{CSV_TASK}; got 'predictions.zip'"),
    ("csv", "churn", "predictions.csv", "image/png", f"{CSV_TASK}; got 'predictions.csv' sent as 'image/png'"),
])
def test_a_file_of_another_kind_is_refused_naming_what_is_expected(
    kind: str, task: str, filename: str, content_type: str, reason: str
) -> None:
    assert upload_refusal(kind, task, filename, content_type) == reason


def test_a_long_or_unprintable_name_is_shown_short_and_printable() -> None:
    reason = upload_refusal("tensors", "lab", "a\r\nX-Evil: 1" + "x" * 500 + ".txt", "")
    assert reason == f"{ZIP_TASK}; got 'aX-Evil: 1{'x' * 50}…'"


def test_every_format_of_task_has_its_extension() -> None:
    assert set(EXTENSIONS) == set(get_args(get_args(get_type_hints(Task)["format"])[0]))


@pytest.mark.parametrize(("filename", "content_type", "extension"), [
    ("predictions.txt", "text/plain", ".txt"),
    ("Results.H5", "application/octet-stream", ".h5"),
    ("C:\\Users\\me\\submission.zip", "application/zip", ".zip"),
    ("archive.tar.gz", "", ".gz"),
    ("no-extension", "", ""),
    ("weird.ex t", "", ""),
    ("../../etc/passwd", "", ""),
    ("dots.", "", ""),
    (".hidden", "", ".hidden"),
    ("long." + "x" * 17, "", ""),
])
def test_a_file_task_takes_any_file_and_keeps_a_plain_extension(filename: str, content_type: str,
                                                                 extension: str) -> None:
    """A `file` task's program reads the upload as it is: any name and type is taken (the size limit holds), and the
    stored object keeps the name's own extension where it is a plain one, else none."""
    assert upload_refusal("file", "free", filename, content_type) is None
    assert stored_extension("file", filename) == extension


def test_other_tasks_store_their_formats_extension() -> None:
    assert [stored_extension(kind, "whatever.txt") for kind in ("tensors", "csv", "masks", "coco", "onnx")] == [
        ".zip", ".csv", ".zip", ".json", ".onnx"]
