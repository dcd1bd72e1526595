"""The If-Match a competition PUT must carry: the ETag's forms are read, anything else is refused saying which
forms are."""

from __future__ import annotations

import pytest

from gateway.problems import Problem
from gateway.routes_competition import etag, expected_version


@pytest.mark.parametrize(("header", "version"), [
    ('"3"', 3), ('W/"3"', 3), ("3", 3), (' "12" ', 12), ('"0"', 0), (etag(41), 41),
])
def test_if_match_names_one_version(header: str, version: int) -> None:
    assert expected_version(header) == version


def test_without_if_match_the_answer_is_428_and_says_what_to_send() -> None:
    with pytest.raises(Problem) as refused:
        expected_version(None)
    assert refused.value.status_code == 428
    assert "If-Match is required" in refused.value.detail and "ETag" in refused.value.detail


@pytest.mark.parametrize("header", ["", "*", '"3", "4"', "'3'", '"three"', "-1", '"3', "W/3", '"1e3"', "9" * 40,
                                    '"3"x'])
def test_anything_else_is_400_naming_the_forms(header: str) -> None:
    with pytest.raises(Problem) as refused:
        expected_version(header)
    assert refused.value.status_code == 400
    assert 'as "N", W/"N" or N' in refused.value.detail and repr(header.strip()[:40]) in refused.value.detail
