"""Which files a task takes, judged on what a client says when it starts an upload (the file's name and, where
given, its declared media type), so a wrong file is refused before it takes a quota slot."""

from __future__ import annotations

EXTENSIONS = {"cpu": ".zip", "gpu": ".onnx"}
"""The file name's extension each kind of task takes (also the stored object's)."""
_WHAT = {"cpu": "a ZIP of the result tensors", "gpu": "an ONNX model"}
# Media types no result archive or model is sent as. Anything else is left to the name: clients send ZIPs and
# models as application/octet-stream, application/zip, application/x-zip-compressed or with no type at all.
_NEVER_MAJOR = frozenset({"text", "image", "audio", "video", "font"})
_NEVER = frozenset({"application/json", "application/pdf", "application/xml", "application/javascript"})
_SHOWN_CHARS = 60


def upload_refusal(kind: str, task_id: str, filename: str, content_type: str = "") -> str | None:
    """Why a file named `filename`, declared as `content_type`, cannot be a submission to a task of `kind`; None
    when it may be. The extension decides; the type only refuses what is clearly something else (text/plain)."""
    extension = EXTENSIONS[kind]
    expected = f"task {task_id} takes {_WHAT[kind]}, a {extension} file"
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    if not name.lower().endswith(extension):
        return f"{expected}; got {_shown(name) if name else 'a file without a name'}"
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type.split("/", 1)[0] in _NEVER_MAJOR or media_type in _NEVER:
        return f"{expected}; got {_shown(name)} sent as {_shown(media_type)}"
    return None


def _shown(text: str) -> str:
    """A client's string, safe to echo: printable and short."""
    printable = "".join(ch for ch in text if ch.isprintable())
    return repr(printable[:_SHOWN_CHARS] + ("…" if len(printable) > _SHOWN_CHARS else ""))
