"""The contracts: golden payloads of every version still decode, Msg-Ids follow the identity rules,
subjects refuse wildcards, and every persisted event lands in exactly one stream."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

import proto
from proto import subjects
from proto.events import EVENT_TYPES, ScoreComputed, ScoreFailed, SubmissionReceived
from proto.streams import CONSUMERS, STREAMS, StreamSpec

GOLDEN = Path(__file__).parent / "golden"


def tag_of(path: Path) -> str:
    """A golden file is named after its event's tag; `<tag>+<what>.json` is another payload of the same tag (one a
    later producer writes, with fields added since)."""
    return path.stem.partition("+")[0]
T = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def received(**overrides: object) -> SubmissionReceived:
    fields: dict[str, object] = dict(
        submission_id="sub-1", team_id="team-a", task_id="reconstruction", kind="cpu", object_key="k",
        sha256="0" * 64, size_bytes=10, submitted_at=T, scorer_version="psnr-1",
    )
    fields.update(overrides)
    return SubmissionReceived(**fields)  # type: ignore[arg-type]


def test_every_event_type_has_a_golden_payload() -> None:
    tags = {event_type.__struct_config__.tag for event_type in EVENT_TYPES}
    assert tags == {tag_of(path) for path in GOLDEN.glob("*.json")}


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.stem)
def test_golden_payload_decodes_with_todays_types(path: Path) -> None:
    payload = path.read_bytes()
    event = proto.decode(payload)
    assert type(event).__struct_config__.tag == tag_of(path)
    # Round trip: what we encode today decodes back to the same event.
    assert proto.decode(proto.encode(event)) == event
    # The golden file's own fields all survive (no field silently renamed or dropped).
    assert json.loads(payload).items() <= json.loads(proto.encode(event)).items()


def test_score_events_from_before_columns_decode_with_none_and_new_ones_with_each_columns_value() -> None:
    old = proto.decode((GOLDEN / "score.computed.v1.json").read_bytes())
    assert isinstance(old, ScoreComputed)
    assert (old.public_columns, old.private_columns) == ({}, {})  # the primary alone: public_score, private_score
    new = proto.decode((GOLDEN / "score.computed.v1+columns.json").read_bytes())
    assert isinstance(new, ScoreComputed)
    assert new.public_columns == {"AUC": 0.9125, "LogLoss": 0.3125, "Acc": 0.875}
    assert new.private_columns == {"AUC": 0.8875, "LogLoss": 0.34375, "Acc": 0.8125}
    assert (new.public_score, new.private_score) == (new.public_columns["AUC"], new.private_columns["AUC"])


def test_unknown_fields_from_a_newer_producer_are_ignored() -> None:
    payload = json.loads((GOLDEN / "score.failed.v1.json").read_text())
    payload["added_in_a_later_version"] = {"anything": [1, 2]}
    event = proto.decode(json.dumps(payload).encode())
    assert isinstance(event, ScoreFailed)
    assert event.reason == payload["reason"]


@pytest.mark.parametrize(
    "payload",
    [b'{"type": "submission.received.v9"}', b'{"no": "tag"}', b"not json", b'{"type": "score.failed.v1"}'],
)
def test_unknown_or_incomplete_payloads_are_refused(payload: bytes) -> None:
    with pytest.raises(msgspec.DecodeError):
        proto.decode(payload)


def test_envelope_is_filled_for_every_new_event() -> None:
    first, second = received(), received()
    assert first.event_id != second.event_id
    assert first.occurred_at.tzinfo is not None


def test_msg_id_follows_identity_not_envelope() -> None:
    # A re-publish (new envelope, same submission and version) is the same message for JetStream…
    assert received().msg_id() == received().msg_id() == "submission:sub-1:psnr-1"
    # …while a rescore under a new scorer version is a new one.
    assert received(scorer_version="psnr-2").msg_id() != received().msg_id()


def test_one_outcome_per_submission_and_scorer_version() -> None:
    computed = ScoreComputed(
        submission_id="s", team_id="t", task_id="x", scorer_version="v1", public_score=1, private_score=1,
        submitted_at=T,
    )
    failed = ScoreFailed(submission_id="s", team_id="t", task_id="x", scorer_version="v1", reason="r")
    assert computed.msg_id() == failed.msg_id()


def test_subjects_carry_kind_and_task() -> None:
    assert received().subject() == "submission.received.cpu.reconstruction"
    assert received(kind="gpu", task_id="model").subject() == "submission.received.gpu.model"


@pytest.mark.parametrize("bad", ["a.b", "*", ">", "with space", "", "x" * 129, "ta\nsk"])
def test_subject_tokens_refuse_separators_and_wildcards(bad: str) -> None:
    with pytest.raises(subjects.InvalidSubjectToken):
        subjects.token(bad)
    with pytest.raises(subjects.InvalidSubjectToken):
        received(task_id=bad).subject()


def _matches(pattern: str, subject: str) -> bool:
    pattern_tokens, subject_tokens = pattern.split("."), subject.split(".")
    for index, token in enumerate(pattern_tokens):
        if token == ">":
            return len(subject_tokens) > index
        if index >= len(subject_tokens) or token not in ("*", subject_tokens[index]):
            return False
    return len(subject_tokens) == len(pattern_tokens)


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.stem)
def test_persisted_events_land_in_exactly_one_stream_and_live_ones_in_none(path: Path) -> None:
    event = proto.decode(path.read_bytes())
    streams = [s.name for s in STREAMS if any(_matches(p, event.subject()) for p in s.subjects)]
    assert len(streams) == (1 if event.persisted else 0), streams


def test_streams_keep_everything_on_file_with_a_duplicate_window() -> None:
    assert [s.name for s in STREAMS] == ["SUBMISSIONS", "SCORES", "TEAMS", "QA", "BOARD", "COMPETITION"]
    for stream in STREAMS:
        assert isinstance(stream, StreamSpec)
        assert stream.storage == "file"
        assert stream.retention == "limits"  # never WorkQueue: replay needs the whole log
        assert stream.duplicate_window_s >= 120


def test_consumers_filter_inside_their_stream() -> None:
    by_name = {s.name: s for s in STREAMS}
    for consumer in CONSUMERS:
        stream = by_name[consumer.stream]
        probe = consumer.filter_subject.replace(">", "probe").replace("*", "probe")
        assert any(_matches(p, probe) for p in stream.subjects), consumer
    assert len({c.durable for c in CONSUMERS}) == len(CONSUMERS)
