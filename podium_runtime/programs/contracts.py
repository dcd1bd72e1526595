"""The two program contracts, checked on the runner's side (pure: the worker's raw report in, a ProgramResult out).

- Function: `score(truth: Path, submission: Path, context: dict) -> {"public": {...}, "private": {...},
  "details": {...}}`, the columns exactly the task's declared ones, every value a finite number.
- Codabench: `python score.py INPUT OUTPUT` writing OUTPUT/scores.json, or the legacy scores.txt of `key: value`
  lines. Its one value per column stands for both boards (a Codabench program sees one reference); keys that are
  not columns are kept in the details. A host who wants a private split writes a function program.

A participant only ever reads `participant_message`: the text of a ParticipantVisibleError, a ZIP refusal, or
"the scoring program failed". Reasons, tracebacks and output are the host's.
"""

from __future__ import annotations

import enum
import errno
import json
import math
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from podium_runtime.programs.sandbox import ALLOWED_LIBRARIES, ProgramLimits
from podium_runtime.scoring.archive import readable_size

PROGRAM_FAILED = "the scoring program failed"
_PARTICIPANT_MESSAGE_CHARS = 1000
_SCORES_FILE_BYTES = 1 << 20


class Contract(enum.Enum):
    FUNCTION = "function"
    CODABENCH = "codabench"


@dataclass(frozen=True)
class ProgramResult:
    """One run of a program on one submission."""

    ok: bool
    public: dict[str, float] = field(default_factory=dict)
    private: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""
    host_reason: str = ""
    """Why it failed, for the host (empty when ok)."""
    traceback: str = ""
    """The program's traceback, for the host only."""
    participant_message: str = ""
    """What the participant may read of a failure (empty when ok)."""
    missing_module: str | None = None


Scored = tuple[dict[str, float], dict[str, float], dict[str, Any]]
"""The public values, the private values and the details of a result that kept its contract."""


class ResultRefused(ValueError):
    """The program's result breaks its contract (a reason for the host)."""


def failed(host_reason: str, participant_message: str = PROGRAM_FAILED, **rest: Any) -> ProgramResult:
    return ProgramResult(ok=False, host_reason=host_reason, participant_message=participant_message, **rest)


def interpret(
    contract: Contract, columns: tuple[str, ...], limits: ProgramLimits, status: Mapping[str, Any]
) -> ProgramResult:
    """The worker's report on one job (see harness.py) as a ProgramResult, stdout/stderr not yet attached."""
    stopped = _stopped_reason(status, limits)
    if stopped:
        return failed(stopped)
    raw: Any = status.get("result")
    if not isinstance(raw, dict):
        return failed(f"the program's process ended without a result (exit status {status.get('exit_code')})")
    report = cast("dict[str, Any]", raw)
    kind = report.get("kind")
    if kind == "participant":
        message = _printable(str(report.get("message", "")))[:_PARTICIPANT_MESSAGE_CHARS] or PROGRAM_FAILED
        return failed(f"the program refused the submission: {message}", message, traceback=report.get("traceback", ""))
    if kind in ("exception", "exit", "unencodable"):
        return program_failure(report, limits)
    try:
        if kind == "returned" and contract is Contract.FUNCTION:
            public, private, details = check_function_result(report.get("value"), columns)
        elif kind == "scores" and contract is Contract.CODABENCH:
            public, private, details = check_scores_files(report.get("files", {}), report.get("listing", []), columns)
        else:
            raise ResultRefused(f"the worker reported {kind!r} for a {contract.value} program")
    except ResultRefused as refusal:
        return failed(str(refusal))
    return ProgramResult(ok=True, public=public, private=private, details=details)


def program_failure(report: Mapping[str, Any], limits: ProgramLimits) -> ProgramResult:
    """An exception, a non-zero exit or an unencodable result: the host reads why; the participant, that it failed."""
    trace = str(report.get("traceback", ""))
    kind, name = report.get("kind"), report.get("type")
    if kind == "exit":
        return failed(f"score.py exited with status {report.get('code')} ({report.get('message')})")
    if kind == "unencodable":
        return failed(f"the program returned something that is not JSON: {report.get('error')}")
    if name == "ModuleNotFoundError":
        module = report.get("module") or "?"
        offered = ", ".join(ALLOWED_LIBRARIES)
        reason = f"the program imports {module!r}, which the scoring environment does not offer (it offers {offered})"
        return failed(reason, traceback=trace, missing_module=module)
    if name == "MemoryError":
        reason = f"the program ran out of memory: its limit is {readable_size(limits.memory_bytes)}"
    elif name == "BlockingIOError" and report.get("errno") == errno.EAGAIN:  # from fork or thread creation
        reason = f"the program could not start another process or thread: its limit is {limits.processes}"
    elif report.get("errno") == errno.EFBIG:  # Python ignores SIGXFSZ: the write fails instead
        reason = f"the program wrote a file larger than its limit of {readable_size(limits.file_bytes)}"
    else:
        reason = f"the program raised {name}"
    return failed(reason, traceback=trace)


def _stopped_reason(status: Mapping[str, Any], limits: ProgramLimits) -> str:
    stopped, number = status.get("stopped"), status.get("signal")
    if stopped == "output":
        return f"the program printed more than {readable_size(limits.output_bytes)} (stdout and stderr); it was stopped"
    if stopped == "wall_time":
        return f"the program ran longer than its wall-time limit of {limits.wall_seconds:g} s; it was stopped"
    if stopped == "result_too_large":
        return "the program's result is too large (details over 4 MiB); keep large details in files of your own"
    if stopped == "worker":
        return "the program's worker stopped answering; it was replaced"
    if number is None:
        return ""
    if number == signal.SIGXCPU:
        return f"the program used more than its CPU-time limit of {limits.cpu_seconds} s"
    if number == signal.SIGXFSZ:
        return f"the program wrote a file larger than its limit of {readable_size(limits.file_bytes)}"
    if number == signal.SIGKILL:
        return "the program was killed (SIGKILL: the CPU-time hard limit, or the machine ran out of memory)"
    return f"the program was killed by {signal.Signals(number).name}"


def check_function_result(value: Any, columns: tuple[str, ...]) -> Scored:
    """`{"public": {...}, "private": {...}, "details": {...}}` with exactly the declared columns in both."""
    if not isinstance(value, dict):
        kind = type(value).__name__
        raise ResultRefused(f"score() returned {kind}; it must return a dict with 'public' and 'private'")
    value = cast("dict[str, Any]", value)
    unknown = sorted(set(value) - {"public", "private", "details"})
    if unknown:
        raise ResultRefused(f"score() returned unknown keys {unknown}; only 'public', 'private' and 'details' are read")
    details: Any = value.get("details", {})
    if not isinstance(details, dict):
        raise ResultRefused("score()'s 'details' must be a dict")
    details = cast("dict[str, Any]", details)
    public = _column_values(value.get("public"), columns, "public")
    private = _column_values(value.get("private"), columns, "private")
    return public, private, details


def check_scores_files(
    files: Mapping[str, str], listing: list[str], columns: tuple[str, ...]
) -> Scored:
    """OUTPUT/scores.json (preferred) or OUTPUT/scores.txt, with every declared column."""
    if "scores.json" in files:
        scores = _parse_scores_json(files["scores.json"])
    elif "scores.txt" in files:
        scores = parse_scores_txt(files["scores.txt"])
    else:
        found = ", ".join(listing) if listing else "nothing"
        raise ResultRefused(
            "could not find the scores file: looked for OUTPUT/scores.json and OUTPUT/scores.txt (OUTPUT is score.py's "
            f"second argument) and found {found} there"
        )
    missing = [column for column in columns if column not in scores]
    if missing:
        raise ResultRefused(f"the scores file lacks the columns {missing} (it has {sorted(scores)[:20]})")
    values = _column_values({column: scores[column] for column in columns}, columns, "scores file")
    others = {key: value for key, value in scores.items() if key not in columns}
    return values, dict(values), ({"other_scores": others} if others else {})


def _parse_scores_json(text: str) -> dict[str, Any]:
    if len(text) > _SCORES_FILE_BYTES:
        raise ResultRefused("scores.json is larger than 1 MiB")
    try:
        scores = json.loads(text)
    except ValueError as error:
        raise ResultRefused(f"scores.json is not JSON: {error}") from None
    if not isinstance(scores, dict):
        raise ResultRefused('scores.json must hold one object of column: number ({"Accuracy": 0.91})')
    return cast("dict[str, Any]", scores)


def parse_scores_txt(text: str) -> dict[str, Any]:
    """The legacy CodaLab `key: value` lines (blank lines skipped)."""
    if len(text) > _SCORES_FILE_BYTES:
        raise ResultRefused("scores.txt is larger than 1 MiB")
    scores: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, colon, value = line.partition(":")
        if not colon or not key.strip():
            raise ResultRefused(f"scores.txt line {number} is not 'key: value': {_printable(line)[:80]!r}")
        try:
            scores[key.strip()] = float(value)
        except ValueError:
            shown = _printable(value.strip())[:40]
            raise ResultRefused(f"scores.txt line {number}: {shown!r} is not a number") from None
    return scores


def _column_values(values: Any, columns: tuple[str, ...], where: str) -> dict[str, float]:
    if not isinstance(values, dict):
        raise ResultRefused(f"'{where}' must be a dict of column: number")
    values = cast("dict[str, Any]", values)
    missing = [column for column in columns if column not in values]
    extra = sorted(str(key) for key in values if key not in columns)
    if missing or extra:
        raise ResultRefused(
            f"'{where}' has the columns {sorted(map(str, values))}; the task declares {list(columns)}"
            + (f" (missing {missing})" if missing else "")
            + (f" (not declared {extra})" if extra else "")
        )
    checked: dict[str, float] = {}
    for column in columns:
        value: Any = values[column]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ResultRefused(f"'{where}' {column!r} is {type(value).__name__}, not a number")
        if not math.isfinite(value):
            raise ResultRefused(f"'{where}' {column!r} is {value}; scores must be finite numbers")
        checked[column] = float(value)
    return checked


def _printable(text: str) -> str:
    return "".join(character if character.isprintable() else " " for character in text)
