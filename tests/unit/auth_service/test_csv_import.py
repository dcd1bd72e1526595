"""The team CSV reader: good rows become teams, bad rows are refused with a reason, an unusable file is refused."""

from __future__ import annotations

import csv
import io

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auth_service.csv_import import MAX_CSV_BYTES, MAX_ROWS, CsvRefused, CsvRowRefused, CsvTeam, parse_teams_csv
from proto.events import TeamMember

DEFAULT_SIZE = 4


def parse(text: str) -> list[CsvTeam | CsvRowRefused]:
    return parse_teams_csv(text.encode(), DEFAULT_SIZE)


def refusal(text: str) -> CsvRowRefused:
    (row,) = parse(text)
    assert isinstance(row, CsvRowRefused), row
    return row


def test_a_good_file_with_bom_and_optional_columns_is_read() -> None:
    data = (
        "\ufeffName , PASSWORD,max_size,members\r\n"
        " Alpha ,correct-horse-1,3,Ada <ada@x.org>; Bob\r\n"
        "Beta,pw-battery-2,,\r\n"
    )
    assert parse_teams_csv(data.encode(), DEFAULT_SIZE) == [
        CsvTeam(
            line=2,
            name="Alpha",
            password="correct-horse-1",
            max_size=3,
            members=[TeamMember(name="Ada", email="ada@x.org"), TeamMember(name="Bob", email="")],
        ),
        CsvTeam(line=3, name="Beta", password="pw-battery-2", members=[], max_size=None),
    ]


def test_blank_lines_are_skipped_and_lines_count_the_header_as_one() -> None:
    rows = parse("name,password\n\nAlpha,password-1\n,\n\nBeta,password-2\n")
    assert [(row.line, row.name) for row in rows] == [(3, "Alpha"), (6, "Beta")]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("Alpha,", "password is empty"),
        ("Alpha,   ", "password is empty"),
        ("Alpha,short", "password is shorter than 8"),
        (",password-1", "team name is empty"),
        ("Alpha,password-1,abc", "max_size 'abc' is not a whole number"),
        ("Alpha,password-1,-1", "max_size '-1' is not a whole number"),
        ("Alpha,password-1,0", "between 1 and 100"),
        ("Alpha,password-1,101", "between 1 and 100"),
        ("Alpha,password-1,1,Ada; Bob", "2 members, but this team may have at most 1"),
        ("Alpha,password-1,,A;B;C;D;E", f"5 members, but this team may have at most {DEFAULT_SIZE}"),
        ("Alpha,password-1,,<ada@x.org>", "member 1 has no name"),
        ("Alpha,password-1,,Ada <ada-at-x>", "is not an email address"),
        ("Alpha,password-1,,Ada <a> b", "is not 'Name' or 'Name <email>'"),
    ],
)
def test_a_bad_row_is_refused_with_a_reason(row: str, reason: str) -> None:
    refused = refusal(f"name,password,max_size,members\n{row}\n")
    assert (refused.line, refused.name) == (2, "Alpha" if row[0] != "," else "")
    assert reason in refused.reason


def test_a_unicode_digit_that_int_cannot_read_is_a_refused_row() -> None:
    # "²".isdigit() is True but int("²") raises ValueError, which must not escape as an unhandled error.
    refused = refusal("name,password,max_size\nAlpha,password-1,\u00b2\n")
    assert "max_size" in refused.reason


def test_a_name_repeated_in_another_case_is_a_duplicate_of_its_first_line() -> None:
    rows = parse("name,password\nAlpha,password-1\nBeta,password-2\n ALPHA ,password-3\n")
    assert rows[2] == CsvRowRefused(line=4, name="ALPHA", reason="duplicate of line 2")
    assert [row.name for row in rows[:2] if isinstance(row, CsvTeam)] == ["Alpha", "Beta"]


def test_a_lookalike_of_an_earlier_row_is_refused_with_its_line() -> None:
    fullwidth_beta = "\uff42\uff45\uff54\uff41"
    rows = parse("name,password\nadmin,password-1\nBeta,password-2\n\u0430dmin,password-3\n"
                 f"{fullwidth_beta},password-4\n")
    assert rows[2] == CsvRowRefused(line=4, name="\u0430dmin", reason="looks the same as the name on line 2")
    assert rows[3] == CsvRowRefused(line=5, name=fullwidth_beta, reason="looks the same as the name on line 3")


@pytest.mark.parametrize(("name", "words"), [
    ("\u3164", "needs a visible character"),
    ("\u2800\u2800", "needs a visible character"),
    ("team\u3164", "invisible character (U+3164 HANGUL FILLER)"),
])
def test_an_invisible_name_is_a_refused_row(name: str, words: str) -> None:
    assert words in refusal(f"name,password\n{name},password-1\n").reason


def test_a_row_with_invalid_utf8_is_refused_and_the_others_still_parse() -> None:
    rows = parse_teams_csv(b"name,password\nAl\xff\xfepha,password-1\nBeta,password-2\n", DEFAULT_SIZE)
    assert isinstance(rows[0], CsvRowRefused)
    assert (rows[0].line, rows[0].reason) == (2, "not valid UTF-8")
    assert msgspec.json.decode(msgspec.json.encode(rows[0].name)) == "Al\ufffd\ufffdpha"
    assert rows[1] == CsvTeam(line=3, name="Beta", password="password-2", members=[], max_size=None)


def test_invalid_utf8_in_the_password_alone_refuses_the_row() -> None:
    rows = parse_teams_csv(b"name,password\nAlpha,pass\xc3word-1\n", DEFAULT_SIZE)
    assert rows == [CsvRowRefused(line=2, name="Alpha", reason="not valid UTF-8")]


@pytest.mark.parametrize("header", ["name\n", "password,name_\n", "team,password\n", ""])
def test_a_header_without_name_and_password_refuses_the_file(header: str) -> None:
    with pytest.raises(CsvRefused, match="header row must name the columns name, password"):
        parse(header + "Alpha,password-1\n")


def test_a_file_of_exactly_the_size_limit_is_read_and_one_byte_more_is_refused() -> None:
    header = b"name,password\n"
    data = header + b"\n" * (MAX_CSV_BYTES - len(header))
    assert parse_teams_csv(data, DEFAULT_SIZE) == []
    with pytest.raises(CsvRefused, match="larger than"):
        parse_teams_csv(data + b"\n", DEFAULT_SIZE)


def test_a_field_beyond_the_csv_modules_field_limit_is_refused_not_crashed() -> None:
    # 200 kB is under MAX_CSV_BYTES but over csv.field_size_limit(): it must be refused, not raise csv.Error.
    data = b"name,password\n" + b"a" * 200_000 + b",password-1\n"
    try:
        rows = parse_teams_csv(data, DEFAULT_SIZE)
    except CsvRefused:
        return
    assert isinstance(rows[0], CsvRowRefused)


def test_max_rows_are_read_and_one_more_refuses_the_file() -> None:
    rows = "".join(f"team-{index},password-1\n" for index in range(MAX_ROWS))
    assert len(parse("name,password\n" + rows)) == MAX_ROWS
    with pytest.raises(CsvRefused, match=f"more than {MAX_ROWS} rows"):
        parse("name,password\n" + rows + "one-more,password-1\n")


def csv_text(rows: list[tuple[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["name", "password"])
    writer.writerows(rows)
    return buffer.getvalue()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text('aAbB \u00df\u0130\n,"', max_size=4), st.sampled_from(["", "password-1"]))))
def test_at_most_one_team_is_created_per_lower_cased_name(rows: list[tuple[str, str]]) -> None:
    created = [row.name.lower() for row in parse(csv_text(rows)) if isinstance(row, CsvTeam)]
    assert len(created) == len(set(created))
