"""Serving request/reply operations over NATS: decode the `Call` (the request Struct and, beside it, who asks),
call the handler with the request (and the actor, for an operation asked on behalf of someone), answer with
its reply or a `ServiceError`. A refused or malformed request never kills the service; a value the database
cannot take (an id beyond 64 bits, a NUL in text) answers 422; a database that is away for a moment answers 503
with a retry delay; any other unexpected error answers 500 (and is logged) instead of leaving the caller waiting
for a timeout."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import asyncpg
import msgspec
from faststream import Context
from faststream.nats import NatsMessage, NatsRouter
from nats.aio.client import Client as NatsClient
from opentelemetry.trace import SpanKind

from podium_runtime.telemetry import producer_span
from proto.rpc import Call, Operation, Principal, Rep, Req, ServiceError

log = logging.getLogger(__name__)
_encoder = msgspec.json.Encoder()

# PostgreSQL restarting, failing over or out of connections (or the network to it down): try again shortly.
DATABASE_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
)
RETRY_AFTER_S = 2

# Called with the request, and with the actor too where the operation has one (`Operation.actor`).
Handler = Callable[..., Awaitable[Any]]
# An operation as a method of a handlers class, called with the handlers object and the handler's arguments.
Method = Callable[..., Awaitable[Any]]


class Refused(Exception):
    """A handler's refusal: becomes a `ServiceError` with this HTTP status and reason."""

    def __init__(self, status: int, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.extra = extra


def _unstorable(exc: asyncpg.DataError) -> str:
    """PostgreSQL's "data exception" class (22xxx): a value from the request that no column or query can take,
    such as an id beyond 64 bits, a NUL character in text or a negative limit. The caller's error, not ours."""
    if isinstance(exc, asyncpg.exceptions.CharacterNotInRepertoireError):
        return "text in the request contains a character that cannot be stored (a NUL, \\u0000?); remove it"
    reason = str(exc)
    if reason.startswith("invalid input for query argument"):  # asyncpg's own check, e.g. beyond int64
        reason = reason.split(": ", 1)[-1]
    return f"a value in the request is not acceptable: {reason}"


async def _answer(operation: Operation[Any, Any], decoder: msgspec.json.Decoder[Call[Any]], handler: Handler,
                  body: bytes) -> bytes:
    try:
        sent = decoder.decode(body)
    except msgspec.DecodeError as exc:
        return _encoder.encode(ServiceError(status=400, detail=f"malformed {operation.name} request: {exc}"))
    if operation.actor == "required" and sent.actor is None:
        return _encoder.encode(ServiceError(status=400, detail=f"malformed {operation.name} request: it is asked "
                                            "on behalf of a caller and names none (`actor`)"))
    try:
        reply = await (handler(sent.request) if operation.actor == "none" else handler(sent.request, sent.actor))
    except Refused as exc:
        reply = ServiceError(status=exc.status, detail=exc.detail, extra=exc.extra)
    except asyncpg.DataError as exc:
        reply = ServiceError(status=422, detail=_unstorable(exc))
    except DATABASE_UNAVAILABLE as exc:
        log.warning("database unavailable", extra={"operation": operation.name, "error": repr(exc)})
        reply = ServiceError(status=503, detail="the service's database is unavailable for a moment; try again "
                             "shortly", extra={"retry_after": RETRY_AFTER_S})
    except Exception:
        log.exception("operation failed", extra={"operation": operation.name})
        reply = ServiceError(status=500, detail=f"{operation.name} failed on the server; the error is logged")
    return _encoder.encode(reply)


def _named(serve: Callable[..., Awaitable[bytes]], operation: Operation[Any, Any]) -> Callable[..., Awaitable[bytes]]:
    serve.__name__ = f"serve_{operation.name.replace('.', '_')}"
    serve.operation = operation  # type: ignore[attr-defined]  # read by the AsyncAPI document
    return serve


def _call_decoder(operation: Operation[Req, Any]) -> msgspec.json.Decoder[Call[Req]]:
    """Decodes `Call[<the operation's request Struct>]`: the envelope, parametrised at run time."""
    envelope: Any = Call[operation.request]  # pyright: ignore[reportInvalidTypeForm]  # a type built at run time
    return msgspec.json.Decoder(envelope)


def _serve(operation: Operation[Any, Any], handler: Handler) -> Callable[[NatsMessage], Awaitable[bytes]]:
    decoder = _call_decoder(operation)

    async def serve(message: NatsMessage) -> bytes:
        return await _answer(operation, decoder, handler, message.body)

    return _named(serve, operation)


def _serve_method(operation: Operation[Any, Any], method: Method, owner: Any) -> Callable[..., Awaitable[bytes]]:
    decoder = _call_decoder(operation)

    async def serve(message: NatsMessage, handlers: Any = owner) -> bytes:
        return await _answer(operation, decoder, functools.partial(method, handlers), message.body)

    return _named(serve, operation)


_reply_decoders: dict[Operation[Any, Any], msgspec.json.Decoder[Any]] = {}


async def call(nc: NatsClient, operation: Operation[Req, Rep], request: Req, timeout_s: float,
               actor: Principal | None = None) -> Rep | ServiceError:
    """The caller's side: send `request` (and `actor`, who asks, beside it), return the operation's reply or its
    `ServiceError`.

    Raises nats-py's TimeoutError or NoRespondersError when no service answers."""
    decoder = _reply_decoders.get(operation)
    if decoder is None:
        decoder = _reply_decoders[operation] = msgspec.json.Decoder(operation.reply | ServiceError)
    with producer_span(operation.subject, kind=SpanKind.CLIENT) as headers:
        sent = _encoder.encode(Call(request=request, actor=actor))
        reply = await nc.request(operation.subject, sent, timeout=timeout_s, headers=headers)
    return decoder.decode(reply.data)


def rpc_router(queue: str, handlers: Mapping[Operation[Any, Any], Handler]) -> NatsRouter:
    """A router answering each operation's subject; replicas share the load through the queue group."""
    router = NatsRouter()
    for operation, handler in handlers.items():
        router.subscriber(operation.subject, queue=queue, title=operation.subject)(_serve(operation, handler))
    return router


def rpc_methods_router(queue: str, owner: str, methods: Mapping[Operation[Any, Any], Method]) -> NatsRouter:
    """`rpc_router` for methods of the handlers object that FastStream's context holds under `owner` (put there by
    the app's wiring, built with its dependencies): the operations are declared when the app is built, before the
    connections exist."""
    router = NatsRouter()
    handlers = Context(owner)
    for operation, method in methods.items():
        router.subscriber(operation.subject, queue=queue, title=operation.subject)(
            _serve_method(operation, method, handlers))
    return router
