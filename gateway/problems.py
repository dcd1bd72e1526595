"""Errors as RFC 9457 problem details (`application/problem+json`), with the reason in `detail` — the
field MLS-GOAT clients already read — and `Retry-After` on 429 and 503."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, TooManyRequestsException, ValidationException
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsException, ProblemDetailsPlugin


class Problem(ProblemDetailsException):
    def __init__(
        self, status: int, detail: str, *, headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(
            status_code=status,
            detail=detail,
            title=HTTPStatus(status).phrase,
            type_="about:blank",
            headers=headers,
            extra=extra,
        )


def _from_http_exception(exc: HTTPException) -> ProblemDetailsException:
    headers = dict(exc.headers or {})
    if isinstance(exc, TooManyRequestsException) and "RateLimit-Reset" in headers:
        headers["Retry-After"] = headers["RateLimit-Reset"]
    extra = exc.extra if isinstance(exc, ValidationException) and exc.extra else None
    return Problem(exc.status_code, exc.detail, headers=headers or None, extra={"errors": extra} if extra else None)


def _internal_error(request: Request, exc: Exception) -> Response:
    request.logger.exception("unhandled error", exc_info=exc)
    return Problem(500, "internal error; it is logged").to_response(request)


def problem_details_plugin() -> ProblemDetailsPlugin:
    return ProblemDetailsPlugin(
        ProblemDetailsConfig(exception_to_problem_detail_map={HTTPException: _from_http_exception})
    )


EXCEPTION_HANDLERS = {Exception: _internal_error}
