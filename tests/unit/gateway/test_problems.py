"""Problem details: a rate-limited request tells the client when to retry; a JSON body that cannot be read is
refused by its kind, in the gateway's words."""

from __future__ import annotations

from typing import Annotated

import msgspec
import pytest
from litestar import Litestar, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException, TooManyRequestsException
from litestar.params import Body, FromQuery, JSONBody
from litestar.testing import TestClient

from gateway.problems import (
    EXCEPTION_HANDLERS,
    JSON_ERRORS,
    GatewayRequest,
    _from_http_exception,
    json_problem,
    problem_details_plugin,
)


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


# --- a JSON body the gateway could not read: told by kind, in the gateway's words -----------------------------------


class Member(msgspec.Struct):
    age: int


class Team(msgspec.Struct):
    name: str
    members: list[Member] = []


def _failure(body: bytes | str) -> tuple[int, str]:
    try:
        msgspec.json.decode(body, type=Team)
    except JSON_ERRORS as exc:
        return json_problem(body, exc)
    raise AssertionError("decoded")


@pytest.mark.parametrize(("body", "reason"), [
    (b'{"name": "\xff\xfe"}', "the JSON is not valid UTF-8 (byte 10)"),
    (b'{"name": "\xed\xa0\x80"}', "the JSON is not valid UTF-8 (byte 10)"),  # an encoded UTF-16 surrogate
    (b'{"name": 3, "x": "\xc3\x28"}', "the JSON is not valid UTF-8 (byte 18)"),  # whatever msgspec met first
    (b'{"name": "a", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "the JSON is nested too deeply"),
    (b'{"x": ' + b"[" * 100_000, "the JSON is nested too deeply"),  # and cut short
    (b'{"name": ', "the JSON is not well-formed"),
    (b"", "the JSON is not well-formed"),
    (b'{"name": "\\ud800"}', "the JSON is not well-formed"),
    (b'{"name": "a"} x', "the JSON is not well-formed"),
    (b'{"name": 3}', "the JSON has a missing or invalid value at $.name: expected str"),
    (b'{"name": "a", "members": [{"age": "x"}]}',
     "the JSON has a missing or invalid value at $.members[0].age: expected int"),
    (b"[]", "the JSON has a missing or invalid value at $: expected object"),
    (b"{}", "the JSON has a missing or invalid value at $.name: required"),
    ('{"name": 3}', "the JSON has a missing or invalid value at $.name: expected str"),  # a WebSocket's text frame
])
def test_a_body_that_cannot_be_decoded_is_refused_in_the_gateways_words(body: bytes | str, reason: str) -> None:
    assert _failure(body) == (400, reason)


def test_the_kind_does_not_hang_on_the_decoders_words() -> None:
    """msgspec 0.23 reports bad UTF-8 as a DecodeError of its own wording; any wording, any type, reads the same."""
    body = b'{"name": "\xff"}'
    not_utf8 = (400, "the JSON is not valid UTF-8 (byte 10)")
    assert json_problem(body, msgspec.DecodeError("Invalid UTF-8 encoded string")) == not_utf8
    assert json_problem(body, UnicodeDecodeError("utf-8", body, 10, 11, "invalid start byte")) == not_utf8
    assert json_problem(b"[[[", RecursionError("anything")) == (400, "the JSON is nested too deeply")
    assert json_problem(b"{", msgspec.DecodeError("something new")) == (400, "the JSON is not well-formed")
    assert json_problem(b"1", msgspec.ValidationError("something new")) == (
        400, "the JSON has a missing or invalid value at $")


class Start(msgspec.Struct):
    task_id: str
    size_bytes: int


class Upload(msgspec.Struct):
    file: UploadFile


@post("/json", status_code=200)
async def start(data: JSONBody[Start], limit: FromQuery[int] = 1) -> str:
    return data.task_id


@post("/form", status_code=200)
async def form(data: Annotated[Upload, Body(media_type=RequestEncodingType.MULTI_PART)]) -> str:
    return data.file.filename


def _details(*requests: tuple[str, dict]) -> list[str]:
    app = Litestar([start, form], plugins=[problem_details_plugin()], exception_handlers=EXCEPTION_HANDLERS,
                   request_class=GatewayRequest)
    with TestClient(app) as client:
        return [client.post(path, **options).json()["detail"] for path, options in requests]


def test_a_typed_json_route_answers_in_the_same_words() -> None:
    """Litestar decodes a typed body in GatewayRequest, then checks its type (_invalid_body)."""
    json = {"headers": {"content-type": "application/json"}}
    assert _details(
        ("/json", {"content": b'{"task_id": "\xff"}', **json}),
        ("/json", {"content": b"[" * 100_000, **json}),
        ("/json", {"content": b'{"task_id": ', **json}),
        ("/json", {"json": {"task_id": "a", "size_bytes": 1.5}}),
        ("/json", {"json": [{"task_id": "a", "size_bytes": 1}]}),
    ) == ["the JSON is not valid UTF-8 (byte 13)", "the JSON is nested too deeply", "the JSON is not well-formed",
          "the JSON has a missing or invalid value at $.size_bytes: expected int",
          "the JSON has a missing or invalid value at $: expected object"]


def test_a_query_or_a_form_keeps_litestars_validation() -> None:
    assert _details(
        ("/json?limit=x", {"json": {"task_id": "a", "size_bytes": 1}}),
        ("/form", {"files": {"other": ("a", b"x")}}),
    ) == ["Validation failed for POST /json?limit=x", "Validation failed for POST /form"]
