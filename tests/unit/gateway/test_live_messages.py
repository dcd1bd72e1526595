"""The WebSocket's messages are one tagged union (`proto.live`): each survives an encode/decode round trip, the
gateway's board messages decode as it, the JSON Schema the gateway serves names every tag, and the web page's socket
(`live.js`) has a case for exactly those tags."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from gateway.live import board_message, delta_message, live_messages_schema
from proto.leaderboard import Board, Entry
from proto.live import (
    LIVE_MESSAGES,
    BoardDeltaMessage,
    BoardMessage,
    CompetitionMessage,
    ErrorMessage,
    LiveMessage,
    LogMessage,
    PhaseMessage,
    ProgressMessage,
    QuestionMessage,
    QueueMessage,
    SubmissionMessage,
    live_schema,
)

LIVE_JS = Path(__file__).resolve().parents[3] / "gateway" / "web" / "static" / "live.js"
AT = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
decoder = msgspec.json.Decoder(LiveMessage)


def entry(team: str, rank: int, score: float, rank_change: int | None = None) -> Entry:
    return Entry(rank=rank, team_id=team, team_name=f"team {team}", score=score, submission_id=ord(team),
                 submitted_at=AT, submissions=1, last_submission_at=AT, rank_change=rank_change)


EXAMPLES = [
    BoardMessage(task_id="recon", revision=3, sort="desc", private_revealed=False, public=[entry("a", 1, 31.5)],
                 private=None),
    BoardDeltaMessage(task_id="recon", revision=4, base_revision=3, private_revealed=False,
                      changed=[entry("b", 1, 32.0)], moved=[("a", 2, -1)], removed=["c"]),
    BoardDeltaMessage(task_id="recon", revision=4, base_revision=None, private_revealed=True, changed=[], moved=[],
                      removed=[], private_changed=[entry("a", 1, 30.0)], private_moved=[], private_removed=[]),
    SubmissionMessage(submission_id=7, status="scored"),
    ProgressMessage(submission_id=7, done=120, total=300),
    QueueMessage(submission_id=7, queue_position=2, eta_s=None),
    LogMessage(submission_id=7, level="warning", line="sample_0003.pt: NaN values", at=AT),
    QuestionMessage(question_id=4, change="answered"),
    ErrorMessage(detail="no such task: 'nope'"),
    CompetitionMessage(version=12, tasks=["recon", "web-1a2b"]),
    PhaseMessage(task_id="recon", phase_id="final", state="opened"),
]


def tags() -> set[str]:
    return {cls.__struct_config__.tag for cls in LIVE_MESSAGES}  # type: ignore[misc]


def test_every_message_kind_has_an_example() -> None:
    assert {type(message) for message in EXAMPLES} == set(LIVE_MESSAGES)


@pytest.mark.parametrize("message", EXAMPLES, ids=[f"{type(m).__name__}-{i}" for i, m in enumerate(EXAMPLES)])
def test_a_message_survives_the_round_trip_and_says_its_type(message: msgspec.Struct) -> None:
    encoded = msgspec.json.encode(message)
    assert decoder.decode(encoded) == message
    assert json.loads(encoded)["type"] == type(message).__struct_config__.tag


def test_the_private_fields_of_a_delta_are_absent_unless_sent_and_present_even_when_empty() -> None:
    public_only, with_private = (json.loads(msgspec.json.encode(m)) for m in EXAMPLES[1:3])
    assert not [key for key in public_only if key.startswith("private_") and key != "private_revealed"]
    assert public_only["base_revision"] == 3 and with_private["base_revision"] is None  # always there
    assert (with_private["private_moved"], with_private["private_removed"]) == ([], [])


def test_the_gateways_board_messages_are_live_messages() -> None:
    before = Board(task_id="recon", sort="desc", public=[entry("a", 1, 30.0), entry("b", 2, 20.0)],
                   private=[entry("a", 1, 29.0)], private_revealed=False, scores_counted=2)
    after = msgspec.structs.replace(before, public=[entry("b", 1, 40.0), entry("a", 2, 30.0, rank_change=-1)])
    whole = decoder.decode(board_message("recon", 5, before, with_private=False))
    assert whole == BoardMessage(task_id="recon", revision=5, sort="desc", private_revealed=False,
                                 public=before.public, private=None)
    encoded = delta_message("recon", 6, before, after, with_private=False, base_revision=5)
    assert encoded is not None
    delta = decoder.decode(encoded)
    assert delta == BoardDeltaMessage(task_id="recon", revision=6, base_revision=5, private_revealed=False,
                                      changed=[entry("b", 1, 40.0)], moved=[("a", 2, -1)], removed=[])
    encoded = delta_message("recon", 6, before, after, with_private=True, base_revision=5)
    assert encoded is not None
    admins = decoder.decode(encoded)
    assert isinstance(admins, BoardDeltaMessage) and admins.private_changed == [] == admins.private_removed


def test_the_schema_is_served_and_names_every_tag() -> None:
    with TestClient(Litestar([live_messages_schema])) as client:
        response = client.get("/api/v1/live/schema.json")
    assert response.status_code == 200 and response.json() == live_schema()
    assert response.json()["discriminator"]["propertyName"] == "type"
    assert set(response.json()["discriminator"]["mapping"]) == tags()


def live_js_cases() -> list[str]:
    """The message types `Live.receive` in live.js switches on."""
    source = LIVE_JS.read_text()
    receive = re.search(r"\n  receive\(message\) \{\n(.*?)\n  \}\n", source, re.DOTALL)
    assert receive is not None, "live.js has no receive(message) method"
    assert "switch (message.type)" in receive.group(1)
    return re.findall(r'case "([a-z_]+)":', receive.group(1))


def test_the_web_pages_socket_handles_every_message_the_schema_names_and_no_other() -> None:
    cases = live_js_cases()
    assert len(cases) == len(set(cases)), cases
    mapping = live_schema()["discriminator"]["mapping"]  # type: ignore[index]
    assert set(cases) == set(mapping) == tags()
