"""Who may do what on the bus: each service's NATS user and its publish/subscribe allow lists, derived from the
contracts in proto (streams, KV buckets, request/reply prefixes), plus the nats-server `authorization` block
that declares them. Pure functions: the embedded stack, compose and Helm all render the same block.

The rules that matter:
- only the gateway publishes requests on `rpc.>` (every request carries the actor the gateway verified);
  a service answers only on the reply subject of a request it received (`allow_responses`);
- each user receives replies under an inbox prefix of its own (`_INBOX_<user>.>`), never another's;
- the `leaderboards` KV bucket (unrevealed private boards) is read only by the gateway, the leaderboard service
  and submission_service (which decodes only each task's reveal flag, to hide private scores from teams until the
  reveal): no other user may create a consumer on, get a message from, or subscribe to `KV_leaderboards`;
- a stream or bucket may be created only under its own name (no mirror, source or republish of another one under a
  new name), a bucket only by the services that use it; a stream's config is updated only by its owner (`owns`:
  never a scorer), since an update could add a source, a mirror or a republish;
- a service reads (consumes, gets messages from) only the streams of its durable consumers and those named in
  `reads_streams`: no scorer reads the Q&A, team or board events.

The `admin` user (tests, bench, operators' tools) has every permission; services never run as it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from proto.identity import AUTH_PREFIX
from proto.leaderboard import LEADERBOARD_PREFIX
from proto.streams import (
    BOARD,
    CANCELLATIONS,
    COMPETITION,
    COMPETITION_KV,
    CONSUMERS,
    GATEWAY_SETTINGS,
    LEADERBOARDS,
    QA,
    RATE_LIMITS,
    REVOKED_TOKEN_FAMILIES,
    SCORES,
    STREAMS,
    SUBMISSIONS,
    TEAMS,
    TOKEN_VERSIONS,
    ConsumerSpec,
    KVSpec,
    StreamSpec,
)
from proto.subjects import health
from proto.submissions import SUBMISSIONS_PREFIX

ADMIN_USER = "admin"
SERVICES = ("gateway", "auth_service", "submission_service", "cpu_scorer", "gpu_scorer", "leaderboard_service")


@dataclass(frozen=True)
class Uses:
    """What one service does on the bus, in the contracts' terms."""

    # Requests it sends (the gateway only) and the request/reply prefixes it answers.
    calls: tuple[str, ...] = ()
    serves: tuple[str, ...] = ()
    # Streams whose subjects it publishes events to (outbox, scorer outcomes).
    publishes_to: tuple[StreamSpec, ...] = ()
    # Core (not persisted) subjects it publishes and subscribes to.
    publishes: tuple[str, ...] = ()
    subscribes: tuple[str, ...] = ()
    # Streams whose config it keeps up to date (the only user that may update them: an update could add a source,
    # a mirror or a republish of another stream, the leaderboards bucket's included). Any service may create a
    # missing platform stream with proto's config.
    owns: tuple[StreamSpec, ...] = ()
    # Streams it reads besides those of its durable consumers (proto's CONSUMERS, named after their service).
    reads_streams: tuple[StreamSpec, ...] = ()
    # KV buckets it writes, and those it only reads (watches).
    writes: tuple[KVSpec, ...] = ()
    reads: tuple[KVSpec, ...] = ()


USES: dict[str, Uses] = {
    "gateway": Uses(
        calls=("rpc.>", "podium.health.*"),
        subscribes=("live.>", "job.progress.>", "job.log.>", "qa.question.>", "leaderboard.updated.>"),
        writes=(RATE_LIMITS, GATEWAY_SETTINGS),
        reads=(TOKEN_VERSIONS, REVOKED_TOKEN_FAMILIES, LEADERBOARDS, COMPETITION_KV),
    ),
    "auth_service": Uses(
        serves=(AUTH_PREFIX,), publishes_to=(TEAMS, QA), owns=(TEAMS, QA),
        writes=(TOKEN_VERSIONS, REVOKED_TOKEN_FAMILIES),
    ),
    "submission_service": Uses(
        serves=(SUBMISSIONS_PREFIX,), publishes_to=(SUBMISSIONS, SCORES, COMPETITION), publishes=("live.>",),
        owns=(SUBMISSIONS, SCORES, COMPETITION),
        # The scorers' consumers (queue positions) and a submission named by a max-deliveries advisory.
        reads_streams=(SUBMISSIONS,),
        subscribes=("job.progress.>", "job.log.>", f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{SUBMISSIONS.name}.*"),
        # The boards' reveal flags: a team sees no private value of a task before its reveal.
        # The competition: it owns the definition and writes each version into the bucket every service follows.
        writes=(CANCELLATIONS, COMPETITION_KV), reads=(LEADERBOARDS,),
    ),
    "cpu_scorer": Uses(publishes_to=(SCORES,), publishes=("job.progress.>", "job.log.>"),
                       reads=(CANCELLATIONS, COMPETITION_KV)),
    "gpu_scorer": Uses(publishes_to=(SCORES,), publishes=("job.progress.>", "job.log.>"),
                       reads=(CANCELLATIONS, COMPETITION_KV)),
    "leaderboard_service": Uses(
        serves=(LEADERBOARD_PREFIX,), publishes_to=(BOARD,), owns=(BOARD,), publishes=("leaderboard.updated.>",),
        writes=(LEADERBOARDS,), reads=(COMPETITION_KV,),
    ),
}


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    allow_responses: bool


def inbox_prefix(user: str) -> str:
    """Where a service's replies come (its requests', JetStream API calls', KV watches' and pull consumers'
    deliveries): a prefix of its own, so no other user may subscribe to them (under the shared `_INBOX.>` any user
    would see every reply, the gateway's board watch included). Each service's user is named after it."""
    return f"_INBOX_{user}"


def consumer_owner(spec: ConsumerSpec) -> str:
    """The service a durable consumer belongs to: proto names each after its service."""
    owners = [s for s in SERVICES if spec.durable == s or spec.durable.startswith(f"{s}_")]
    if len(owners) != 1:
        raise ValueError(f"durable consumer {spec.durable!r} is not named after one service")
    return owners[0]


def buckets(service: str) -> tuple[KVSpec, ...]:
    """The KV buckets a service declares at its start: those it writes or reads, and no other."""
    uses = USES[service]
    return (*uses.writes, *uses.reads)


def streams_read(service: str) -> tuple[StreamSpec, ...]:
    """The streams a service reads: those of its durable consumers, and any it reads besides."""
    consumed = {c.stream for c in CONSUMERS if consumer_owner(c) == service}
    return tuple(s for s in STREAMS if s.name in consumed or s in USES[service].reads_streams)


def streams_owned(service: str) -> frozenset[str]:
    """The names of the streams a service may update (its `owns`)."""
    return frozenset(spec.name for spec in USES[service].owns)


def _declare_api(name: str, *, update: bool = True) -> list[str]:
    """Declaring stream `name` (creating it, and with `update` bringing its config up to date), never another name."""
    return [f"$JS.API.STREAM.CREATE.{name}", *([f"$JS.API.STREAM.UPDATE.{name}"] if update else [])]


def _read_api(name: str) -> list[str]:
    """The JetStream API subjects to read and consume stream `name`."""
    return [
        f"$JS.API.STREAM.MSG.GET.{name}", f"$JS.API.DIRECT.GET.{name}", f"$JS.API.DIRECT.GET.{name}.>",
        # CONSUMER.{CREATE,INFO,DELETE,NAMES,LIST}.<stream>[...] and CONSUMER.{DURABLE.CREATE,MSG.NEXT}.<stream>...
        f"$JS.API.CONSUMER.*.{name}", f"$JS.API.CONSUMER.*.{name}.>", f"$JS.API.CONSUMER.*.*.{name}.>",
        f"$JS.ACK.{name}.>", f"$JS.FC.{name}.>",
    ]


def permissions(service: str) -> Permissions:
    """The service's allow lists (everything else is refused by the server)."""
    uses = USES[service]
    publish = ["$JS.API.INFO", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST", "$JS.API.STREAM.INFO.*"]
    for spec in STREAMS:  # every service creates a missing stream at its start (and after a wiped store)
        publish += _declare_api(spec.name, update=spec in uses.owns)
    for spec in streams_read(service):
        publish += _read_api(spec.name)
    for spec in buckets(service):
        publish += [*_declare_api(f"KV_{spec.name}", update=False), *_read_api(f"KV_{spec.name}")]
    for spec in uses.writes:
        publish += [f"$KV.{spec.name}.>", f"$JS.API.STREAM.PURGE.KV_{spec.name}"]
    for spec in uses.publishes_to:
        publish += list(spec.subjects)
    publish += [*uses.calls, *uses.publishes]
    subscribe = [f"{inbox_prefix(user_name(service))}.>", health(service),
                 *(f"{prefix}.>" for prefix in uses.serves), *uses.subscribes]
    # Every service answers its health probe, so every one may reply to the requests it receives.
    return Permissions(tuple(dict.fromkeys(publish)), tuple(dict.fromkeys(subscribe)), allow_responses=True)


def user_name(service: str) -> str:
    return service


def password_variable(service: str) -> str:
    """The variable holding a service's NATS password in compose and Helm: PODIUM_NATS_<SERVICE>_PASSWORD."""
    return f"PODIUM_NATS_{service.upper()}_PASSWORD"


ADMIN_PASSWORD_VARIABLE = "PODIUM_NATS_ADMIN_PASSWORD"


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(_quoted(v) for v in values) + "]"


def authorization_block(passwords: Mapping[str, str], *, from_environment: bool = False) -> str:
    """nats-server's `authorization { users = [...] }` for the admin and every service.

    `passwords` maps each user (ADMIN_USER and every service) to its password; with `from_environment`, the values
    are ignored and each password is a reference to the environment variable named by `password_variable` (nats-server
    expands an unquoted `$NAME` from its environment), for a config file kept in the repository (compose, Helm)."""

    def password(user: str, variable: str) -> str:
        return f"${variable}" if from_environment else _quoted(passwords[user])

    lines = ["authorization {", "  users = [",
             f"    {{user: {_quoted(ADMIN_USER)}, password: {password(ADMIN_USER, ADMIN_PASSWORD_VARIABLE)}}}"]
    for service in SERVICES:
        rules = permissions(service)
        lines += [
            f"    {{user: {_quoted(user_name(service))}, password: {password(service, password_variable(service))},",
            "     permissions: {",
            f"       publish: {{allow: {_list(rules.publish)}}},",
            f"       subscribe: {{allow: {_list(rules.subscribe)}}},",
            f"       allow_responses: {'true' if rules.allow_responses else 'false'}",
            "     }}",
        ]
    lines += ["  ]", "}", ""]
    return "\n".join(lines)

