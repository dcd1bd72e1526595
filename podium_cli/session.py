"""What every command shares within one invocation: the Podium URL, the credentials file, the API client and the
console — built from the group's options and handed to commands by `pass_session`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import click
from rich.console import Console

from podium_cli.client import PodiumClient
from podium_cli.credentials import CredentialStore


@dataclass
class Session:
    url: str
    config_dir: Path
    token: str | None = None
    timeout_s: float = 30.0
    console: Console = field(default_factory=lambda: Console(highlight=False, soft_wrap=False))
    _client: PodiumClient | None = None

    @property
    def store(self) -> CredentialStore:
        return CredentialStore(self.config_dir)

    @property
    def client(self) -> PodiumClient:
        if self._client is None:
            self._client = PodiumClient(self.url, self.store, token=self.token, timeout_s=self.timeout_s)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


pass_session = click.make_pass_decorator(Session)
