"""What a team may see of its submission before the reveal: no private score, no private metric, not in `details`
either; the board's reveal flag read alone from a whole board; when a task's last phase closes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import msgspec

from proto.competition import Phase, Task
from proto.leaderboard import Board, BoardReveal, Entry
from proto.submissions import SubmissionView
from submission_service.visibility import is_private_metric, public_details, without_private

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def scored(**metrics: float) -> SubmissionView:
    details = {"status": "scored", "score": 31.5, **metrics}
    return SubmissionView(id=7, team_id=3, task_id="recon", phase_id="main", filename="s.zip", status="scored",
                          scorer_version="psnr-1", public_score=31.5, private_score=29.25, reason=None,
                          size_bytes=10, sha256="0" * 64, timestamp=NOW, scored_at=NOW, metrics=metrics,
                          details=json.dumps(details))


def test_every_private_value_is_taken_out_and_the_public_ones_stay() -> None:
    view = scored(psnr_public=31.5, psnr_private=29.25, files_evaluated=12.0, private_top3=0.5,
                  **{"Accuracy-Private": 0.9})
    hidden = without_private(view)
    assert hidden.private_score is None
    assert hidden.metrics == {"psnr_public": 31.5, "files_evaluated": 12.0}
    assert json.loads(hidden.details) == {"status": "scored", "score": 31.5, "psnr_public": 31.5,
                                          "files_evaluated": 12.0}
    assert "29.25" not in msgspec.json.encode(hidden).decode() and "rivate" not in json.dumps(hidden.metrics)
    assert (hidden.public_score, hidden.id, hidden.status) == (view.public_score, view.id, view.status)


def test_only_names_with_the_word_private_are_private() -> None:
    assert all(map(is_private_metric, ["psnr_private", "accuracy_private", "private", "roc_auc.private"]))
    assert not any(map(is_private_metric, ["psnr_public", "latency_p50_ms", "deprivate", "privates"]))


def test_a_teams_details_hold_no_private_sample() -> None:
    details = {"metric": "psnr", "psnr_private": 1.0,
               "samples": [{"name": "a", "psnr": 30.0, "private": False}, {"name": "b", "psnr": 20.0, "private": True}]}
    assert public_details(details) == {"metric": "psnr", "samples": [{"name": "a", "psnr": 30.0, "private": False}]}


def test_the_reveal_flag_is_read_from_a_whole_board() -> None:
    entry = Entry(rank=1, team_id="3", team_name="a", score=1.0, submission_id=7, submitted_at=NOW, submissions=1,
                  last_submission_at=NOW)
    for revealed in (False, True):
        board = Board(task_id="recon", sort="desc", public=[entry], private=[entry], private_revealed=revealed,
                      scores_counted=1)
        assert msgspec.json.decode(msgspec.json.encode(board), type=BoardReveal).private_revealed is revealed


def test_a_task_closes_with_its_last_phase() -> None:
    def task(*phases: Phase) -> Task:
        return Task(id="t", title="t", kind="cpu", metric="psnr", phases=phases)

    first = Phase(id="a", opens_at=datetime(2026, 1, 1, tzinfo=UTC), closes_at=datetime(2026, 2, 1, tzinfo=UTC))
    last = Phase(id="b", opens_at=datetime(2026, 3, 1, tzinfo=UTC), closes_at=datetime(2026, 4, 1, tzinfo=UTC))
    assert task(last, first).closes_at() == last.closes_at
    assert task().closes_at() is None  # always open
