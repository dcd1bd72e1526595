"""Request/reply between the gateway and the services: every reply is the operation's result or a
`ServiceError` the gateway turns into an RFC 9457 problem response."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec

# Where the gateway's request for an operation goes; the services answer in queue groups named after
# themselves, so replicas share the load.
AUTH_PREFIX = "rpc.auth"

# An operation's request and reply Structs: `Operation[Req, Rep]` lets a checker know what a call answers.
Req = TypeVar("Req", bound=msgspec.Struct)
Rep = TypeVar("Rep", bound=msgspec.Struct)


@dataclass(frozen=True)
class Operation(Generic[Req, Rep]):
    """One request/reply operation: where it is sent, what it takes, what it answers (or ServiceError)."""

    prefix: str
    name: str
    request: type[Req]
    reply: type[Rep]

    @property
    def subject(self) -> str:
        return f"{self.prefix}.{self.name}"


class ServiceError(msgspec.Struct, frozen=True, kw_only=True, tag="error"):
    """A refusal the caller should see: `status` is the HTTP status, `detail` a reason a person can act on."""

    status: int
    detail: str
    extra: dict[str, Any] = {}


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who is asking, as verified by the gateway from the access token."""

    account_id: str
    name: str
    role: str  # "team" or "admin"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
