"""Local verification of access tokens: the signature against the auth service's public keys (JWKS), the
algorithm pinned to EdDSA, issuer, audience and expiry required, and the token's version compared with
the account's current one (watched from a KV bucket), so a password change or a deletion revokes at once; and the
token's login (its refresh-token family, claim `fam`) checked against the revoked ones (watched from another)."""

from __future__ import annotations

from dataclasses import dataclass, field

import jwt

from proto.rpc import Principal

ALGORITHMS = ["EdDSA"]  # pinned: `none`, HS256-with-the-public-key and every other algorithm are refused
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "role", "ver"]


class InvalidToken(Exception):
    """The token must not be honoured; the message says why (for logs and the 401's detail)."""


@dataclass
class TokenVerifier:
    issuer: str
    audience: str
    keys: dict[str, jwt.PyJWK]
    # account id -> current token version; an account missing here has been deleted or disabled.
    versions: dict[str, int]
    # Logins (refresh-token families) revoked because one of their refresh tokens was used twice.
    revoked_families: set[str] = field(default_factory=set)

    def set_jwks(self, jwks: dict[str, object]) -> None:
        self.keys = {key.key_id: key for key in jwt.PyJWKSet.from_dict(jwks).keys if key.key_id}

    def key_for(self, token: str) -> jwt.PyJWK:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(f"malformed token: {exc}") from exc
        if header.get("alg") not in ALGORITHMS:
            raise InvalidToken(f"algorithm {header.get('alg')!r} is not accepted")
        key = self.keys.get(str(header.get("kid")))
        if key is None:
            raise InvalidToken("token signed with an unknown key")
        return key

    def verify(self, token: str) -> Principal:
        key = self.key_for(token)
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("token expired") from exc
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(f"invalid token: {exc}") from exc
        account_id = str(claims["sub"])
        if self.versions.get(account_id) != claims["ver"]:
            raise InvalidToken("token revoked (password changed, account disabled or deleted)")
        # Tokens from before families existed carry none: the version check above still revokes them.
        family = claims.get("fam")
        if family is not None and str(family) in self.revoked_families:
            raise InvalidToken("token revoked (a refresh token of its login was used twice; log in again)")
        return Principal(account_id=account_id, name=str(claims.get("name", "")), role=str(claims["role"]))
