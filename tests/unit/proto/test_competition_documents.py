"""A competition document that cannot be read is a CompetitionError (a 422 naming where), whatever the input: deep
nesting included, which msgspec's JSON decoder and Python's TOML parser refuse with a RecursionError."""

from __future__ import annotations

import pytest

from proto.competition import CompetitionError, parse_competition


@pytest.mark.parametrize(("text", "content_type"), [
    (b"[" * 10_000 + b"]" * 10_000, "json"),
    (b'{"competition": ' * 5_000 + b"{}" + b"}" * 5_000, "json"),
    (b"a = " + b"[" * 5_000 + b"]" * 5_000, "toml"),
    (b"a = " + b"{b = " * 5_000 + b"1" + b"}" * 5_000, "toml"),
])
def test_a_document_nested_too_deeply_is_refused_in_words(text: bytes, content_type: str) -> None:
    with pytest.raises(CompetitionError) as refused:
        parse_competition(text, content_type=content_type)
    assert str(refused.value) == f"not valid {content_type.upper()}: nested too deeply"
    assert (refused.value.task, refused.value.field) == ("", "")
