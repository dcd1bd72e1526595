"""What `podium submit` and `podium questions` print, and in which order, whatever order the platform's pushes
arrive in: a submission's log lines before the status they led to, announcements shown as announcements."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from rich.console import Console

from podium_cli import submitting
from podium_cli.submitting import unshown_lines, wait_for_outcome
from podium_cli.tables import questions_table
from proto.live import LiveMessage, LogMessage, SubmissionMessage

STARTED = {"level": "info", "line": "started: archive of 120 bytes, 12 samples expected"}
NOT_SCORED = {"level": "error", "line": "not scored: the upload is not a ZIP archive"}
FAILED = {"id": 7, "status": "failed", "reason": "the upload is not a ZIP archive"}
WHEN = datetime(2026, 6, 1, 12, tzinfo=UTC)
FAILED_PUSH = SubmissionMessage(submission_id=7, status="failed")


class ArrivingPushes:
    """A live feed whose pushes arrive in the order given (what the socket delivered), then nothing."""

    def __init__(self, pushes: list[LiveMessage]) -> None:
        self.pushes = list(pushes)
        self.closed = False

    def receive(self, timeout_s: float) -> LiveMessage | None:
        return self.pushes.pop(0) if self.pushes else None


class Platform:
    """The API as the CLI reads it: the submission as it stands now, and the log the platform stored."""

    def __init__(self, submission: dict[str, Any], stored_log: list[dict[str, Any]]) -> None:
        self.current, self.stored_log = submission, stored_log

    def submission(self, submission_id: int) -> dict[str, Any]:
        assert submission_id == self.current["id"]
        return self.current

    def get(self, path: str) -> dict[str, Any]:
        assert path == f"/api/v1/submissions/{self.current['id']}/logs"
        return {"submission_id": self.current["id"],
                "lines": [{"at": "2026-06-01T12:00:00Z", **line} for line in self.stored_log]}


def log_push(line: dict[str, str], submission_id: int = 7) -> LogMessage:
    return LogMessage(submission_id=submission_id, at=WHEN, **line)


def followed(platform: Platform, feed: ArrivingPushes | None) -> list[str]:
    """What the CLI shows, in order: `log: <line>` and `status: <status>`."""
    shown: list[str] = []
    outcome = wait_for_outcome(platform, {"id": 7, "status": "received"}, feed, 60,  # type: ignore[arg-type]
                               on_status=lambda view: shown.append(f"status: {view['status']}"),
                               on_push=lambda push: shown.append(
                                   f"log: {push.line}" if isinstance(push, LogMessage) else repr(push)))
    assert outcome == platform.current
    return shown


def test_log_lines_pushed_after_the_outcome_are_shown_before_it() -> None:
    # The status push overtook the scorer's log lines on their way to the socket (they travel apart).
    feed = ArrivingPushes([FAILED_PUSH, log_push(STARTED), log_push(NOT_SCORED)])
    shown = followed(Platform(FAILED, [STARTED, NOT_SCORED]), feed)
    assert shown == [f"log: {STARTED['line']}", f"log: {NOT_SCORED['line']}", "status: failed"]


def test_log_lines_that_never_came_live_are_shown_from_the_stored_log_before_the_outcome() -> None:
    feed = ArrivingPushes([log_push(STARTED), FAILED_PUSH])
    shown = followed(Platform(FAILED, [STARTED, NOT_SCORED]), feed)
    assert shown == [f"log: {STARTED['line']}", f"log: {NOT_SCORED['line']}", "status: failed"]


def test_without_a_socket_the_stored_log_comes_before_the_outcome(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(submitting, "POLL_INTERVAL_S", 0.0)  # poll at once: the outcome is already there
    shown = followed(Platform(FAILED, [STARTED, NOT_SCORED]), None)
    assert shown == [f"log: {STARTED['line']}", f"log: {NOT_SCORED['line']}", "status: failed"]


def test_other_submissions_pushes_are_not_shown() -> None:
    feed = ArrivingPushes([log_push({"level": "info", "line": "someone else's"}, submission_id=8), FAILED_PUSH])
    assert followed(Platform(FAILED, [NOT_SCORED]), feed) == [f"log: {NOT_SCORED['line']}", "status: failed"]


def test_only_the_stored_lines_not_shown_yet_are_added_in_their_order() -> None:
    again = {"level": "info", "line": "batch done"}
    stored = [STARTED, again, again, NOT_SCORED]
    shown = Counter({("info", STARTED["line"]): 1, ("info", "batch done"): 1})
    assert unshown_lines([{"at": "t", **line} for line in stored], shown) == [{"at": "t", **again},
                                                                             {"at": "t", **NOT_SCORED}]


def rendered(renderable: Any) -> str:
    console = Console(record=True, width=160, color_system=None)
    console.print(renderable)
    return console.export_text()


QUESTION = {"id": 3, "title": "Shape?", "content": "Is it 3×16×16?", "author_name": "team-a", "answer": None,
            "is_announcement": False, "created_at": "2026-06-01T10:00:00+00:00"}
ANNOUNCEMENT = {"id": 4, "title": "Deadline moved", "content": "Phase 1 closes on Friday.", "author_name": "admin",
                "answer": None, "is_announcement": True, "created_at": "2026-06-01T11:00:00+00:00"}


def test_announcements_are_listed_as_announcements_not_as_unanswered_questions() -> None:
    text = rendered(questions_table([ANNOUNCEMENT, QUESTION]))
    announcements, questions = text.split("Questions (newest first)")
    assert "Announcements (newest first)" in announcements and "Deadline moved" in announcements
    assert "Phase 1 closes on Friday." in announcements and "not answered yet" not in announcements
    assert "Shape?" in questions and "not answered yet" in questions and "Deadline moved" not in questions


def test_an_answered_question_shows_its_answer_and_nothing_is_said_of_an_empty_listing() -> None:
    text = rendered(questions_table([{**QUESTION, "answer": "Yes, every sample."}]))
    assert "Yes, every sample." in text and "not answered yet" not in text and "Announcements" not in text
    assert rendered(questions_table([])).strip() == "No questions or announcements yet."
