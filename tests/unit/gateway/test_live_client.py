"""A slow WebSocket client falls behind only on itself: boards coalesce to the latest, and a full queue drops
its oldest message."""

from __future__ import annotations

from gateway.live import QUEUE_LIMIT, LiveClient
from proto.rpc import Principal


async def test_a_board_change_while_one_is_unsent_becomes_the_whole_latest_board() -> None:
    client = LiveClient(Principal(account_id="1", name="a", role="team"))
    client.push_board("lab", b"lab-delta-1", lambda: b"lab-whole-1")
    assert await client.next_messages() == [b"lab-delta-1"]  # sent in time: the delta is enough
    for revision in range(50):
        client.push_board("recon", f"recon-delta-{revision}".encode(), lambda r=revision: f"recon-whole-{r}".encode())
    assert await client.next_messages() == [b"recon-whole-49"]


async def test_a_full_queue_drops_the_oldest() -> None:
    client = LiveClient(Principal(account_id="1", name="a", role="team"))
    for n in range(QUEUE_LIMIT + 10):
        client.push(str(n).encode())
    messages = await client.next_messages()
    assert len(messages) == QUEUE_LIMIT and client.dropped == 10
    assert messages[0] == b"10" and messages[-1] == str(QUEUE_LIMIT + 9).encode()


def test_a_delta_carries_only_changed_lines_and_departures() -> None:
    import json
    from datetime import UTC, datetime

    from gateway.live import delta_message
    from proto.leaderboard import Board, Entry

    def entry(team: str, rank: int, score: float) -> Entry:
        at = datetime(2026, 11, 1, tzinfo=UTC)
        return Entry(rank=rank, team_id=team, team_name=team, score=score, submission_id=1, submitted_at=at,
                     submissions=1, last_submission_at=at)

    def board(*entries: Entry) -> Board:
        return Board(task_id="t", sort="desc", public=list(entries), private=[], private_revealed=False,
                     scores_counted=len(entries))

    before = board(entry("a", 1, 30), entry("b", 2, 20), entry("c", 3, 10), entry("d", 4, 5))
    after = board(entry("a", 1, 30), entry("c", 2, 25), entry("b", 3, 20))
    message = json.loads(delta_message("t", 9, before, after, with_private=False))
    assert [e["team_id"] for e in message["changed"]] == ["c", "b"]
    assert message["removed"] == ["d"] and "private_changed" not in message
