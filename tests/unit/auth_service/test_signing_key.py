"""Signing keys: a PEM round-trip keeps the key id, and a key that is not Ed25519 is refused."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from auth_service.tokens import SigningKey


def test_a_key_read_back_from_its_pem_keeps_its_kid() -> None:
    key = SigningKey.generate()
    again = SigningKey.from_pem(key.private_pem())
    assert again.kid == key.kid
    assert again.public_jwk() == key.public_jwk()


def test_two_generated_keys_have_different_kids() -> None:
    assert SigningKey.generate().kid != SigningKey.generate().kid


def test_a_non_ed25519_pem_is_refused() -> None:
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="Ed25519"):
        SigningKey.from_pem(pem.decode())
