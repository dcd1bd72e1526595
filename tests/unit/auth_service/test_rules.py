"""The identity rules: valid team names, passwords, members and sizes pass cleaned; each refusal says why."""

from __future__ import annotations

import pytest

from auth_service import rules
from auth_service.rules import RuleViolation
from proto.events import TeamMember


def test_a_team_name_is_stripped() -> None:
    assert rules.team_name("  Alpha Team \n") == "Alpha Team"


def test_a_team_name_of_the_maximum_length_passes() -> None:
    assert rules.team_name("x" * rules.MAX_NAME_LENGTH) == "x" * rules.MAX_NAME_LENGTH


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "team name is empty"),
        ("   \t ", "team name is empty"),
        ("x" * (rules.MAX_NAME_LENGTH + 1), f"longer than {rules.MAX_NAME_LENGTH} characters"),
        ("Al\x00pha", "control characters"),
        ("Al\x1b[31mpha", "control characters"),
        ("Alpha\u200bBeta", "control characters"),
    ],
)
def test_a_bad_team_name_is_refused_with_a_reason(name: str, reason: str) -> None:
    with pytest.raises(RuleViolation, match=reason):
        rules.team_name(name)


def test_a_password_passes_unchanged() -> None:
    assert rules.password(" correct horse ") == " correct horse "


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "password is empty"),
        ("x" * (rules.MIN_PASSWORD_LENGTH - 1), f"shorter than {rules.MIN_PASSWORD_LENGTH} characters"),
        ("x" * (rules.MAX_PASSWORD_LENGTH + 1), f"longer than {rules.MAX_PASSWORD_LENGTH} characters"),
    ],
)
def test_a_bad_password_is_refused_with_a_reason(value: str, reason: str) -> None:
    with pytest.raises(RuleViolation, match=reason):
        rules.password(value)


def test_passwords_at_both_length_limits_pass() -> None:
    for value in ("x" * rules.MIN_PASSWORD_LENGTH, "x" * rules.MAX_PASSWORD_LENGTH):
        assert rules.password(value) == value


def test_members_are_stripped() -> None:
    cleaned = rules.members([TeamMember(name=" Ada ", email=" ada@example.org "), TeamMember(name="Bob")], 2)
    assert cleaned == [TeamMember(name="Ada", email="ada@example.org"), TeamMember(name="Bob", email="")]


def test_more_members_than_the_team_size_are_refused() -> None:
    with pytest.raises(RuleViolation, match="3 members, but this team may have at most 2"):
        rules.members([TeamMember(name=n) for n in "ABC"], 2)


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (TeamMember(name="  ", email="ada@example.org"), "member 2 has no name"),
        (TeamMember(name="x" * (rules.MAX_NAME_LENGTH + 1)), "member 2's name is longer than"),
        (TeamMember(name="Ada", email="ada.example.org"), "member 2's email 'ada.example.org' is not an email"),
        (TeamMember(name="Ada", email="ada@localhost"), "is not an email address"),
        (TeamMember(name="Ada", email="a da@example.org"), "is not an email address"),
    ],
)
def test_a_bad_member_is_refused_with_its_position(member: TeamMember, reason: str) -> None:
    with pytest.raises(RuleViolation, match=reason):
        rules.members([TeamMember(name="Bob"), member], 4)


@pytest.mark.parametrize(
    "member",
    [TeamMember(name="Ada\x00"), TeamMember(name="Ada\x1b[31m"), TeamMember(name="Ada", email="ada\x00@example.org")],
)
def test_a_member_with_control_characters_is_refused(member: TeamMember) -> None:
    # Team names refuse control characters; member names and emails must too (PostgreSQL text refuses NUL).
    with pytest.raises(RuleViolation, match="control characters"):
        rules.members([member], 4)


@pytest.mark.parametrize("value", [1, 4, 100])
def test_a_team_size_in_range_passes(value: int) -> None:
    assert rules.max_size(value) == value


@pytest.mark.parametrize("value", [0, -1, 101])
def test_a_team_size_out_of_range_is_refused(value: int) -> None:
    with pytest.raises(RuleViolation, match="between 1 and 100"):
        rules.max_size(value)
