"""Calling the back-end services over NATS request/reply: encode the request Struct, decode the
operation's reply or its `ServiceError`, and turn refusals and outages into problem responses."""

from __future__ import annotations

import logging

from faststream.nats import NatsBroker
from nats.errors import MaxPayloadError, NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from gateway.problems import Problem
from podium_runtime.rpc import call
from proto.rpc import Operation, Principal, Rep, Req, ServiceError

log = logging.getLogger(__name__)


class ServiceClient:
    def __init__(self, broker: NatsBroker, timeout_s: float) -> None:
        self.broker = broker
        self.timeout_s = timeout_s

    async def call(self, operation: Operation[Req, Rep], request: Req, *, actor: Principal | None = None,
                   timeout_s: float | None = None) -> Rep:
        try:
            result = await call(self.broker.connection, operation, request, timeout_s or self.timeout_s, actor)
        except MaxPayloadError:
            raise Problem(413, "the request is too large to forward; send less at once") from None
        except (TimeoutError, NatsTimeoutError, NoRespondersError) as exc:
            log.warning("service did not answer", extra={"operation": operation.subject, "error": repr(exc)})
            raise Problem(
                503, f"{operation.prefix.split('.')[-1]} service is unavailable; try again shortly",
                headers={"Retry-After": "2"},
            ) from None
        if isinstance(result, ServiceError):
            extra = dict(result.extra)
            retry_after = extra.pop("retry_after", None)
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
            raise Problem(result.status, result.detail, headers=headers, extra=extra or None)
        return result
