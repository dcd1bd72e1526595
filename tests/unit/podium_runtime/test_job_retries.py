"""A scorer's job lifecycle (`podium_runtime.jobs.JobReporter`) in memory (FastStream's TestNatsBroker): a ground
truth that is missing or not the recorded one is the platform's fault — the job goes back to JetStream after the
scorer's backoff (a Nak), no ScoreFailed is published and the participant's log says it is not their submission; a
job handed back before it started (a competition version not here yet) takes the same delay."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import msgspec
import pytest
from faststream.exceptions import NackMessage
from faststream.nats import NatsBroker, NatsMessage, TestNatsBroker

from podium_runtime.ground_truth import GroundTruthMissing
from podium_runtime.jobs import JobReporter
from podium_runtime.scoring.archive import ArchiveRejected
from proto.events import JobLogged, ScoreComputed
from proto.subjects import job_log
from tests.unit import fakes

DELAYS = (5.0, 15.0, 60.0)


@dataclass
class Delivery:
    """The parts of a JetStream message the reporter reads: how often it was delivered; its in-progress acks."""

    delivered: int

    @property
    def raw_message(self) -> SimpleNamespace:
        return SimpleNamespace(metadata=SimpleNamespace(num_delivered=self.delivered))

    async def in_progress(self) -> None:
        pass


async def missing_truth() -> ScoreComputed:
    raise GroundTruthMissing("the stored ground truth of task reconstruction is not the one the competition records")


async def test_missing_ground_truth_is_retried_after_the_backoff_never_failed() -> None:
    broker = NatsBroker()
    logged: list[JobLogged] = []
    event = fakes.received("reconstruction", "cpu", "41", ".zip")

    @broker.subscriber(job_log(event.submission_id))
    async def log_line(message: NatsMessage) -> None:
        logged.append(msgspec.json.decode(message.body, type=JobLogged))

    async with TestNatsBroker(broker):
        reporter = JobReporter("cpu_scorer", broker, ack_wait_s=60.0, retry_delays_s=DELAYS)
        reporter.cancellations.loaded.set()
        with pytest.raises(NackMessage) as nak:
            await reporter.run(event, Delivery(delivered=2), missing_truth,  # type: ignore[arg-type]
                               {ArchiveRejected: "archive_rejected"})
        await reporter._flush_live()
    assert nak.value.extra_options == {"delay": 15.0}  # the second delivery waits the second delay
    assert [line.line for line in logged] == ["a problem on our side (not your submission's); retrying in 15 s"]


async def test_a_job_handed_back_before_it_started_takes_the_scorers_backoff() -> None:
    broker = NatsBroker()
    async with TestNatsBroker(broker):
        reporter = JobReporter("gpu_scorer", broker, ack_wait_s=60.0, retry_delays_s=DELAYS)
        nak = reporter.retry_later(fakes.received("digits", "gpu", "42", ".onnx"), Delivery(delivered=9),  # type: ignore[arg-type]
                                   "competition version 3 has not reached this scorer yet")
    assert nak.extra_options == {"delay": 60.0}  # past the last delay: the last one
