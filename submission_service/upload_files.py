"""Which files a task takes, judged on what a client says when it starts an upload (the file's name and, where
given, its declared media type), so a wrong file is refused before it takes a quota slot."""

from __future__ import annotations

import re

EXTENSIONS = {"tensors": ".zip", "csv": ".csv", "masks": ".zip", "coco": ".json", "onnx": ".onnx", "file": ""}
"""The file name's extension each format of task takes (also the stored object's): `Task.effective_format`. A
`file` task takes any file (its host's program reads it as it is) and keeps the file's own extension
(`stored_extension`)."""
# An extension a stored object keeps: a dot and a few letters or digits (the program may go by it; nothing else of a
# client's name reaches a key).
_KEPT_EXTENSION = re.compile(r"\.[a-z0-9]{1,16}")
_WHAT = {"tensors": "a ZIP of the result tensors", "csv": "a CSV of predictions", "masks": "a ZIP of PNG masks",
         "coco": "a COCO detection-results JSON", "onnx": "an ONNX model"}
# Media types no result archive or model is sent as. Anything else is left to the name: clients send ZIPs and
# models as application/octet-stream, application/zip, application/x-zip-compressed or with no type at all.
_NEVER_MAJOR = frozenset({"text", "image", "audio", "video", "font"})
_NEVER = frozenset({"application/json", "application/pdf", "application/xml", "application/javascript"})
# A CSV is text: browsers send it as text/csv, text/plain or application/vnd.ms-excel; only what is clearly not
# text is refused by its type.
_NEVER_TEXT_MAJOR = frozenset({"image", "audio", "video", "font"})
_NEVER_TEXT = frozenset({"application/zip", "application/pdf", "application/x-zip-compressed"})
_SHOWN_CHARS = 60


def upload_refusal(submission_format: str, task_id: str, filename: str, content_type: str = "") -> str | None:
    """Why a file named `filename`, declared as `content_type`, cannot be a submission to a task of
    `submission_format` (its effective format); None when it may be. The extension decides; the type only refuses
    what is clearly something else (text/plain for a ZIP, image/png for a CSV)."""
    if submission_format == "file":
        return None  # any file, within the task's size limit (checked by whoever calls)
    extension = EXTENSIONS[submission_format]
    expected = f"task {task_id} takes {_WHAT[submission_format]}, a {extension} file"
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    if not name.lower().endswith(extension):
        return f"{expected}; got {_shown(name) if name else 'a file without a name'}"
    media_type = content_type.split(";", 1)[0].strip().lower()
    text = submission_format in ("csv", "coco")
    never_major, never = (_NEVER_TEXT_MAJOR, _NEVER_TEXT) if text else (_NEVER_MAJOR, _NEVER)
    if media_type.split("/", 1)[0] in never_major or media_type in never:
        return f"{expected}; got {_shown(name)} sent as {_shown(media_type)}"
    return None


def stored_extension(submission_format: str, filename: str) -> str:
    """The extension of a submission's stored object: its format's, or for a `file` task the uploaded file's own
    when it is a plain one (`.txt`, `.h5`), else none."""
    if submission_format != "file":
        return EXTENSIONS[submission_format]
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    _, dot, suffix = name.rpartition(".")
    extension = f".{suffix.lower()}"
    return extension if dot and _KEPT_EXTENSION.fullmatch(extension) else ""


def _shown(text: str) -> str:
    """A client's string, safe to echo: printable and short."""
    printable = "".join(ch for ch in text if ch.isprintable())
    return repr(printable[:_SHOWN_CHARS] + ("…" if len(printable) > _SHOWN_CHARS else ""))
