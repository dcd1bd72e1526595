"""The platform's interface documents, generated from the running code rather than written by hand:

- AsyncAPI 3.0 of the events, from the FastStream apps of the five back-end services: each subscriber is a
  `receive` operation (its subject, queue group or durable consumer, and the message types its handler
  takes), each event a service declares in `ServiceSpec.publishes` a `send` operation, and every message's
  payload schema comes from its `proto` Struct (msgspec's JSON Schema). FastStream's own generator needs
  pydantic models for payloads; Podium's wire types are msgspec Structs, so the walk over the apps is ours.
- OpenAPI 3.1 of the public HTTP API, from the gateway (Litestar).

`python -m deploy.specs asyncapi|openapi [--out FILE]` prints or writes one of them as JSON."""

from __future__ import annotations

import json
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from types import UnionType
from typing import TYPE_CHECKING, Any

import click
import msgspec
from faststream.asgi import AsgiFastStream
from faststream.nats.subscriber.config import NatsSubscriberSpecificationConfig

from proto.rpc import Call, Operation, ServiceError

if TYPE_CHECKING:
    from podium_runtime.service import ServiceSpec

COMPETITION_FILE = Path(__file__).with_name("competition.toml")


def service_apps() -> list[tuple[str, AsgiFastStream]]:
    """Every back-end service's app, built with default settings (building connects to nothing), each with the
    service (its NATS user) it runs as; cpu_scorer twice: the program pool's role has a durable consumer of its own."""
    from auth_service.app import AuthServiceSettings
    from auth_service.app import create_app as auth
    from cpu_scorer.app import CpuScorerSettings
    from cpu_scorer.app import create_app as cpu
    from gpu_scorer.app import GpuScorerSettings
    from gpu_scorer.app import create_app as gpu
    from leaderboard_service.app import LeaderboardServiceSettings
    from leaderboard_service.app import create_app as board
    from submission_service.app import SubmissionServiceSettings
    from submission_service.app import create_app as submissions

    return [
        ("auth_service", auth(AuthServiceSettings())),
        ("submission_service", submissions(SubmissionServiceSettings(competition_seed=COMPETITION_FILE))),
        ("cpu_scorer", cpu(CpuScorerSettings())),
        ("cpu_scorer", cpu(CpuScorerSettings(PODIUM_CPU_SCORER_ROLE="programs"))),
        ("gpu_scorer", gpu(GpuScorerSettings())),
        ("leaderboard_service", board(LeaderboardServiceSettings())),
    ]


def _structs(annotation: Any) -> list[type[msgspec.Struct]]:
    if isinstance(annotation, UnionType) or typing.get_origin(annotation) is typing.Union:
        return [t for arg in typing.get_args(annotation) for t in _structs(arg)]
    return [annotation] if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct) else []


def _message_name(message: Any) -> str:
    """A message's name: its Struct's, or for a `Call[Request]` envelope the name msgspec gives its schema."""
    origin = typing.get_origin(message)
    if origin is None:
        return message.__name__
    return f"{origin.__name__}_{'_'.join(arg.__name__ for arg in typing.get_args(message))}_"


def _handler_messages(handler: Callable[..., Any]) -> tuple[list[Any], list[type]]:
    """What a handler receives and answers: an RPC's request (in its `Call` envelope, the actor beside it) and
    reply (or error), or the event types its first parameter is annotated with."""
    operation: Operation | None = getattr(handler, "operation", None)
    if operation is not None:
        return [Call[operation.request]], [operation.reply, ServiceError]
    hints = typing.get_type_hints(handler)
    hints.pop("return", None)
    first = next(iter(hints.values()), None)
    return _structs(first), []


def _parameters(address: str) -> dict[str, dict[str, str]]:
    return {part[1:-1]: {"description": f"the {part[1:-1].replace('_', ' ')}, one subject token"}
            for part in address.split(".") if part.startswith("{")}


class _Document:
    def __init__(self) -> None:
        self.channels: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.types: set[Any] = set()

    def channel(self, address: str, messages: Iterable[Any], *, reply: bool = False) -> str:
        key = address.replace(".", "_").replace(">", "all").replace("*", "any").replace("{", "").replace("}", "")
        if reply:  # a reply goes to the requester's inbox: a channel with no fixed address
            key += "_reply"
        channel = self.channels.setdefault(key, {"address": None if reply else address, "messages": {}})
        if not reply and (params := _parameters(address)):
            channel["parameters"] = params
        for message in messages:
            self.types.add(message)
            name = _message_name(message)
            channel["messages"][name] = {"$ref": f"#/components/messages/{name}"}
        return key

    def operation(self, key: str, action: str, channel: str, messages: Iterable[Any], **extra: Any) -> None:
        self.operations[key] = {
            "action": action, "channel": {"$ref": f"#/channels/{channel}"},
            "messages": [{"$ref": f"#/channels/{channel}/messages/{_message_name(m)}"} for m in messages], **extra,
        }


def asyncapi(apps: list[tuple[str, AsgiFastStream]] | None = None) -> dict[str, Any]:
    doc = _Document()
    for service, app in apps or service_apps():
        assert app.broker is not None, f"{service}'s app has no broker"  # service_app always builds one
        for subscriber in app.broker.subscribers:
            config = subscriber.specification.config
            assert isinstance(config, NatsSubscriberSpecificationConfig), f"{service}: not a NATS subscriber"
            handler = subscriber.calls[0].handler._original_call  # noqa: SLF001 — the function we registered
            received, replies = _handler_messages(handler)
            channel = doc.channel(config.subject, received)
            operation: Operation | None = getattr(handler, "operation", None)
            summary = (f"request/reply {operation.subject}: Call[{operation.request.__name__}] → "
                       f"{operation.reply.__name__} or ServiceError") if operation else \
                (handler.__doc__ or handler.__name__).strip().splitlines()[0]
            extra: dict[str, Any] = {"summary": summary, "x-service": service}
            key = f"{service}.receive.{config.subject}"
            stream = getattr(subscriber, "stream", None)
            if stream is not None:  # a JetStream durable consumer, titled after its durable name
                extra["x-jetstream"] = {"stream": stream.name, "durable-consumer": config.title_}
                key = f"{service}.receive.{config.title_}"  # two durables may read one subject (the program pool)
            if config.queue:
                extra["x-queue-group"] = config.queue
            if replies:
                reply_channel = doc.channel(config.subject, replies, reply=True)
                extra["reply"] = {"address": {"location": "$message.header#/reply_to"},
                                  "channel": {"$ref": f"#/channels/{reply_channel}"}}
            doc.operation(key, "receive", channel, received, **extra)
        spec: ServiceSpec = app.podium_spec  # pyright: ignore[reportAttributeAccessIssue]  # set by service_app
        for event in spec.publishes:
            address = event.subject_pattern()
            channel = doc.channel(address, [event])
            stream = "JetStream" if event.persisted else "core NATS (live only, not persisted)"
            doc.operation(f"{service}.send.{address}", "send", channel, [event], **{
                "summary": (event.__doc__ or event.__name__).strip().splitlines()[0], "x-service": service,
                "description": f"Published on {stream}; tag `{event.__struct_config__.tag}`."})
    ordered = sorted(doc.types, key=_message_name)
    schemas, components = msgspec.json.schema_components(ordered, ref_template="#/components/schemas/{name}")
    messages = {_message_name(t): {"name": _message_name(t), "contentType": "application/json", "payload": schema}
                for t, schema in zip(ordered, schemas, strict=True)}
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Podium events", "version": "1",
                 "description": "Events and request/reply operations between Podium's services over NATS."},
        "defaultContentType": "application/json",
        "servers": {"nats": {"host": "nats:4222", "protocol": "nats"}},
        "channels": dict(sorted(doc.channels.items())),
        "operations": dict(sorted(doc.operations.items())),
        "components": {"messages": messages, "schemas": components},
    }


def openapi() -> dict[str, Any]:
    from gateway.app import GatewaySettings, create_app

    return create_app(GatewaySettings()).openapi_schema.to_schema()


@click.command()
@click.argument("document", type=click.Choice(["asyncapi", "openapi"]))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="write here instead of stdout")
def main(document: str, out: Path | None) -> None:
    """Print (or write) the AsyncAPI document of the events or the OpenAPI document of the HTTP API."""
    text = json.dumps(asyncapi() if document == "asyncapi" else openapi(), indent=2, sort_keys=False)
    if out is None:
        click.echo(text)
    else:
        out.write_text(text + "\n")
        click.echo(f"wrote {out}")


if __name__ == "__main__":
    main()
