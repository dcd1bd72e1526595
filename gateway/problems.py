"""Errors as RFC 9457 problem details (`application/problem+json`), with the reason in `detail` — the
field MLS-GOAT clients already read — and `Retry-After` on 429 and 503."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, SerializationException, TooManyRequestsException, ValidationException
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


# Litestar's multipart parser answers a form of too many parts, or with a part header over 4 KiB (a long file
# name), with a 400 whose detail reads like a body-size limit (kept so until Litestar 3); say which limits it means.
_MULTIPART_LIMIT = "Request Entity Too Large"
_MULTIPART_LIMIT_DETAIL = (
    "the multipart form is over a limit: at most 1000 parts, and each part's headers (its file name included) "
    "within 4 KiB"
)


def _from_http_exception(exc: HTTPException) -> ProblemDetailsException:
    headers = dict(exc.headers or {})
    if isinstance(exc, TooManyRequestsException) and "RateLimit-Reset" in headers:
        headers["Retry-After"] = headers["RateLimit-Reset"]
    extra = exc.extra if isinstance(exc, ValidationException) and exc.extra else None
    detail = _MULTIPART_LIMIT_DETAIL if exc.status_code == 400 and exc.detail == _MULTIPART_LIMIT else exc.detail
    return Problem(exc.status_code, detail, headers=headers or None, extra={"errors": extra} if extra else None)


# msgspec reports most malformed JSON as DecodeError, but a body that is not UTF-8 as UnicodeDecodeError and one
# nested deeper than its recursion limit as RecursionError: all three are the client's malformed JSON.
MALFORMED_JSON = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


def malformed_json(exc: Exception) -> str:
    """What is wrong with a JSON document, in words for the client."""
    if isinstance(exc, UnicodeDecodeError):
        return f"JSON is malformed: not valid UTF-8 (byte {exc.start})"
    if isinstance(exc, RecursionError):
        return "JSON is malformed: nested too deeply"
    return str(exc)


class GatewayRequest(Request):
    """Litestar answers 400 to JSON that msgspec calls malformed (DecodeError) and 500 to the other two kinds."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except (UnicodeDecodeError, RecursionError) as exc:
            raise SerializationException(malformed_json(exc)) from None


def _internal_error(request: Request, exc: Exception) -> Response:
    request.logger.exception("unhandled error", exc_info=exc)
    return Problem(500, "internal error; it is logged").to_response(request)


def problem_details_plugin() -> ProblemDetailsPlugin:
    return ProblemDetailsPlugin(
        ProblemDetailsConfig(exception_to_problem_detail_map={HTTPException: _from_http_exception})
    )


EXCEPTION_HANDLERS = {Exception: _internal_error}
