"""The NATS KV store's key encoding: distinct store keys stay distinct and are always valid KV keys."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from nats.js.kv import _is_key_valid

from gateway.kv_store import NatsKVStore, _token
from tests.unit.fakes import Untouchable

KV_KEY_CHARACTERS = re.compile(r"[-/_=.a-zA-Z0-9]*")


@given(st.text())
def test_a_token_uses_only_kv_key_characters(text: str) -> None:
    assert KV_KEY_CHARACTERS.fullmatch(_token(text))


@given(st.text(), st.text())
def test_distinct_keys_give_distinct_tokens(first: str, second: str) -> None:
    assert (_token(first) == _token(second)) == (first == second)


def test_keys_differing_only_in_case_or_separators_stay_distinct() -> None:
    keys = ["rate:Alpha", "rate:alpha", "rate.alpha", "rate/alpha", "rate:alpha ", "rate:alpha\x00"]
    assert len({_token(key) for key in keys}) == len(keys)


@given(st.text(max_size=20), st.text())
def test_every_store_key_is_a_valid_kv_key(namespace: str, key: str) -> None:
    # The empty key is a valid Litestar store key; the store must not turn it into "PREFIX." (refused by KV).
    assert _is_key_valid(NatsKVStore(Untouchable("kv"), namespace)._key(key))  # type: ignore[arg-type]
