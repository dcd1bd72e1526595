"""A WebSocket client is brought from the revision it has to the latest in one message — a small delta shared
by every client at the same revision, the whole board only when it has nothing or fell too far behind — and a
slow client falls behind only on itself: a full team queue drops its oldest message."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import msgspec

from gateway.live import QUEUE_LIMIT, BoardFeed, LiveClient, LiveHub, delta_message
from proto.leaderboard import Board, BoardColumn, Entry
from proto.live import SubmissionMessage
from proto.rpc import Principal
from proto.submissions import QueueMoved, QueuePlace

TEAM = Principal(account_id="1", name="a", role="team")
ADMIN = Principal(account_id="9", name="host", role="admin")


def sent(update: tuple[int, bytes] | None) -> bytes:
    """The message of a feed's update that must exist."""
    assert update is not None
    return update[1]


def entry(team: str, rank: int, score: float) -> Entry:
    at = datetime(2026, 11, 1, tzinfo=UTC)
    return Entry(rank=rank, team_id=team, team_name=team, score=score, submission_id=1, submitted_at=at,
                 submissions=1, last_submission_at=at)


def board(*entries: Entry, private: list[Entry] | None = None) -> Board:
    return Board(task_id="t", sort="desc", public=list(entries), private=private or [], private_revealed=False,
                 scores_counted=len(entries))


def growing(n: int) -> Board:
    """Revision n's board: teams t0 … tn, the newest on top."""
    return board(*(entry(f"t{i}", n - i + 1, float(i)) for i in range(n + 1)))


async def test_a_client_that_keeps_up_gets_small_deltas_and_one_that_fell_behind_one_delta_for_all_it_missed(
) -> None:
    hub = LiveHub(push_interval_s=0)
    hub.on_board("t", 1, growing(1), None)
    current, behind = LiveClient(TEAM), LiveClient(TEAM)
    for client in (current, behind):
        hub.add(client)
        hub.follow(client, ["t"])
        [whole] = await client.next_messages(hub.feed)
        assert json.loads(whole)["type"] == "board" and len(json.loads(whole)["public"]) == 2
    for revision in range(2, 12):
        hub.on_board("t", revision, growing(revision), growing(revision - 1))
        [delta] = await current.next_messages(hub.feed)
        message = json.loads(delta)
        assert (message["type"], message["base_revision"], message["revision"]) == ("board_delta", revision - 1,
                                                                                     revision)
        assert [e["team_id"] for e in message["changed"]] == [f"t{revision}"] and message["removed"] == []
        assert [rank for _, rank, _ in message["moved"]] == list(range(revision + 1, 1, -1))  # each one down
    [catch_up] = await behind.next_messages(hub.feed)  # ten changes while it was not reading: one delta
    message = json.loads(catch_up)
    assert (message["type"], message["base_revision"], message["revision"]) == ("board_delta", 1, 11)
    assert [e["team_id"] for e in message["changed"]] == [f"t{i}" for i in range(2, 12)]  # new since revision 1
    assert {team for team, _, _ in message["moved"]} == {"t0", "t1"}
    assert behind.sent["t"] == current.sent["t"] == 11


async def test_clients_at_the_same_revision_share_one_encoded_message() -> None:
    hub = LiveHub(push_interval_s=0)
    hub.on_board("t", 1, growing(1), None)
    clients = [LiveClient(TEAM) for _ in range(3)]
    for client in clients:
        hub.add(client)
        hub.follow(client, ["t"])
        await client.next_messages(hub.feed)
    hub.on_board("t", 2, growing(2), growing(1))
    sent = [(await client.next_messages(hub.feed))[0] for client in clients]
    assert sent[0] is sent[1] is sent[2]


async def test_a_client_further_behind_than_the_kept_revisions_gets_the_whole_board() -> None:
    feed = BoardFeed(kept=4)
    for revision in range(1, 10):
        feed.add("t", revision, growing(revision))
    assert json.loads(sent(feed.update("t", 6, TEAM)))["type"] == "board_delta"
    update = feed.update("t", 2, TEAM)
    assert update is not None
    revision, message = update
    assert revision == 9 and json.loads(message)["type"] == "board" and len(json.loads(message)["public"]) == 10
    assert feed.update("t", 9, TEAM) is None and feed.update("other", None, TEAM) is None


def test_only_an_admin_sees_the_private_board_before_it_is_revealed() -> None:
    feed = BoardFeed()
    feed.add("t", 1, board(entry("a", 1, 1.0), private=[entry("a", 1, 0.5)]))
    assert json.loads(sent(feed.update("t", None, TEAM)))["private"] is None
    assert json.loads(sent(feed.update("t", None, ADMIN)))["private"][0]["score"] == 0.5


def test_an_unreveal_sends_a_team_the_whole_board_without_private_lines() -> None:
    """From a revealed board to a hidden one (and back), a team gets the whole board, never a delta: a delta would
    carry the private changes made in between past the un-reveal."""
    feed = BoardFeed()
    revealed = msgspec.structs.replace(board(entry("a", 1, 1.0), private=[entry("a", 1, 0.5)]), private_revealed=True)
    feed.add("t", 1, revealed)
    assert json.loads(sent(feed.update("t", None, TEAM)))["private"][0]["score"] == 0.5
    feed.add("t", 2, board(entry("a", 1, 1.0), private=[entry("a", 1, 0.7)]))  # hidden again, private changed
    message = json.loads(sent(feed.update("t", 1, TEAM)))
    assert message["type"] == "board" and message["private"] is None and "0.7" not in json.dumps(message)
    feed.add("t", 3, msgspec.structs.replace(board(entry("a", 1, 1.0), private=[entry("a", 1, 0.9)]),
                                             private_revealed=True))
    again = json.loads(sent(feed.update("t", 2, TEAM)))
    assert again["type"] == "board" and again["private"][0]["score"] == 0.9


def test_an_anonymous_viewer_sees_the_private_board_once_revealed_and_a_projector_never() -> None:
    """`/ws/boards`: a visitor (no principal) gets what any team gets; `private=False` (a projector) gets the public
    board only, revealed or not, even when an admin opens it; and its un-reveal and reveal are whole boards."""
    feed = BoardFeed()
    feed.add("t", 1, board(entry("a", 1, 1.0), private=[entry("a", 1, 0.5)]))
    assert json.loads(sent(feed.update("t", None, None)))["private"] is None
    feed.add("t", 2, msgspec.structs.replace(board(entry("a", 1, 1.0), private=[entry("a", 1, 0.5)]),
                                             private_revealed=True))
    revealed = json.loads(sent(feed.update("t", 1, None)))
    assert revealed["type"] == "board" and revealed["private"][0]["score"] == 0.5
    for viewer in (None, TEAM, ADMIN):
        for since in (None, 1):
            message = sent(feed.update("t", since, viewer, private=False))
            assert json.loads(message).get("private") is None and b"private_changed" not in message \
                and b"0.5" not in message


async def test_an_anonymous_client_gets_boards_and_no_team_or_question_message() -> None:
    hub = LiveHub(push_interval_s=0)
    anonymous = LiveClient(None)
    hub.add(anonymous)
    hub.follow(anonymous, ["t"])
    hub.on_board("t", 1, growing(1), None)
    hub._for_team("1", SubmissionMessage(submission_id=1, status="scored"))
    assert [json.loads(m)["type"] for m in await anonymous.next_messages(hub.feed)] == ["board"]
    assert anonymous.queue.empty() and not hub._by_team
    hub.remove(anonymous)
    assert not hub.clients and not hub._by_task


async def test_unfollowing_stops_the_board_and_team_messages_reach_only_that_team() -> None:
    hub = LiveHub(push_interval_s=0)
    mine, other = LiveClient(TEAM), LiveClient(Principal(account_id="2", name="b", role="team"))
    for client in (mine, other):
        hub.add(client)
        hub.follow(client, ["t"])
    hub.unfollow(other, ["t"])
    hub.on_board("t", 1, growing(1), None)
    hub._for_team("2", SubmissionMessage(submission_id=22, status="scored"))
    assert [json.loads(m)["type"] for m in await mine.next_messages(hub.feed)] == ["board"]
    assert [json.loads(m) for m in await other.next_messages(hub.feed)] == [
        {"type": "submission", "submission_id": 22, "status": "scored"}]
    hub.remove(mine)
    hub._for_team("1", SubmissionMessage(submission_id=11, status="scored"))
    assert mine.queue.empty()


async def test_a_full_queue_drops_the_oldest() -> None:
    client = LiveClient(TEAM)
    for n in range(QUEUE_LIMIT + 10):
        client.push(str(n).encode())
    messages = await client.next_messages(BoardFeed())
    assert len(messages) == QUEUE_LIMIT and client.dropped == 10
    assert messages[0] == b"10" and messages[-1] == str(QUEUE_LIMIT + 9).encode()


def test_a_delta_carries_changed_lines_whole_moved_lines_as_places_and_departures() -> None:
    before = board(entry("a", 1, 30), entry("b", 2, 20), entry("c", 3, 10), entry("d", 4, 5))
    after = board(entry("a", 1, 30), entry("c", 2, 25), entry("b", 3, 20))
    encoded = delta_message("t", 9, before, after, with_private=False)
    assert encoded is not None
    message = json.loads(encoded)
    assert [e["team_id"] for e in message["changed"]] == ["c"]
    assert message["moved"] == [["b", 3, None]]
    assert message["removed"] == ["d"] and "private_changed" not in message


class ManualClock(asyncio.SelectorEventLoop):
    """An event loop whose clock moves only when the test moves it: its timers fire when they are due on that
    clock, however fast or slow the machine is."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0

    def time(self) -> float:
        return self.now


def test_changes_closer_together_than_the_push_interval_travel_in_one_message() -> None:
    async def scenario(clock: ManualClock) -> None:
        hub = LiveHub(push_interval_s=0.3)
        client = LiveClient(TEAM)
        hub.add(client)
        hub.follow(client, ["t"])
        hub.on_board("t", 1, growing(1), None)  # the first change after a quiet time goes at once
        assert client.wake.is_set()
        assert [json.loads(m)["revision"] for m in await client.next_messages(hub.feed)] == [1]
        clock.now += 0.1
        for revision in range(2, 6):
            hub.on_board("t", revision, growing(revision), growing(revision - 1))
        clock.now += 0.19  # 0.29 s after the first push: nothing goes yet
        await asyncio.sleep(0)
        assert not client.wake.is_set()
        clock.now += 0.02  # the interval is over: the four changes go, in one message
        [message] = await client.next_messages(hub.feed)
        assert json.loads(message)["base_revision"] == 1 and json.loads(message)["revision"] == 5

    clock = ManualClock()
    try:
        clock.run_until_complete(scenario(clock))
    finally:
        clock.close()


async def test_a_board_history_that_starts_again_sends_every_follower_the_whole_board() -> None:
    """After JetStream's store was wiped, the leaderboards bucket counts revisions from 1 again."""
    hub = LiveHub(push_interval_s=0)
    client = LiveClient(TEAM)
    hub.add(client)
    hub.follow(client, ["t"])
    for revision in (40, 41):
        hub.on_board("t", revision, growing(revision - 38), None)
        await client.next_messages(hub.feed)
    hub.on_board("t", 1, growing(5), None)
    [message] = await client.next_messages(hub.feed)
    assert json.loads(message)["type"] == "board" and json.loads(message)["revision"] == 1
    assert list(hub.feed.revisions["t"]) == [1]


HIDDEN_COLUMNS = [BoardColumn(name="AUC", metric="roc_auc", sort="desc", primary=True),
                  BoardColumn(name="Secret", metric="average_precision", sort="desc", hidden=True)]


def columned(auc: float, secret: float, private_secret: float = 0.11) -> Board:
    line = msgspec.structs.replace(entry("a", 1, auc), columns={"AUC": auc, "Secret": secret})
    private = msgspec.structs.replace(entry("a", 1, auc), columns={"AUC": auc, "Secret": private_secret})
    return msgspec.structs.replace(board(line, private=[private]), columns=HIDDEN_COLUMNS)


def test_a_hidden_column_reaches_admins_only_and_its_changes_alone_send_nobody_else_anything() -> None:
    feed = BoardFeed()
    feed.add("t", 1, columned(0.9, 0.123))
    for viewer in (TEAM, None):
        text = sent(feed.update("t", None, viewer))
        whole = json.loads(text)
        assert [c["name"] for c in whole["columns"]] == ["AUC"] and whole["public"][0]["columns"] == {"AUC": 0.9}
        assert b"Secret" not in text and b"0.123" not in text and b"0.11" not in text
    admins = json.loads(sent(feed.update("t", None, ADMIN)))
    assert [c["name"] for c in admins["columns"]] == ["AUC", "Secret"]
    assert admins["public"][0]["columns"]["Secret"] == 0.123 and admins["private"][0]["columns"]["Secret"] == 0.11

    feed.add("t", 2, columned(0.9, 0.456, private_secret=0.22))  # the hidden column alone changed
    assert feed.update("t", 1, TEAM) is None and feed.update("t", 1, None) is None
    delta = json.loads(sent(feed.update("t", 1, ADMIN)))
    assert delta["type"] == "board_delta" and delta["changed"][0]["columns"]["Secret"] == 0.456
    assert delta["private_changed"][0]["columns"]["Secret"] == 0.22

    feed.add("t", 3, columned(0.95, 0.789))  # a visible change: a team's delta from the revision it has (1)
    update = feed.update("t", 1, TEAM)
    assert update is not None and update[0] == 3
    team_delta = json.loads(update[1])
    assert (team_delta["base_revision"], team_delta["changed"][0]["columns"]) == (1, {"AUC": 0.95})
    assert b"Secret" not in update[1] and b"0.789" not in update[1]


async def test_a_client_that_was_sent_nothing_keeps_the_revision_it_has() -> None:
    feed = BoardFeed()
    feed.add("t", 1, columned(0.9, 0.1))
    client = LiveClient(TEAM)
    client.board_changed("t")
    assert len(await client.next_messages(feed)) == 1 and client.sent["t"] == 1
    feed.add("t", 2, columned(0.9, 0.2))
    client.board_changed("t")
    assert await client.next_messages(feed) == [] and client.sent["t"] == 1


def test_new_columns_come_as_the_whole_board() -> None:
    feed = BoardFeed()
    feed.add("t", 1, board(entry("a", 1, 1.0)))
    feed.add("t", 2, columned(1.0, 0.5))
    message = json.loads(sent(feed.update("t", 1, TEAM)))
    assert message["type"] == "board" and [c["name"] for c in message["columns"]] == ["AUC"]


async def test_a_pools_places_reach_each_team_as_its_own_submissions_only() -> None:
    """One message carries a pool's first places, every team's: a team's sockets get their own places only."""
    hub = LiveHub(push_interval_s=0)
    mine, other = LiveClient(TEAM), LiveClient(Principal(account_id="2", name="b", role="team"))
    for client in (mine, other):
        hub.add(client)
    hub.queue_moved(QueueMoved(kind="cpu", places=(
        QueuePlace(submission_id=21, team_id=2, queue_position=1, eta_s=1.5),
        QueuePlace(submission_id=11, team_id=1, queue_position=2, eta_s=3.0),
        QueuePlace(submission_id=31, team_id=3, queue_position=3),  # no socket here: nothing encoded for it
        QueuePlace(submission_id=12, team_id=1, queue_position=4))))
    assert [json.loads(m) for m in await mine.next_messages(hub.feed)] == [
        {"type": "queue", "submission_id": 11, "queue_position": 2, "eta_s": 3.0},
        {"type": "queue", "submission_id": 12, "queue_position": 4, "eta_s": None}]
    assert [json.loads(m) for m in await other.next_messages(hub.feed)] == [
        {"type": "queue", "submission_id": 21, "queue_position": 1, "eta_s": 1.5}]
    assert "3" not in hub._by_team
