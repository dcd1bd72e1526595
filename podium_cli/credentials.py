"""Where `podium login` keeps its tokens: one JSON file (mode 0600) holding a token pair per Podium URL, so one
machine can be logged in to several platforms at once."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import click

CREDENTIALS_FILE = "credentials.json"
# Refresh a little before the access token's end, so a request never leaves with a token that dies in flight.
EXPIRY_MARGIN_S = 30.0


def default_config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "podium"


@dataclass(frozen=True)
class Credentials:
    """What a login (or a refresh) returned, for one account on one Podium."""

    name: str
    access_token: str
    refresh_token: str
    expires_at: float  # Unix time the access token stops being accepted
    is_admin: bool = False

    @classmethod
    def from_tokens(cls, name: str, tokens: dict, is_admin: bool = False) -> Credentials:
        return cls(name=name, access_token=tokens["access_token"], refresh_token=tokens["refresh_token"],
                   expires_at=time.time() + float(tokens.get("expires_in", 0)), is_admin=is_admin)

    def expired(self, now: float | None = None) -> bool:
        return (now if now is not None else time.time()) >= self.expires_at - EXPIRY_MARGIN_S


def url_key(url: str) -> str:
    return url.rstrip("/")


class CredentialStore:
    """The credentials file. Written whole, through a temporary file renamed over it, never readable by others."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / CREDENTIALS_FILE

    def _read_all(self) -> dict[str, dict]:
        try:
            content = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise CredentialsUnreadable(f"cannot read {self.path}: {exc}; delete it and log in again") from None
        return content if isinstance(content, dict) else {}

    def load(self, url: str) -> Credentials | None:
        entry = self._read_all().get(url_key(url))
        if not isinstance(entry, dict):
            return None
        try:
            return Credentials(**entry)
        except TypeError:
            return None  # an entry from another version of this file: as if logged out

    def save(self, url: str, credentials: Credentials) -> None:
        everything = self._read_all()
        everything[url_key(url)] = asdict(credentials)
        self._write(everything)

    def forget(self, url: str) -> bool:
        everything = self._read_all()
        if everything.pop(url_key(url), None) is None:
            return False
        self._write(everything)
        return True

    def _write(self, everything: dict[str, dict]) -> None:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(prefix=".credentials-", dir=self.path.parent)
        except OSError as exc:
            raise CredentialsUnreadable(f"cannot write {self.path}: {exc.strerror or exc}; set PODIUM_CONFIG_DIR "
                                        "to a folder of yours") from None
        try:
            with os.fdopen(descriptor, "w") as out:  # mkstemp creates it 0600
                json.dump(everything, out, indent=2)
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise


class CredentialsUnreadable(click.ClickException):
    pass
