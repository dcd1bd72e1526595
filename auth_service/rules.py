"""The identity rules, as pure functions: what a valid team name, password and member list are. Each
refusal says what to change."""

from __future__ import annotations

import re
import unicodedata

from auth_service import names
from proto.events import TeamMember

MAX_NAME_LENGTH = 64
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256  # argon2 accepts more; a cap keeps a request from costing a megabyte of hashing
MAX_TEAM_SIZE = 100
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


class RuleViolation(ValueError):
    pass


def _has_control_characters(text: str) -> bool:
    # Category C: control, format (zero-width), surrogates, private use, unassigned. PostgreSQL also
    # refuses NUL in text, so letting one through would fail later, deep inside a transaction.
    return any(unicodedata.category(ch).startswith("C") for ch in text)


def team_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned:
        raise RuleViolation("team name is empty")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise RuleViolation(f"team name is longer than {MAX_NAME_LENGTH} characters")
    if _has_control_characters(cleaned):
        raise RuleViolation("team name contains control characters")
    if not names.has_visible_character(cleaned):
        raise RuleViolation(
            "a team name needs a visible character: a letter, digit or symbol (spaces, combining marks and blank "
            "characters such as U+3164 HANGUL FILLER or U+2800 BRAILLE PATTERN BLANK do not count)"
        )
    invisible = names.invisible_characters(cleaned)
    if invisible:
        raise RuleViolation(f"team name contains an invisible character ({names.describe(invisible[0])}); remove it")
    return cleaned


def password(value: str) -> str:
    if not value:
        raise RuleViolation("password is empty")
    if len(value) < MIN_PASSWORD_LENGTH:
        raise RuleViolation(f"password is shorter than {MIN_PASSWORD_LENGTH} characters")
    if len(value) > MAX_PASSWORD_LENGTH:
        raise RuleViolation(f"password is longer than {MAX_PASSWORD_LENGTH} characters")
    return value


def members(values: list[TeamMember], max_size: int) -> list[TeamMember]:
    if len(values) > max_size:
        raise RuleViolation(f"{len(values)} members, but this team may have at most {max_size}")
    cleaned = []
    for index, member in enumerate(values, start=1):
        name = member.name.strip()
        email = member.email.strip()
        if not name:
            raise RuleViolation(f"member {index} has no name")
        if len(name) > MAX_NAME_LENGTH:
            raise RuleViolation(f"member {index}'s name is longer than {MAX_NAME_LENGTH} characters")
        if _has_control_characters(name + email):
            raise RuleViolation(f"member {index}'s name or email contains control characters")
        if email and not _EMAIL.fullmatch(email):
            raise RuleViolation(f"member {index}'s email {email!r} is not an email address")
        cleaned.append(TeamMember(name=name, email=email))
    return cleaned


def max_size(value: int) -> int:
    if not 1 <= value <= MAX_TEAM_SIZE:
        raise RuleViolation(f"max team size must be between 1 and {MAX_TEAM_SIZE}")
    return value
