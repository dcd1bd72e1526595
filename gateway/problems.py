"""Errors as RFC 9457 problem details (`application/problem+json`), with the reason in `detail` — the
field MLS-GOAT clients already read — and `Retry-After` on 429 and 503."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.enums import RequestEncodingType
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


# --- a JSON body the gateway could not read ---------------------------------------------------------------------------
# Told apart by kind, never by the decoder's wording, and answered in the gateway's own words: msgspec's messages
# and exception types change between releases (0.23 reports a body that is not UTF-8 as a DecodeError).
NOT_UTF8 = "the JSON is not valid UTF-8"
TOO_DEEP = "the JSON is nested too deeply"
MALFORMED = "the JSON is not well-formed"
WRONG_VALUE = "the JSON has a missing or invalid value at"

# What decoding JSON raises: msgspec's DecodeError (its ValidationError too), RecursionError for nesting deeper than
# msgspec's limit, UnicodeError for a text that cannot be UTF-8.
JSON_ERRORS = (msgspec.DecodeError, UnicodeError, RecursionError)

_AT_PATH = re.compile(r" - at `(\$[^`]*)`$")  # msgspec names where a value failed, except at the root
# Details worth passing on when msgspec's message still has them; without them the reason still says where.
_MISSING = re.compile(r"missing required field `(\w{1,64})`")
_EXPECTED = re.compile(r"^Expected `([\w |\[\],<>=.]{1,64})`")


def wrong_value(path: str, message: str) -> str:
    """The wrong-value reason: where, and what was expected when the decoder said so."""
    if missing := _MISSING.search(message):
        return f"{WRONG_VALUE} {path}.{missing.group(1)}: required"
    if expected := _EXPECTED.search(message):
        return f"{WRONG_VALUE} {path}: expected {expected.group(1)}"
    return f"{WRONG_VALUE} {path}"


def json_problem(body: bytes | str, exc: BaseException) -> tuple[int, str]:
    """Why `body` could not be decoded (`exc`, one of JSON_ERRORS): the status and the reason for the client."""
    try:
        body.decode() if isinstance(body, bytes) else body.encode()
    except UnicodeDecodeError as bad:  # bytes that are not UTF-8
        return 400, f"{NOT_UTF8} (byte {bad.start})"
    except UnicodeEncodeError:  # text with a lone surrogate
        return 400, NOT_UTF8
    if isinstance(exc, RecursionError):
        return 400, TOO_DEEP
    if isinstance(exc, msgspec.ValidationError):
        at = _AT_PATH.search(str(exc))
        return 400, wrong_value(at.group(1) if at else "$", str(exc))
    return 400, MALFORMED


# Where a route's `before_request` puts the most body bytes this request may send (a task's upload limit).
BODY_LIMIT = "podium_body_limit"


class GatewayRequest(Request):
    """A typed JSON body is decoded here first (to Python values), then checked by Litestar (`_invalid_body`).
    A body is counted as it streams in, against a limit set for this request (`BODY_LIMIT`), if any."""

    async def stream(self) -> AsyncGenerator[bytes, None]:
        limit = self.scope.get("state", {}).get(BODY_LIMIT)
        received = 0
        async for chunk in super().stream():
            received += len(chunk)
            if limit is not None and received > limit:
                # A chunked body has no Content-Length to refuse up front: stop reading as it grows past.
                raise Problem(413, f"the request body is over this upload's limit of {limit} bytes")
            yield chunk

    async def json(self) -> Any:
        try:
            return await super().json()
        except (SerializationException, RecursionError) as exc:  # Litestar wraps msgspec's DecodeError
            raise Problem(*json_problem(await self.body(), exc.__cause__ or exc)) from None


JSON = RequestEncodingType.JSON


def _invalid_body(request: Request, exc: ValidationException) -> Response:
    """Litestar's check of a typed body quotes msgspec; for a JSON body, say json_problem's words (where, not why)."""
    data = request.route_handler.parsed_data_field  # `data: T` without Body(...) is JSON too
    json_body = data is not None and getattr(data.kwarg_definition, "media_type", JSON) == JSON
    in_body = [error for error in exc.extra or [] if isinstance(error, dict) and error.get("source") == "body"]
    if not (json_body and in_body):
        return _from_http_exception(exc).to_response(request)
    key = in_body[0].get("key", "data")  # "data" is the body itself; a field's key is its path within
    reason = wrong_value("$" if key == "data" else f"$.{key}", str(in_body[0].get("message", "")))
    return Problem(400, reason).to_response(request)


def _internal_error(request: Request, exc: Exception) -> Response:
    request.logger.exception("unhandled error", exc_info=exc)
    return Problem(500, "internal error; it is logged").to_response(request)


def problem_details_plugin() -> ProblemDetailsPlugin:
    return ProblemDetailsPlugin(
        ProblemDetailsConfig(exception_to_problem_detail_map={HTTPException: _from_http_exception})
    )


EXCEPTION_HANDLERS = {Exception: _internal_error, ValidationException: _invalid_body}
