"""Problem details: a rate-limited request tells the client when to retry."""

from __future__ import annotations

from litestar.exceptions import NotFoundException, TooManyRequestsException

from gateway.problems import _from_http_exception


def test_a_rate_limit_reset_becomes_retry_after() -> None:
    problem = _from_http_exception(TooManyRequestsException("slow down", headers={"RateLimit-Reset": "42"}))
    assert problem.status_code == 429
    assert problem.detail == "slow down"
    assert problem.headers == {"RateLimit-Reset": "42", "Retry-After": "42"}


def test_a_rate_limit_without_reset_adds_no_retry_after() -> None:
    problem = _from_http_exception(TooManyRequestsException("slow down"))
    assert "Retry-After" not in (problem.headers or {})


def test_other_errors_keep_their_status_and_detail() -> None:
    problem = _from_http_exception(NotFoundException("no such team"))
    assert (problem.status_code, problem.detail, problem.headers) == (404, "no such team", None)
