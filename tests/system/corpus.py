"""What every hostile corpus shares: the outcome of one attempt, read from an HTTP answer, and the two ways a case
says what must hold (refused with these words, or anything else said in words)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


@dataclass
class Outcome:
    status: int  # the HTTP status, or the WebSocket close code (1000: still open)
    detail: str  # the problem's detail (with its validation messages), the submission's reason, or the raw answer
    body: Any = None
    retry_after: str | None = None


def outcome_of(response: httpx.Response, **more: Any) -> Outcome:
    """The answer as an Outcome; `more` joins a JSON object body (what the case observed besides)."""
    retry_after = response.headers.get("Retry-After")
    try:
        body = response.json()
    except ValueError:
        return Outcome(response.status_code, response.text, more or None, retry_after)
    if not isinstance(body, dict):
        return Outcome(response.status_code, "", body, retry_after)
    errors = "; ".join(e["message"] for e in body.get("errors") or [] if isinstance(e, dict) and "message" in e)
    detail = f"{body.get('detail') or body.get('reason') or ''} {errors}".strip()
    return Outcome(response.status_code, detail, {**body, **more}, retry_after)


@dataclass(frozen=True)
class Refused:
    """Refused with exactly this status (or WebSocket close code), these words in the detail."""

    status: int
    words: str

    def check(self, outcome: Outcome) -> None:
        assert (outcome.status, self.words in outcome.detail) == (self.status, True), outcome
        assert "Traceback" not in outcome.detail and "internal error" not in outcome.detail, outcome


@dataclass(frozen=True)
class Holds:
    """Anything else the outcome must show, said in words."""

    says: str
    holds: Callable[[Outcome], bool] = field(repr=False)

    def check(self, outcome: Outcome) -> None:
        assert self.holds(outcome), (self.says, outcome)


def log_marks(basetemp: Path, services: Iterable[str]) -> dict[Path, int]:
    """Where each named service's log (in the session's temp folders) stands before a corpus."""
    wanted = set(services)
    logs = [p for p in basetemp.glob("*/*.log") if p.stem in wanted]
    assert {p.stem for p in logs} == wanted, logs
    return {p: p.stat().st_size for p in logs}


def errors_logged_since(marks: dict[Path, int]) -> list[str]:
    """The ERROR and CRITICAL lines each log gained after its mark."""
    errors = []
    for path, mark in marks.items():
        with path.open("rb") as log:
            log.seek(mark)
            errors += [f"{path.stem}: {line[:400]!r}" for line in log if b'"level": "ERROR"' in line
                       or b'"level": "CRITICAL"' in line]
    return errors
