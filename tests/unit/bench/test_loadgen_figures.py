"""The load generator's arithmetic: percentiles, what a viewer learns from board messages, push delays, the table."""

import math

from bench.loadgen.figures import (
    BoardEntry,
    Sightings,
    live_decoder,
    percentile,
    push_delays,
    render_table,
)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1 … 100
    assert percentile(values, 50) == 50
    assert percentile(values, 95) == 95
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([3.0, 1.0, 2.0], 0) == 1.0
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))


def test_a_viewer_sees_each_submission_once_at_its_first_sighting() -> None:
    sightings = Sightings()
    counts: dict[str, int] = {}
    sightings.observe(0, counts, [BoardEntry("a", 1), BoardEntry("b", 2)], now=10.0)  # the whole board, on follow
    sightings.observe(0, counts, [BoardEntry("a", 1)], now=11.0)  # a rank change only: nothing new for "a"
    sightings.observe(0, counts, [BoardEntry("a", 3)], now=12.0)  # a coalesced board: "a" went 1 → 3 unseen
    seen_at, _ = sightings.by_submission()
    assert {k: list(v) for k, v in seen_at.items()} == {
        "a#1": [10.0], "b#1": [10.0], "b#2": [10.0], "a#2": [12.0], "a#3": [12.0]}
    assert counts == {"a": 3, "b": 2}


def test_viewers_share_the_sightings_but_not_their_counts() -> None:
    sightings = Sightings()
    first, second = {}, {}
    sightings.observe(0, first, [BoardEntry("a", 1)], now=1.0)
    sightings.observe(1, second, [BoardEntry("a", 1)], now=1.5)
    seen_at, seen_by = sightings.by_submission()
    assert list(seen_at["a#1"]) == [1.0, 1.5]
    assert list(seen_by["a#1"]) == [0, 1]


def test_push_delays_count_what_no_viewer_saw() -> None:
    sightings = Sightings()
    sightings.observe(0, {}, [BoardEntry("a", 1)], now=10.2)
    sightings.observe(1, {}, [BoardEntry("a", 1), BoardEntry("b", 1)], now=10.4)
    scored_at = {"a#1": 10.0, "b#1": 10.0, "c#1": 12.0}
    push = push_delays(sightings, scored_at, joined=[1.0, 1.0])
    assert sorted(round(d, 3) for d in push.delays) == [0.2, 0.4, 0.4]
    assert (push.expected, push.missing) == (6, 3)
    assert push.as_dict()["seen"] == 3


def test_a_viewer_that_joined_after_a_score_is_neither_expected_nor_counted_for_it() -> None:
    """A storm: viewer 1 asks to follow at 20.0, after "a#1" was scored (its first whole board shows it: not a
    push) and before "a#2" was (a push it must receive); viewer 2 never connected."""
    sightings = Sightings()
    early, late = {}, {}
    sightings.observe(0, early, [BoardEntry("a", 1)], now=10.3)
    sightings.observe(1, late, [BoardEntry("a", 1)], now=20.1)
    sightings.observe(0, early, [BoardEntry("a", 2)], now=30.2)
    scored_at = {"a#1": 10.0, "a#2": 30.0}
    push = push_delays(sightings, scored_at, joined=[5.0, 20.0, math.nan])
    assert sorted(round(d, 3) for d in push.delays) == [0.2, 0.3]
    assert (push.expected, push.missing) == (3, 1)  # a#1: viewer 0; a#2: viewers 0 and 1 (1 never saw it)


def test_board_messages_decode_to_what_a_viewer_needs() -> None:
    whole = live_decoder.decode(b'{"type":"board","task_id":"t","revision":3,"sort":"desc","private":null,'
                                b'"public":[{"rank":1,"team_name":"a","submissions":2,"score":30.5}]}')
    assert whole.public == [BoardEntry("a", 2)]
    delta = live_decoder.decode(b'{"type":"board_delta","changed":[{"team_name":"b","submissions":1}],"removed":[]}')
    assert delta.changed == [BoardEntry("b", 1)]
    assert live_decoder.decode(b'{"type":"submission","submission_id":4,"status":"scored"}').public is None


def test_table_aligns_numbers_right_and_marks_missing_values() -> None:
    table = render_table(["step", "p95 ms", "errors"], [["small", 12.345, 0], ["full", math.nan, 1234]])
    lines = table.splitlines()
    assert lines[0].split() == ["step", "p95", "ms", "errors"]
    assert lines[2].split() == ["small", "12.35", "0"]
    assert lines[3].split() == ["full", "–", "1,234"]
    assert len({len(line) for line in lines}) == 1
