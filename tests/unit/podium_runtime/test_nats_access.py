"""Each service's NATS permissions, derived from proto: only the gateway sends requests, only the gateway and the
leaderboard service (and submission_service, for the reveal flags) reach the leaderboards bucket, no stream or bucket
may be declared under another name, and the rendered authorization block is a config nats-server accepts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from deploy.stack import venv_binary
from podium_runtime import nats_access
from proto import identity, leaderboard, submissions
from proto.rpc import Operation
from proto.streams import COMPETITION_KV, KV_BUCKETS, LEADERBOARDS, STREAMS


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` one token, `>` one or more at the end."""
    want, have = pattern.split("."), subject.split(".")
    for index, token in enumerate(want):
        if token == ">":
            return len(have) > index
        if index >= len(have) or (token != "*" and token != have[index]):
            return False
    return len(want) == len(have)


def may_publish(service: str, subject: str) -> bool:
    return any(matches(p, subject) for p in nats_access.permissions(service).publish)


def may_subscribe(service: str, subject: str) -> bool:
    return any(matches(p, subject) for p in nats_access.permissions(service).subscribe)


OPERATIONS = [identity.LIST_TEAMS, identity.CREATE_TEAM, leaderboard.RESCORE_STATUS, submissions.START_RESCORE]
BOARD_READS = [
    f"$JS.API.DIRECT.GET.KV_{LEADERBOARDS.name}", f"$JS.API.DIRECT.GET.KV_{LEADERBOARDS.name}.$KV.leaderboards.t",
    f"$JS.API.STREAM.MSG.GET.KV_{LEADERBOARDS.name}", f"$JS.API.CONSUMER.CREATE.KV_{LEADERBOARDS.name}",
    f"$JS.API.CONSUMER.CREATE.KV_{LEADERBOARDS.name}.c.$KV.leaderboards.>",
    f"$JS.API.CONSUMER.DURABLE.CREATE.KV_{LEADERBOARDS.name}.c", f"$JS.API.STREAM.UPDATE.KV_{LEADERBOARDS.name}",
    f"$JS.API.STREAM.CREATE.KV_{LEADERBOARDS.name}", f"$JS.API.STREAM.PURGE.KV_{LEADERBOARDS.name}",
    f"$KV.{LEADERBOARDS.name}.task",
]


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.subject)
def test_only_the_gateway_sends_requests(operation: Operation) -> None:
    senders = [s for s in nats_access.SERVICES if may_publish(s, operation.subject)]
    assert senders == ["gateway"]


def test_each_service_answers_its_own_operations_only() -> None:
    assert may_subscribe("auth_service", identity.LIST_TEAMS.subject)
    assert may_subscribe("submission_service", submissions.START_RESCORE.subject)
    assert may_subscribe("leaderboard_service", leaderboard.RESCORE_STATUS.subject)
    assert not may_subscribe("cpu_scorer", identity.LIST_TEAMS.subject)
    assert not may_subscribe("leaderboard_service", identity.LIST_TEAMS.subject)
    assert all(nats_access.permissions(s).allow_responses for s in nats_access.SERVICES)
    assert all(may_subscribe(s, f"podium.health.{s}") for s in nats_access.SERVICES)


def test_only_the_gateway_the_leaderboard_and_submission_services_reach_the_leaderboards_bucket() -> None:
    for subject in BOARD_READS:
        allowed = {s for s in nats_access.SERVICES if may_publish(s, subject)}
        assert allowed <= {"gateway", "leaderboard_service", "submission_service"}, subject
    assert may_publish("leaderboard_service", f"$KV.{LEADERBOARDS.name}.task")
    assert not may_publish("gateway", f"$KV.{LEADERBOARDS.name}.task")
    assert may_publish("gateway", f"$JS.API.DIRECT.GET.KV_{LEADERBOARDS.name}.$KV.leaderboards.task")
    assert not any(may_subscribe(s, f"$KV.{LEADERBOARDS.name}.task") for s in nats_access.SERVICES)


def test_no_stream_may_be_created_under_another_name() -> None:
    """A mirror or a source of KV_leaderboards under a new name would be a copy anyone reads."""
    for service in nats_access.SERVICES:
        assert not may_publish(service, "$JS.API.STREAM.CREATE.COPY")
        assert not may_publish(service, "$JS.API.STREAM.UPDATE.COPY")
        for spec in STREAMS:
            assert may_publish(service, f"$JS.API.STREAM.CREATE.{spec.name}")
        for spec in nats_access.buckets(service):
            assert may_publish(service, f"$JS.API.STREAM.CREATE.KV_{spec.name}")


def test_every_bucket_has_a_writer_and_every_service_reaches_its_own() -> None:
    writers = {spec.name for s in nats_access.SERVICES for spec in nats_access.USES[s].writes}
    assert writers == {spec.name for spec in KV_BUCKETS}
    assert [spec.name for spec in nats_access.buckets("cpu_scorer")] == ["cancellations", "competition"]
    # The competition: submission_service alone writes it, every service follows it.
    assert [s for s in nats_access.SERVICES if COMPETITION_KV in nats_access.USES[s].writes] == ["submission_service"]
    assert all(COMPETITION_KV in nats_access.buckets(s) for s in nats_access.SERVICES if s != "auth_service")


def test_the_events_each_service_publishes_fall_in_its_allow_list() -> None:
    expected = {
        "auth_service": ["team.created", "qa.question.changed"],
        "submission_service": ["submission.received.cpu.t", "submission.rescore.requested", "score.cancelled.t",
                               "live.submission.1.2", "competition.changed"],
        "cpu_scorer": ["score.computed.t", "score.failed.t", "job.progress.1", "job.log.1"],
        "gpu_scorer": ["score.computed.t", "job.progress.1"],
        "leaderboard_service": ["board.team.standing", "leaderboard.updated.t"],
    }
    for service, subjects in expected.items():
        for subject in subjects:
            assert may_publish(service, subject), (service, subject)
    assert not may_publish("cpu_scorer", "team.created")
    assert not may_publish("cpu_scorer", "submission.received.cpu.t")
    assert not may_publish("gateway", "score.computed.t")


def test_the_rendered_block_is_a_valid_config(tmp_path: Path) -> None:
    users = (nats_access.ADMIN_USER, *nats_access.SERVICES)
    for block in (nats_access.authorization_block({u: f"pw-{u}" for u in users}),
                  nats_access.authorization_block({}, from_environment=True)):
        path = tmp_path / "auth.conf"
        path.write_text(block)
        env = {nats_access.password_variable(s): "x" for s in nats_access.SERVICES}
        env[nats_access.ADMIN_PASSWORD_VARIABLE] = "x"
        checked = subprocess.run([venv_binary("nats-server"), "-c", str(path), "-t"], capture_output=True,  # noqa: S603
                                 text=True, env=env)
        assert checked.returncode == 0, checked.stderr + checked.stdout
    assert "$PODIUM_NATS_GATEWAY_PASSWORD" in nats_access.authorization_block({}, from_environment=True)


def test_a_service_reads_only_the_streams_it_consumes() -> None:
    """Q&A (private questions), team and board events are read by the leaderboard service, not by a scorer."""
    for service in ("cpu_scorer", "gpu_scorer", "auth_service", "gateway"):
        for stream in ("QA", "TEAMS", "BOARD", "SCORES"):
            for subject in (f"$JS.API.CONSUMER.CREATE.{stream}", f"$JS.API.CONSUMER.CREATE.{stream}.c.qa.>",
                            f"$JS.API.STREAM.MSG.GET.{stream}", f"$JS.API.DIRECT.GET.{stream}"):
                assert not may_publish(service, subject), (service, subject)
    assert may_publish("cpu_scorer", "$JS.API.CONSUMER.MSG.NEXT.SUBMISSIONS.cpu_scorer")
    assert may_publish("cpu_scorer", "$JS.ACK.SUBMISSIONS.cpu_scorer.1.2.3.4.0")
    assert may_publish("leaderboard_service", "$JS.API.CONSUMER.CREATE.QA.leaderboard_service_qa.qa.>")
    assert may_publish("submission_service", "$JS.API.STREAM.MSG.GET.SUBMISSIONS")


def test_each_user_receives_replies_under_its_own_inbox_prefix_only() -> None:
    for service in nats_access.SERVICES:
        own = nats_access.inbox_prefix(service)
        assert may_subscribe(service, f"{own}.abc.1")
        assert not may_subscribe(service, "_INBOX.abc.1")
        for other in nats_access.SERVICES:
            if other != service:
                assert not may_subscribe(service, f"{nats_access.inbox_prefix(other)}.abc.1"), (service, other)


def test_only_a_streams_owner_updates_it_and_no_scorer_owns_one() -> None:
    """An update could add a source or a republish (of the leaderboards bucket, say) to a stream its user reads."""
    for spec in STREAMS:
        updaters = [s for s in nats_access.SERVICES if may_publish(s, f"$JS.API.STREAM.UPDATE.{spec.name}")]
        assert len(updaters) == 1, (spec.name, updaters)
        assert updaters[0] not in ("cpu_scorer", "gpu_scorer", "gateway")
    for bucket in KV_BUCKETS:
        assert not any(may_publish(s, f"$JS.API.STREAM.UPDATE.KV_{bucket.name}") for s in nats_access.SERVICES)
    assert nats_access.streams_owned("cpu_scorer") == frozenset()
