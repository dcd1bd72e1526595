"""The AsyncAPI document generated from the services' FastStream apps and the OpenAPI document generated from
the gateway: they render, every subject and operation declared in `proto` appears where it should, every
reference resolves, and each consumer's subject really matches the events its handler is typed for."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from deploy.specs import asyncapi, main, openapi, service_apps
from proto import identity, leaderboard, submissions
from proto.events import EVENT_TYPES
from proto.rpc import Operation
from proto.streams import CONSUMERS
from proto.submissions import QueueMoved, SubmissionStatusChanged

ALL_EVENTS = (*EVENT_TYPES, SubmissionStatusChanged, QueueMoved)
PROTO_OPERATIONS = sorted({value for module in (identity, submissions, leaderboard) for value in vars(module).values()
                           if isinstance(value, Operation)}, key=lambda op: op.subject)


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return asyncapi(service_apps())


def resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/")]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def subject_matches(filter_subject: str, pattern: str) -> bool:
    """Whether a NATS filter (with `*` and `>`) covers every subject of a pattern whose `{field}`s are tokens."""
    filters, tokens = filter_subject.split("."), pattern.split(".")
    for index, part in enumerate(filters):
        if part == ">":
            return len(tokens) > index
        if index >= len(tokens) or (part != "*" and part != tokens[index]):
            return False
    return len(filters) == len(tokens)


def test_the_asyncapi_document_renders_as_json_and_every_reference_resolves(doc: dict[str, Any]) -> None:
    assert doc["asyncapi"] == "3.0.0"
    rendered = json.dumps(doc, indent=2)
    assert json.dumps(json.loads(rendered), indent=2) == rendered
    for ref in refs(doc):
        assert resolve(doc, ref) is not None, ref
    for operation in doc["operations"].values():
        assert operation["action"] in ("send", "receive") and operation["summary"]


@pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: e.__name__)
def test_every_event_in_proto_is_sent_by_a_service_on_its_subject(doc: dict[str, Any], event: type) -> None:
    address = event.subject_pattern()
    channels = [key for key, channel in doc["channels"].items() if channel["address"] == address]
    assert channels, f"{event.__name__} ({address}) has no channel"
    senders = [op["x-service"] for op in doc["operations"].values()
               if op["action"] == "send" and op["channel"]["$ref"] == f"#/channels/{channels[0]}"]
    assert senders, f"no service declares that it publishes {event.__name__}"
    message = doc["components"]["messages"][event.__name__]
    tag = resolve(doc, message["payload"]["$ref"])["properties"]["type"]
    assert tag == {"enum": [event.__struct_config__.tag]}
    for field in re.findall(r"{(\w+)}", address):  # each subject parameter is a field of the payload
        assert field in resolve(doc, message["payload"]["$ref"])["properties"]


@pytest.mark.parametrize("operation", PROTO_OPERATIONS, ids=lambda op: op.subject)
def test_every_request_reply_operation_is_answered_by_one_service(doc: dict[str, Any], operation: Operation) -> None:
    answering = [op for op in doc["operations"].values() if op["action"] == "receive"
                 and resolve(doc, op["channel"]["$ref"])["address"] == operation.subject]
    assert len(answering) == 1, operation.subject
    (answer,) = answering
    assert answer["x-queue-group"] == answer["x-service"]  # replicas share the load
    # The request travels in its `Call` envelope, the verified actor beside it.
    (message,) = [resolve(doc, m["$ref"]) for m in answer["messages"]]
    call = resolve(doc, resolve(doc, message["$ref"])["payload"]["$ref"])
    assert call["properties"]["request"] == {"$ref": f"#/components/schemas/{operation.request.__name__}"}
    assert call["required"] == ["request"] and "actor" in call["properties"]
    reply = resolve(doc, answer["reply"]["channel"]["$ref"])
    assert reply["address"] is None and set(reply["messages"]) == {operation.reply.__name__, "ServiceError"}


@pytest.mark.parametrize("consumer", CONSUMERS, ids=lambda c: c.durable)
def test_every_durable_consumer_receives_only_events_its_subject_can_carry(
        doc: dict[str, Any], consumer: Any) -> None:
    (operation,) = [op for op in doc["operations"].values()
                    if op.get("x-jetstream", {}).get("durable-consumer") == consumer.durable]
    assert operation["x-jetstream"]["stream"] == consumer.stream
    assert resolve(doc, operation["channel"]["$ref"])["address"] == consumer.filter_subject
    received = {m["$ref"].rsplit("/", 1)[1] for m in operation["messages"]}
    by_name = {event.__name__: event for event in ALL_EVENTS}
    arriving = {name for name, event in by_name.items() if subject_matches(consumer.filter_subject,
                                                                              event.subject_pattern())}
    assert received and arriving <= received, f"{consumer.durable} gets {arriving - received} it cannot decode"


def test_the_subject_matcher_itself() -> None:
    assert subject_matches("score.>", "score.computed.{task_id}")
    assert subject_matches("submission.received.cpu.>", "submission.received.cpu.{task_id}")
    assert not subject_matches("submission.received.cpu.>", "submission.received.{kind}.{task_id}")
    assert not subject_matches("team.>", "team")
    assert subject_matches("team.*", "team.created") and not subject_matches("team.*", "team.a.b")


def test_the_cli_writes_both_documents(tmp_path: Path) -> None:
    for name in ("asyncapi", "openapi"):
        out = tmp_path / f"{name}.json"
        result = CliRunner().invoke(main, [name, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert json.loads(out.read_text())


def test_the_openapi_document_lists_every_public_route() -> None:
    from gateway.app import GatewaySettings, create_app

    document = openapi()
    assert document["openapi"].startswith("3.1") and document["info"]["title"] == "Podium API"
    json.dumps(document)
    app = create_app(GatewaySettings())
    documented = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not handler.include_in_schema or route.path == "/ws" or route.path.startswith("/docs"):
                continue
            path = re.sub(r"{(\w+):\w+}", r"{\1}", route.path)
            for method in handler.http_methods:
                assert (path, method) in documented, (path, method)
                assert document["paths"][path][method.lower()].get("summary"), (path, method)
    # The MLS-GOAT routes its clients call are documented beside /api/v1.
    for path in ("/auth/login", "/submit/{task_id}", "/leaderboard/{task}", "/teams/me/submissions"):
        assert path in document["paths"], path
