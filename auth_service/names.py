"""Team and account names as people see them, as pure functions: whether a name shows anything at all, and the
keys under which two names that look the same collide (Unicode TR39 confusable skeletons, computed by ICU).

A name is kept as it was typed; the keys are only compared. Both keys first apply NFKC (fullwidth `ａ`, math bold `𝐚`
and circled `ⓐ` become `a`, every kind of space becomes a space), drop Default_Ignorable code points (TR39 15.1
removes them from a skeleton too: ICU 72 still keeps them) and collapse runs of spaces (a web page shows `a  b` as
`a b`). Names are unique regardless of case, and TR39's skeleton is case-sensitive, so one key alone cannot say
both "looks the same" and "is the same name in another case" (`I` looks like `l`, but `i` does not):

- `skeleton`: skeleton(casefold(skeleton(name))) — the look first, then the case: Cyrillic `НЕLLO` matches `hello`.
- `folded_skeleton`: skeleton(casefold(name)) — the case first, then the look: fullwidth `ＡＤＭＩＮ` and
  `АDMIN` (Cyrillic `А`) match `admin`.

A new name whose key equals an existing name's same key is refused (each key has a unique index)."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import NamedTuple, Protocol

import icu


# PyICU's classes live in its compiled extension (`icu._icu_`), which ships no type stubs: the checker cannot see
# them. The few used here are looked up once below, typed as they are used (each ignore is for that lookup alone).
class _SpoofChecker(Protocol):
    def getSkeleton(self, skeleton_type: int, text: str, /) -> str: ...


class _Normalizer(Protocol):
    def normalize(self, text: str, /) -> str: ...


# ICU computes the skeleton and NFKC from the data of the ICU it runs on (one Unicode version for both); built once
# and reused (neither changes after construction).
_SPOOF_CHECKER: _SpoofChecker = icu.SpoofChecker()  # pyright: ignore[reportAttributeAccessIssue]  # PyICU, no stubs
_NFKC: _Normalizer = icu.Normalizer2.getNFKCInstance()  # pyright: ignore[reportAttributeAccessIssue]  # no stubs
_has_binary_property: Callable[[str, int], object] = (
    icu.Char.hasBinaryProperty  # pyright: ignore[reportAttributeAccessIssue]  # PyICU, no stubs
)
_DEFAULT_IGNORABLE_CODE_POINT: int = (
    icu.UProperty.DEFAULT_IGNORABLE_CODE_POINT  # pyright: ignore[reportAttributeAccessIssue]  # PyICU, no stubs
)
_VARIATION_SELECTOR: int = icu.UProperty.VARIATION_SELECTOR  # pyright: ignore[reportAttributeAccessIssue]  # no stubs
_SKELETON_TYPE = 0  # ignored since ICU 58 (one table for every script and case)

# Characters that render as nothing or as a blank although Unicode gives them neither a space, mark nor format
# category nor the Default_Ignorable property. (The Hangul fillers U+115F, U+1160, U+3164 and U+FFA0 are letters
# (Lo) but Default_Ignorable: the property catches them.)
BLANK_LOOKING = frozenset({
    "\u2800",  # BRAILLE PATTERN BLANK (So): a braille cell with no dots
    "\U0001d159",  # MUSICAL SYMBOL NULL NOTEHEAD (So)
})


class LookalikeKeys(NamedTuple):
    skeleton: str
    folded_skeleton: str


def _has(ch: str, prop: int) -> bool:
    return bool(_has_binary_property(ch, prop))


def is_default_ignorable(ch: str) -> bool:
    return _has(ch, _DEFAULT_IGNORABLE_CODE_POINT)


def is_visible(ch: str) -> bool:
    """Whether `ch` puts something on the screen by itself: not a space, separator, control, format character,
    combining mark (it needs a base), Default_Ignorable code point nor a known blank."""
    return (
        unicodedata.category(ch)[0] not in "CZM" and not is_default_ignorable(ch) and ch not in BLANK_LOOKING
    )


def has_visible_character(name: str) -> bool:
    return any(is_visible(ch) for ch in name)


def invisible_characters(name: str) -> list[str]:
    """The characters of `name` that show nothing yet are no space: Default_Ignorable code points (the Hangul
    fillers, the combining grapheme joiner…) and known blanks. Variation selectors are not counted: they choose how
    the character before them is drawn (`❤️` is U+2764 U+FE0F)."""
    return [
        ch for ch in name
        if (is_default_ignorable(ch) and not _has(ch, _VARIATION_SELECTOR)) or ch in BLANK_LOOKING
    ]


def describe(ch: str) -> str:
    return f"U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed')}"


def _skeleton(text: str) -> str:
    return _SPOOF_CHECKER.getSkeleton(_SKELETON_TYPE, text)


def _comparable(name: str) -> str:
    text = _NFKC.normalize(name)
    text = "".join(ch for ch in text if not is_default_ignorable(ch))
    return " ".join(text.split())


def lookalike_keys(name: str) -> LookalikeKeys:
    text = _comparable(name)
    return LookalikeKeys(
        skeleton=_skeleton(_skeleton(text).casefold()),
        folded_skeleton=_skeleton(text.casefold()),
    )
