"""Request/reply between the gateway and the services: every reply is the operation's result or a
`ServiceError` the gateway turns into an RFC 9457 problem response."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import msgspec

# Where the gateway's request for an operation goes; the services answer in queue groups named after
# themselves, so replicas share the load.
AUTH_PREFIX = "rpc.auth"

# An operation's request and reply Structs: `Operation[Req, Rep]` lets a checker know what a call answers.
Req = TypeVar("Req", bound=msgspec.Struct)
Rep = TypeVar("Rep", bound=msgspec.Struct)
# Whether an operation is asked on behalf of a verified caller: never, always, or when there is one (a public read
# that shows more to some).
ActorNeed = Literal["none", "required", "optional"]


@dataclass(frozen=True)
class Operation(Generic[Req, Rep]):
    """One request/reply operation: where it is sent, what it takes, what it answers (or ServiceError), and whether
    it is asked on behalf of a caller (the `Call`'s actor: "required" for a signed-in one, "optional" where an
    anonymous caller may ask too, "none" where no one is named)."""

    prefix: str
    name: str
    request: type[Req]
    reply: type[Rep]
    actor: ActorNeed = "none"

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


class Call(msgspec.Struct, Generic[Req], frozen=True, kw_only=True):
    """What goes on the wire for every operation: the request (for a route with a body, that body's Struct itself)
    and, beside it, who asks as the gateway verified it (`None` for an anonymous caller)."""

    request: Req
    actor: Principal | None = None
