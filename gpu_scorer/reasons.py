"""Quoting what a participant's model controls (names, shapes, an engine's error text) in the reason they
read: only printable ASCII, each value cut short, a shape quoted only when it is small. Whatever a model
computes at run time (from a file, from the hidden test set) could otherwise come back through its own
failure reason, for instance as the dimensions of an output of the wrong shape."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

NAME_CHARS = 40  # of one quoted name
NAMES = 3  # names quoted from a list; the rest counted
SHAPE_DIMS = 2  # a shape of more dimensions is described by its rank only (scores are 2-D)
DIM_MAX = 99_999  # a larger dimension is not quoted
TEXT_CHARS = 300  # of an engine's error message
_NUMBER_LIST = re.compile(r"-?\d+(?:\s*,\s*-?\d+){2,}")  # three numbers or more: a shape or values
_LONG_NUMBER = re.compile(r"\d{7,}")
_ORT_ERROR = "[ONNXRuntimeError]"
# ONNX Runtime's note of where in its sources an error arose, and the C++ function: "graph.cc:1407 Graph::Graph(...) "
_SOURCE_LOCATION = re.compile(r"[\w/.+-]*\.(?:cc|cpp|h):\d+ \S+ ")


def printable(text: str) -> str:
    """Printable ASCII only (anything else a '?'), one line."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)


def name(value: str, limit: int = NAME_CHARS) -> str:
    """A model-given name, quoted, printable and at most `limit` characters (cut ones end in '...')."""
    value = str(value)
    cut = printable(value[:limit]) + ("..." if len(value) > limit else "")
    return repr(cut)


def names(values: Iterable[str], most: int = NAMES) -> str:
    """A list of model-given names: the first `most` quoted, the others counted."""
    values = list(values)
    quoted = [name(v) for v in values[:most]]
    if len(values) > most:
        quoted.append(f"and {len(values) - most} more")
    return "[" + ", ".join(quoted) + "]"


def dim(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value) if -1 <= value <= DIM_MAX else "a large number"
    return name(str(value), limit=16)


def shape(dims: Sequence[object], brackets: str = "()", most: int = SHAPE_DIMS) -> str:
    """A model's shape, quoted only if it has at most `most` dimensions (each small); else only its rank."""
    if len(dims) > most:
        return f"a shape of {len(dims)} dimensions"
    single = "," if len(dims) == 1 and brackets == "()" else ""
    return brackets[0] + ", ".join(dim(d) for d in dims) + single + brackets[1]


def has_shape(dims: Sequence[object], brackets: str = "()", most: int = SHAPE_DIMS) -> str:
    """"shape (2, 3)", or "a shape of 7 dimensions": to follow "has" or "returned"."""
    quoted = shape(dims, brackets, most)
    return quoted if quoted.startswith("a shape") else f"shape {quoted}"


def text(message: str, limit: int = TEXT_CHARS) -> str:
    """An engine's error about a model: its first line, printable, lists of numbers and long numbers elided,
    at most `limit` characters."""
    lines = str(message).strip().splitlines()
    line = printable(lines[0] if lines else "")
    line = _LONG_NUMBER.sub("...", _NUMBER_LIST.sub("...", line))
    return line[:limit] + ("..." if len(line) > limit else "")


def onnxruntime_text(message: str) -> str:
    """ONNX Runtime's error without what only its developers read: of nested errors the innermost, and no source
    locations or C++ signatures. (`text` still cuts it before a participant reads it.)"""
    message = str(message).strip()
    innermost = message.rfind(_ORT_ERROR)
    if innermost > 0:
        message = message[innermost:]
    return _SOURCE_LOCATION.sub("", message)
