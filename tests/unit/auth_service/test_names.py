"""Names as people see them: look-alikes (Unicode TR39 skeletons through ICU, after NFKC) collide, names that differ
in their letters do not, and a name with nothing visible or with invisible characters in it is refused."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auth_service import names, rules
from auth_service.names import lookalike_keys
from auth_service.rules import RuleViolation

CYRILLIC_A, CYRILLIC_O, CYRILLIC_E, CYRILLIC_EN = "\u0430", "\u043e", "\u0415", "\u041d"
GREEK_ALPHA, GREEK_RHO, GREEK_CAPITAL_ALPHA = "\u03b1", "\u03c1", "\u0391"


def collide(a: str, b: str) -> bool:
    """Whether the second name is refused beside the first: the DB's unique indexes compare each key with the same
    key, and the older index compares lower-cased names."""
    keys_a, keys_b = lookalike_keys(a), lookalike_keys(b)
    return a.lower() == b.lower() or keys_a.skeleton == keys_b.skeleton or (
        keys_a.folded_skeleton == keys_b.folded_skeleton)


@pytest.mark.parametrize(
    ("existing", "lookalike"),
    [
        ("admin", f"{CYRILLIC_A}dmin"),  # Cyrillic а
        ("admin", f"{CYRILLIC_A}dm\u0456n"),  # and a Cyrillic і
        ("root-admin", f"r{CYRILLIC_O}{CYRILLIC_O}t-admin"),
        ("paypal", f"{GREEK_RHO}ayp{GREEK_ALPHA}l"),  # Greek ρ and α
        ("Alpha", f"{GREEK_CAPITAL_ALPHA}lpha"),
        ("HELLO", f"{CYRILLIC_EN}{CYRILLIC_E}LLO"),  # capitals whose small letters look different (н, е)
        ("hello", f"{CYRILLIC_EN}{CYRILLIC_E}LLO"),
        ("admin", "\uff41\uff44\uff4d\uff49\uff4e"),  # fullwidth ａｄｍｉｎ
        ("admin", "\uff21\uff24\uff2d\uff29\uff2e"),  # fullwidth ＡＤＭＩＮ
        ("admin", "\U0001d400\U0001d41d\U0001d426\U0001d422\U0001d427"),  # mathematical bold 𝐀𝐝𝐦𝐢𝐧
        ("admin", "\u24d0\u24d3\u24dc\u24d8\u24dd"),  # circled ⓐⓓⓜⓘⓝ
        ("admin", f"{CYRILLIC_A.upper()}DMIN"),  # Cyrillic А, then capitals
        ("admin", "adrnin"),  # r n looks like m
        ("team 1", "team l"),
        ("team 1", "Team I"),
        ("Bond 007", "Bond OO7"),
        ("team x", "team\u3000x"),  # ideographic space
        ("team x", "team  x"),  # a web page shows two spaces as one
        ("Cafe\u0301", "Caf\u00e9"),  # decomposed and precomposed é
        ("heart\u2764", "heart\u2764\ufe0f"),  # a variation selector changes the drawing, not the name
        ("Stra\u00dfe", "STRASSE"),
    ],
)
def test_a_lookalike_of_an_existing_name_collides(existing: str, lookalike: str) -> None:
    assert existing != lookalike
    assert collide(existing, lookalike)
    assert collide(lookalike, existing)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("alpha", "beta"),
        ("team-1", "team-2"),
        ("team a", "team b"),
        ("teamx", "team x"),
        ("\u0410\u043b\u044c\u0444\u0430", "\u0411\u0435\u0442\u0430"),  # Альфа, Бета: other letters, one script
        ("\u5317\u4eac", "\u4e0a\u6d77"),  # 北京, 上海
        ("Cafe", "Caf\u00e9"),
    ],
)
def test_names_that_differ_in_their_letters_do_not_collide(one: str, other: str) -> None:
    assert not collide(one, other)


def test_hex_digits_keep_apart() -> None:
    """The tests name their teams `team-<hex>`: no two hex digits may look alike."""
    keys = {lookalike_keys(f"team-{digit}") for digit in "0123456789abcdef"}
    assert len(keys) == 16


PRINTABLE_ASCII = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=24)


@given(PRINTABLE_ASCII)
def test_case_never_makes_a_name_distinct(name: str) -> None:
    assert lookalike_keys(name.upper()).folded_skeleton == lookalike_keys(name.lower()).folded_skeleton


@given(PRINTABLE_ASCII, st.sampled_from(["\u3164", "\u115f", "\ufe0f", "\u034f", "\u200b", "\u2060"]),
       st.integers(min_value=0))
def test_an_invisible_character_never_makes_a_name_distinct(name: str, invisible: str, where: int) -> None:
    where %= len(name) + 1
    assert lookalike_keys(name[:where] + invisible + name[where:]) == lookalike_keys(name)


@pytest.mark.parametrize(
    "name",
    [
        "\u3164",  # HANGUL FILLER (a letter, Lo, that renders blank)
        "\u3164\u3164\u3164",
        "\u2800",  # BRAILLE PATTERN BLANK (a symbol, So)
        "\u2800 \u2800",
        "\u115f\u1160",  # the Hangul choseong and jungseong fillers
        "\uffa0",  # HALFWIDTH HANGUL FILLER
        "\U0001d159",  # MUSICAL SYMBOL NULL NOTEHEAD
        "\u0301\u0302\u0303",  # combining marks with nothing to sit on
        "\u20dd",  # an enclosing mark alone
        "\u3000",  # IDEOGRAPHIC SPACE (stripped: empty)
        "\u00a0\u2003",  # no-break and em spaces
    ],
)
def test_a_name_with_nothing_visible_is_refused(name: str) -> None:
    with pytest.raises(RuleViolation, match="needs a visible character|team name is empty"):
        rules.team_name(name)


def test_the_refusal_of_an_invisible_name_says_what_counts() -> None:
    with pytest.raises(RuleViolation) as refused:
        rules.team_name("\u3164")
    assert str(refused.value).startswith("a team name needs a visible character: a letter, digit or symbol")


@pytest.mark.parametrize(
    ("name", "named"),
    [
        ("admin\u3164", "U+3164 HANGUL FILLER"),
        ("team\u2800x", "U+2800 BRAILLE PATTERN BLANK"),
        ("a\u034fb", "U+034F COMBINING GRAPHEME JOINER"),
        ("\uffa0admin", "U+FFA0 HALFWIDTH HANGUL FILLER"),
    ],
)
def test_an_invisible_character_inside_a_name_is_refused_and_named(name: str, named: str) -> None:
    with pytest.raises(RuleViolation, match=re.escape(f"contains an invisible character ({named}); remove it")):
        rules.team_name(name)


@pytest.mark.parametrize(
    "name",
    ["Alpha", "\u00c9quipe", "\u5317\u4eac", "\u0410\u043b\u044c\u0444\u0430", "\u2764\ufe0f fans", "\U0001f525",
     "a\u0301", "x", "\ud55c\uad6d\ud300"],  # Équipe, 北京, Альфа, ❤️ fans, 🔥, á, x, 한국팀
)
def test_ordinary_names_in_any_script_pass_as_typed(name: str) -> None:
    assert rules.team_name(name) == name


def test_visibility_follows_the_unicode_data() -> None:
    assert names.is_default_ignorable("\u3164") and names.is_default_ignorable("\ufe0f")
    assert not names.is_default_ignorable("a")
    assert [names.is_visible(ch) for ch in "a \u0301\u3164\u2800\u200b1"] == [True, False, False, False, False,
                                                                          False, True]
    assert names.invisible_characters("\u2764\ufe0f") == []  # a variation selector is not refused
