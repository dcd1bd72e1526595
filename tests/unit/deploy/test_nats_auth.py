"""NATS authorization in the deployments: compose's nats-server loads deploy/nats/auth.conf (generated from
podium_runtime.nats_access, kept in sync here) with every password from its environment, and each service, on the
main host and on a GPU host, connects as its own user with its own password variable."""

from __future__ import annotations

from pathlib import Path

import yaml
from faststream.nats.subscriber.config import NatsSubscriberSpecificationConfig

from deploy import nats_auth
from deploy.specs import service_apps
from podium_runtime import nats_access
from podium_runtime.service import ServiceSpec
from tests.unit.deploy.test_specs import subject_matches

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


def test_the_committed_configs_are_the_generated_one() -> None:
    for target in nats_auth.TARGETS:
        assert target.read_text() == nats_auth.rendered(), f"{target} is stale: python -m deploy.nats_auth"


def test_compose_nats_requires_every_password_and_loads_the_config() -> None:
    nats = yaml.safe_load((DEPLOY / "compose.yml").read_text())["services"]["nats"]
    assert nats["command"][-2:] == ["-c", "/etc/nats/auth.conf"]
    assert "./nats/auth.conf:/etc/nats/auth.conf:ro" in nats["volumes"]
    variables = [nats_access.ADMIN_PASSWORD_VARIABLE, *map(nats_access.password_variable, nats_access.SERVICES)]
    assert sorted(nats["environment"]) == sorted(variables)
    for variable in variables:
        assert nats["environment"][variable] == f"${{{variable}:?set {variable}}}"  # no default password


def test_each_compose_service_connects_as_its_own_user() -> None:
    services = yaml.safe_load((DEPLOY / "compose.yml").read_text())["services"]
    for service in nats_access.SERVICES:
        env = services[service]["environment"]
        assert env["PODIUM_NATS_USER"] == nats_access.user_name(service)
        variable = nats_access.password_variable(service)
        assert env["PODIUM_NATS_PASSWORD"] == f"${{{variable}:?set {variable}}}"


def test_the_gpu_host_connects_as_the_gpu_scorer() -> None:
    env = yaml.safe_load((DEPLOY / "compose.gpu-host.yml").read_text())["services"]["gpu_scorer"]["environment"]
    assert env["PODIUM_NATS_USER"] == "gpu_scorer"
    assert env["PODIUM_NATS_PASSWORD"].startswith("${PODIUM_NATS_GPU_SCORER_PASSWORD:?")


# --- the permissions agree with what each service's app declares ---------------------------------------------------


def _allowed(patterns: tuple[str, ...], subject: str) -> bool:
    return any(subject_matches(pattern, subject) for pattern in patterns)


def test_each_service_may_publish_the_events_and_subscribe_the_subjects_its_app_declares() -> None:
    for service, app in service_apps():
        rules = nats_access.permissions(service)
        spec: ServiceSpec = app.podium_spec  # pyright: ignore[reportAttributeAccessIssue]  # set by service_app
        for event in spec.publishes:
            assert _allowed(rules.publish, event.subject_pattern()), (service, event.__name__)
        assert app.broker is not None, service
        for subscriber in app.broker.subscribers:
            config = subscriber.specification.config
            assert isinstance(config, NatsSubscriberSpecificationConfig), (service, config)
            subject = config.subject
            stream = getattr(subscriber, "stream", None)
            if stream is not None:  # a pull consumer: fetched through the JetStream API, acked on $JS.ACK
                assert _allowed(rules.publish, f"$JS.API.CONSUMER.MSG.NEXT.{stream.name}.durable"), (service, subject)
                assert _allowed(rules.publish, f"$JS.ACK.{stream.name}.durable.1.1.1.1.0"), (service, subject)
            else:
                assert _allowed(rules.subscribe, subject), (service, subject)
