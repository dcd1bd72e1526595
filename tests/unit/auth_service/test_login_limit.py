"""The per-name failed-login limit's decision, on given times (no clock, no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from auth_service.login_failures import LoginLimit

LIMIT = LoginLimit(failures=3, window=timedelta(minutes=15))
START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_attempts_up_to_the_limit_check_their_password() -> None:
    assert [LIMIT.retry_after(n, START, START + timedelta(seconds=n)) for n in (1, 2, 3)] == [None, None, None]


def test_the_attempt_after_the_limit_waits_for_the_rest_of_the_window() -> None:
    assert LIMIT.retry_after(4, START, START) == 900
    assert LIMIT.retry_after(4, START, START + timedelta(minutes=10)) == 300
    assert LIMIT.retry_after(4, START, START + timedelta(minutes=14, seconds=59, milliseconds=1)) == 1


def test_the_wait_is_whole_seconds_rounded_up_and_never_zero() -> None:
    assert LIMIT.retry_after(4, START, START + timedelta(seconds=0.25)) == 900
    assert LIMIT.retry_after(4, START, START + timedelta(minutes=15)) == 1  # the store starts a new window then
