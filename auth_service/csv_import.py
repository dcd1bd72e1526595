"""Reading a team CSV for bulk creation, as a pure function: which rows are teams to create and which
are refused, and why.

Format (UTF-8, a header row, MLS-GOAT's `name,password` plus optional columns):

    name,password,max_size,members
    Alpha,correct-horse-1,4,Ada Lovelace <ada@example.org>; Alan Turing
    Beta,battery-staple-2,,

`members` is `;`-separated, each `Name` or `Name <email>`; an empty `max_size` takes the default.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

from auth_service import names, rules
from proto.events import TeamMember
from proto.identity import MAX_TEAMS_CSV_BYTES

MAX_CSV_BYTES = MAX_TEAMS_CSV_BYTES
MAX_ROWS = 5000
REQUIRED_COLUMNS = ("name", "password")
_MEMBER = re.compile(r"^(?P<name>[^<>]*?)\s*(?:<(?P<email>[^<>]*)>)?$")


class CsvRefused(ValueError):
    """The whole file is unusable (not the rows in it)."""


@dataclass(frozen=True)
class CsvTeam:
    line: int
    name: str
    password: str
    members: list[TeamMember]
    max_size: int | None


@dataclass(frozen=True)
class CsvRowRefused:
    line: int
    name: str
    reason: str


def _members(text: str) -> list[TeamMember]:
    found = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        match = _MEMBER.fullmatch(part)
        if match is None:
            raise rules.RuleViolation(f"member {part!r} is not 'Name' or 'Name <email>'")
        found.append(TeamMember(name=match["name"], email=match["email"] or ""))
    return found


def _row(line: int, row: dict[str, str | None], default_max_size: int) -> CsvTeam:
    if any("\udc80" <= ch <= "\udcff" for value in row.values() if value for ch in value):
        raise rules.RuleViolation("not valid UTF-8")
    name = rules.team_name(row.get("name") or "")
    password = rules.password((row.get("password") or "").strip())
    max_size_text = (row.get("max_size") or "").strip()
    if max_size_text and not (max_size_text.isascii() and max_size_text.isdigit()):
        raise rules.RuleViolation(f"max_size {max_size_text!r} is not a whole number")
    max_size = rules.max_size(int(max_size_text)) if max_size_text else None
    members = rules.members(_members(row.get("members") or ""), max_size or default_max_size)
    return CsvTeam(line=line, name=name, password=password, members=members, max_size=max_size)


def _name_keys(name: str) -> list[tuple[str, str]]:
    """The keys under which two names are one team: the name in any case, and its look-alike keys."""
    return [("name", name.lower()), *zip(names.LookalikeKeys._fields, names.lookalike_keys(name), strict=True)]


def _numbered(reader: csv.DictReader) -> Iterator[tuple[int, dict[str, str | None]]]:
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as exc:  # e.g. a field beyond the csv module's size limit: the file is not a table
        raise CsvRefused(f"line {reader.line_num}: {exc}") from None


def parse_teams_csv(data: bytes, default_max_size: int) -> list[CsvTeam | CsvRowRefused]:
    if len(data) > MAX_CSV_BYTES:
        raise CsvRefused(f"the CSV is larger than {MAX_CSV_BYTES // 1024} KiB")
    # surrogateescape keeps undecodable bytes visible per row, so one bad row does not sink the file.
    text = data.decode("utf-8-sig", errors="surrogateescape")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    if not all(column in header for column in REQUIRED_COLUMNS):
        raise CsvRefused(f"the header row must name the columns {', '.join(REQUIRED_COLUMNS)} (found: {header})")
    reader.fieldnames = header
    results: list[CsvTeam | CsvRowRefused] = []
    seen: dict[tuple[str, str], int] = {}  # each key of a row's name -> the row's line
    for line, row in _numbered(reader):
        if len(results) >= MAX_ROWS:
            raise CsvRefused(f"the CSV has more than {MAX_ROWS} rows")
        if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
            continue  # blank line
        # Undecodable bytes shown as U+FFFD in the report (lone surrogates cannot be sent as JSON).
        shown_name = (row.get("name") or "").strip().encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        try:
            team = _row(line, row, default_max_size)
        except rules.RuleViolation as exc:
            results.append(CsvRowRefused(line=line, name=shown_name, reason=str(exc)))
            continue
        keys = _name_keys(team.name)
        earlier = next((key for key in keys if key in seen), None)
        if earlier is not None:
            how = "duplicate of" if earlier[0] == "name" else "looks the same as the name on"
            results.append(CsvRowRefused(line=line, name=team.name, reason=f"{how} line {seen[earlier]}"))
            continue
        seen.update(dict.fromkeys(keys, line))
        results.append(team)
    return results
