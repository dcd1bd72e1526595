"""Access tokens issued by the auth service verify at the gateway, and every forged, stale or revoked one is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from auth_service.tokens import SigningKey, TokenPolicy, issue_access_token
from gateway.tokens import InvalidToken, TokenVerifier
from proto.rpc import Principal

POLICY = TokenPolicy(
    issuer="podium-auth", audience="podium", access_ttl=timedelta(minutes=15), refresh_ttl=timedelta(days=7)
)
KEY = SigningKey.generate()
ACCOUNT = "42"
FAMILY = "0b7a3c1e-5d0f-4f3e-9a51-2f6d8e4c7b10"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def segment(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def verifier(versions: dict[str, int] | None = None) -> TokenVerifier:
    found = TokenVerifier(issuer=POLICY.issuer, audience=POLICY.audience, keys={}, versions=versions or {ACCOUNT: 3})
    found.set_jwks({"keys": [KEY.public_jwk()]})
    return found


def issue(key: SigningKey = KEY, now: datetime | None = None, family: str = FAMILY) -> str:
    return issue_access_token(
        key, POLICY, account_id=ACCOUNT, name="Alpha", role="team", version=3, family=family,
        now=now or datetime.now(UTC),
    )


def claims(**changes: Any) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    found = {
        "iss": POLICY.issuer,
        "aud": POLICY.audience,
        "sub": ACCOUNT,
        "name": "Alpha",
        "role": "team",
        "ver": 3,
        "iat": now,
        "exp": now + 900,
    }
    found.update(changes)
    return {name: value for name, value in found.items() if value is not None}


def signed(payload: dict[str, Any], key: SigningKey = KEY) -> str:
    return jwt.encode(payload, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})


def hs256_by_hand(secret: bytes) -> str:
    signing_input = f"{segment({'alg': 'HS256', 'typ': 'JWT', 'kid': KEY.kid})}.{segment(claims())}"
    return f"{signing_input}.{b64url(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def test_an_issued_token_verifies_to_its_principal() -> None:
    assert verifier().verify(issue()) == Principal(account_id=ACCOUNT, name="Alpha", role="team")


def test_a_token_built_from_the_same_claims_by_hand_verifies() -> None:
    assert verifier().verify(signed(claims())).account_id == ACCOUNT


def test_an_unsigned_alg_none_token_is_refused() -> None:
    token = f"{segment({'alg': 'none', 'typ': 'JWT', 'kid': KEY.kid})}.{segment(claims())}."
    with pytest.raises(InvalidToken, match="'none' is not accepted"):
        verifier().verify(token)


def test_hs256_keyed_with_the_raw_public_key_is_refused() -> None:
    raw = KEY.private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    with pytest.raises(InvalidToken, match="'HS256' is not accepted"):
        verifier().verify(hs256_by_hand(raw))


def test_hs256_keyed_with_the_public_key_pem_is_refused() -> None:
    pem = KEY.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(InvalidToken, match="'HS256' is not accepted"):
        verifier().verify(hs256_by_hand(pem))


def test_an_expired_token_is_refused() -> None:
    with pytest.raises(InvalidToken, match="token expired"):
        verifier().verify(issue(now=datetime.now(UTC) - POLICY.access_ttl - timedelta(seconds=5)))


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "someone-else"},
        {"iss": "impostor"},
        {"exp": None},
        {"ver": None},
        {"iat": None},
        {"sub": None},
        {"role": None},
    ],
    ids=["wrong audience", "wrong issuer", "no exp", "no ver", "no iat", "no sub", "no role"],
)
def test_a_token_with_wrong_or_missing_claims_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidToken, match="invalid token"):
        verifier().verify(signed(claims(**changes)))


def test_a_token_signed_by_another_key_with_the_same_kid_is_refused() -> None:
    impostor = SigningKey(kid=KEY.kid, private_key=SigningKey.generate().private_key)
    with pytest.raises(InvalidToken, match="invalid token"):
        verifier().verify(issue(key=impostor))


def test_a_token_signed_with_an_unknown_kid_is_refused() -> None:
    with pytest.raises(InvalidToken, match="unknown key"):
        verifier().verify(issue(key=SigningKey.generate()))


def test_a_tampered_payload_is_refused() -> None:
    header, _, signature = issue().split(".")
    with pytest.raises(InvalidToken, match="invalid token"):
        verifier().verify(f"{header}.{segment(claims(role='admin'))}.{signature}")


@pytest.mark.parametrize("token", ["", "not-a-token", "a.b.c"])
def test_a_malformed_token_is_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        verifier().verify(token)


def test_a_token_of_an_older_version_is_revoked() -> None:
    with pytest.raises(InvalidToken, match="revoked"):
        verifier({ACCOUNT: 4}).verify(issue())


def test_a_token_of_a_deleted_account_is_revoked() -> None:
    with pytest.raises(InvalidToken, match="revoked"):
        verifier({"7": 3}).verify(issue())


def test_a_token_of_a_revoked_login_is_revoked_and_the_others_of_its_account_are_not() -> None:
    found = verifier()
    found.revoked_families.add(FAMILY)
    with pytest.raises(InvalidToken, match="a refresh token of its login was used twice"):
        found.verify(issue())
    other_login = issue(family="5e0c2a4b-8f1d-4c6a-b3e2-7d9f0a1b2c3d")
    assert found.verify(other_login).account_id == ACCOUNT


def test_a_token_from_before_families_carries_none_and_still_verifies() -> None:
    found = verifier()
    found.revoked_families.update({FAMILY, "None", ""})
    assert found.verify(signed(claims())).account_id == ACCOUNT
