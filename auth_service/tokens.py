"""Signing keys and access tokens: EdDSA (Ed25519) JWTs with issuer, audience, expiry, role, the account's token
version (bumping it revokes every token issued before) and the login's refresh-token family (`fam`: revoking the
family, when one of its refresh tokens is used twice, revokes its access tokens too)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ALGORITHM = "EdDSA"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        return cls.from_private_key(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: str) -> SigningKey:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the JWT signing key must be an Ed25519 private key (PEM, PKCS#8)")
        return cls.from_private_key(key)

    @classmethod
    def from_private_key(cls, key: Ed25519PrivateKey) -> SigningKey:
        # The key id is the public key's thumbprint: stable across restarts and replicas.
        kid = _b64url(hashlib.sha256(cls._public_raw(key)).digest()[:16])
        return cls(kid=kid, private_key=key)

    @staticmethod
    def _public_raw(key: Ed25519PrivateKey) -> bytes:
        return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def private_pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    def public_jwk(self) -> dict[str, str]:
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": _b64url(self._public_raw(self.private_key)),
            "kid": self.kid,
            "alg": ALGORITHM,
            "use": "sig",
        }


@dataclass(frozen=True)
class TokenPolicy:
    issuer: str
    audience: str
    access_ttl: timedelta
    refresh_ttl: timedelta


def issue_access_token(
    key: SigningKey, policy: TokenPolicy, *, account_id: str, name: str, role: str, version: int, family: str,
    now: datetime,
) -> str:
    claims = {
        "iss": policy.issuer,
        "aud": policy.audience,
        "sub": account_id,
        "name": name,
        "role": role,
        "ver": version,
        "fam": family,
        "iat": int(now.timestamp()),
        "exp": int((now + policy.access_ttl).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})


def new_refresh_token() -> tuple[str, str]:
    """An opaque refresh token and the digest stored in place of it (a leaked table grants nothing)."""
    token = secrets.token_urlsafe(32)
    return token, refresh_digest(token)


def refresh_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def now_utc() -> datetime:
    return datetime.now(UTC)
