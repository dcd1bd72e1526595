"""What every scorer does around its own computation: report progress (from a worker thread, throttled),
stop a job its team cancelled, keep a long job alive for JetStream, publish a ScoreFailed, pick the delay of a
retry — and count each of these in the scoring metrics."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import msgspec
from faststream.exceptions import NackMessage, RejectMessage
from faststream.nats import NatsBroker, NatsMessage
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from podium_runtime.kv_watch import follow
from podium_runtime.metrics import SCORING_FAILURES, SCORING_RETRIES, VALIDATION_DURATION
from podium_runtime.publish import publish_event
from podium_runtime.service import Bus
from proto.events import JobLogged, ScoreComputed, ScoreFailed, ScoreProgress, SubmissionReceived
from proto.streams import CANCELLATIONS, ConsumerSpec

log = logging.getLogger(__name__)
PROGRESS_INTERVAL_S = 0.25
MAX_LOG_LINE = 500
_encoder = msgspec.json.Encoder()


def _log_line(event: SubmissionReceived, line: str, level: str, host_only: bool = False) -> JobLogged:
    return JobLogged(submission_id=event.submission_id, team_id=event.team_id, line=line[:MAX_LOG_LINE], level=level,
                     correlation_id=event.correlation_id, host_only=host_only)


class JobCancelled(Exception):
    """Raised inside a job (between samples or batches) when its submission was cancelled."""


class StoredBytesChanged(Exception):
    """The fetched submission is not the bytes `complete` checked (its sha256 differs from the event's): storage
    was written behind the platform's back. Not the participant's fault, and not fixed by a retry."""


def verify_digest(event: SubmissionReceived, data: bytes) -> None:
    """Score only the bytes that were checked: raise StoredBytesChanged when `data` is not what `event` names."""
    digest = hashlib.sha256(data).hexdigest()
    if event.sha256 and digest != event.sha256:
        raise StoredBytesChanged(
            f"the stored submission changed after it was checked (sha256 {digest}, checked {event.sha256}); "
            "this is the platform's fault, your quota is refunded — please submit again")


class Cancellations:
    """The cancelled submissions, mirrored from the KV bucket every scorer watches; read from worker
    threads (a set lookup), written only by the watch task on the event loop."""

    def __init__(self) -> None:
        self.cancelled: set[str] = set()
        self.loaded = asyncio.Event()

    def __contains__(self, submission_id: str) -> bool:
        return submission_id in self.cancelled

    def apply(self, entry: KeyValue.Entry | None) -> None:
        if entry is None:  # the bucket's current content has been read
            self.loaded.set()
        elif entry.operation in ("DEL", "PURGE"):
            self.cancelled.discard(entry.key)
        else:
            self.cancelled.add(entry.key)


@dataclass
class JobReporter:
    scorer: str
    broker: NatsBroker
    ack_wait_s: float
    retry_delays_s: tuple[float, ...]
    cancellations: Cancellations = field(default_factory=Cancellations)
    loop: asyncio.AbstractEventLoop | None = None  # the service's loop, for calls from worker threads
    _live_publishes: set[asyncio.Task[None]] = field(default_factory=set)

    def log(self, event: SubmissionReceived, line: str, level: str = "info", *, host_only: bool = False) -> None:
        """A line for the submission's log, which its team reads (live and afterwards): write only what the
        team may know — never ground truth, never a value of the hidden private split. A `host_only` line (a host's
        scoring program's output, its traceback) is kept for admins and never sent to the team. Safe from any
        thread."""
        logged = _log_line(event, line, level, host_only)
        loop = self.loop or asyncio.get_running_loop()
        loop.call_soon_threadsafe(self._publish_live, _encoder.encode(logged), logged.subject())

    async def fail(self, event: SubmissionReceived, reason: str, *, code: str, started: float | None = None,
                   infrastructure: bool = False) -> None:
        """Publish the participant's `reason`; `code` is the short, bounded label the metrics count it by. The job's
        log lines go out first (those already written, then the reason's, sent rather than scheduled as `log` does):
        a log leads to its outcome, and whoever follows both (the CLI, the web page) should see them in that order."""
        await self._flush_live()
        logged = _log_line(event, f"not scored: {reason}", "error")
        await self.broker.publish(_encoder.encode(logged), logged.subject())
        await publish_event(self._jetstream(), ScoreFailed(
            submission_id=event.submission_id, team_id=event.team_id, task_id=event.task_id,
            scorer_version=event.scorer_version, reason=reason, infrastructure=infrastructure,
            phase_id=event.phase_id, correlation_id=event.correlation_id))
        SCORING_FAILURES.labels(scorer=self.scorer, reason=code).inc()
        if started is not None:
            self.finished(event, "failed", started)

    async def run(self, event: SubmissionReceived, message: NatsMessage,
                  compute: Callable[[], Awaitable[ScoreComputed]], refusals: Mapping[type[Exception], str]) -> None:
        """One scoring job, start to outcome. Skipped if its submission was cancelled; kept alive while
        `compute` runs; its ScoreComputed published. A refusal (an exception in `refusals`, mapped to its metric
        code) becomes a ScoreFailed with the exception's text and is never retried; a cancellation stops the job
        quietly; anything else — storage or NATS away, even while publishing the outcome — is the platform's
        fault: the job is delivered again after a growing delay (after MaxDeliver the advisory ends it)."""
        if self.cancelled(event):
            log.info("skipped: the submission was cancelled", extra={"submission_id": event.submission_id})
            return  # acknowledged: a cancelled submission is never scored
        started = time.perf_counter()
        try:
            async with self.kept_alive(message):
                try:
                    outcome = await compute()
                except StoredBytesChanged as exc:
                    log.error("the stored submission is not the checked one: not scored",
                              extra={"submission_id": event.submission_id, "object_key": event.object_key,
                                     "reason": str(exc)})
                    await self.fail(event, str(exc), code="stored_bytes_changed", started=started,
                                    infrastructure=True)
                    raise RejectMessage() from None
                except tuple(refusals) as exc:
                    code = next(code for kind, code in refusals.items() if isinstance(exc, kind))
                    log.info("submission refused", extra={"submission_id": event.submission_id, "reason": str(exc)})
                    await self.fail(event, str(exc), code=code, started=started)
                    raise RejectMessage() from None
                outcome.durations_ms["total"] = (time.perf_counter() - started) * 1000
                await publish_event(self._jetstream(), outcome)
        except JobCancelled:
            log.info("stopped: the submission was cancelled", extra={"submission_id": event.submission_id})
            self.finished(event, "cancelled", started)
            return
        except RejectMessage:
            raise
        except Exception as exc:
            delay = self.retry_delay(event, message)
            log.warning("scoring failed on our side; retrying", exc_info=True,
                        extra={"submission_id": event.submission_id, "retry_in_s": delay})
            raise NackMessage(delay=delay) from exc
        self.finished(event, "scored", started)
        log.info("submission scored", extra={"submission_id": event.submission_id,
                                             "public_score": outcome.public_score})

    def retry_later(self, event: SubmissionReceived, message: NatsMessage, reason: str) -> NackMessage:
        """The Nak that hands a job back before it started, for a reason on the platform's side that time mends
        (the competition version the submission names has not reached this scorer yet): delivered again after
        the scorer's retry delay, and after MaxDeliver the advisory ends it. Raise what it returns."""
        delay = self.retry_delay(event, message)
        log.warning("not scored yet; retrying", extra={"submission_id": event.submission_id, "reason": reason,
                                                       "retry_in_s": delay})
        return NackMessage(delay=delay)

    def finished(self, event: SubmissionReceived, outcome: str, started: float) -> None:
        VALIDATION_DURATION.labels(scorer=self.scorer, task=event.task_id, outcome=outcome).observe(
            time.perf_counter() - started)

    def cancelled(self, event: SubmissionReceived) -> bool:
        return event.submission_id in self.cancellations

    def progress(self, event: SubmissionReceived) -> Callable[[int, int], None]:
        """A `progress(done, total)` callback safe to call from a worker thread, which the job calls between
        samples or batches: it raises JobCancelled once the submission is cancelled, and publishes at most
        one progress event per PROGRESS_INTERVAL_S (always the last one)."""
        loop = asyncio.get_running_loop()
        last = [0.0]
        quarter = [0]

        def report(done: int, total: int) -> None:
            if event.submission_id in self.cancellations:
                self.log(event, f"stopped after {done} of {total}: the submission was cancelled", "warning")
                raise JobCancelled(event.submission_id)
            if total and done * 4 // total > quarter[0]:  # a log line at each quarter of the way
                quarter[0] = done * 4 // total
                self.log(event, f"{done} of {total} done")
            now = time.monotonic()
            if done != total and now - last[0] < PROGRESS_INTERVAL_S:
                return
            last[0] = now
            progress = ScoreProgress(submission_id=event.submission_id, team_id=event.team_id, done=done,
                                     total=total, correlation_id=event.correlation_id)
            loop.call_soon_threadsafe(self._publish_live, _encoder.encode(progress), progress.subject())

        return report

    def _jetstream(self) -> JetStreamContext:
        return self.broker.connection.jetstream()  # pyright: ignore[reportUnknownMemberType]  # nats-py: **opts

    def _publish_live(self, payload: bytes, subject: str) -> None:
        # The loop keeps only a weak reference to a task: hold it until it is done, or it may vanish unsent.
        task = asyncio.get_running_loop().create_task(self.broker.publish(payload, subject))
        self._live_publishes.add(task)
        task.add_done_callback(self._live_published)

    async def _flush_live(self) -> None:
        """Wait until the live events written so far are sent: one turn of the loop lets those scheduled from
        worker threads start, then their publishes are awaited (a failure is only logged, as for any of them)."""
        await asyncio.sleep(0)
        await asyncio.gather(*tuple(self._live_publishes), return_exceptions=True)

    def _live_published(self, task: asyncio.Task[None]) -> None:
        self._live_publishes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("a progress event was not published", extra={"error": repr(task.exception())})

    def retry_delay(self, event: SubmissionReceived, message: NatsMessage) -> float:
        """The delay before JetStream delivers the job again, after a failure on the platform's side."""
        SCORING_RETRIES.labels(scorer=self.scorer).inc()
        delivered = message.raw_message.metadata.num_delivered or 1
        delay = self.retry_delays_s[min(delivered, len(self.retry_delays_s)) - 1] if self.retry_delays_s else 1.0
        self.log(event, f"a problem on our side (not your submission's); retrying in {delay:.0f} s", "warning")
        return delay

    @contextlib.asynccontextmanager
    async def kept_alive(self, message: NatsMessage) -> AsyncGenerator[None, None]:
        """While the job runs, tell JetStream it is alive, so AckWait does not hand it to another worker."""

        async def beat() -> None:
            while True:
                await asyncio.sleep(self.ack_wait_s / 3)
                await message.in_progress()

        heartbeat = asyncio.create_task(beat())
        try:
            yield
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat


@contextlib.asynccontextmanager
async def open_job_reporter(scorer: str, bus: Bus, consumer: ConsumerSpec) -> AsyncGenerator[JobReporter, None]:
    """A scorer's JobReporter, with its watch of the cancellations running (and what is already cancelled
    loaded) before the first job arrives; the watch stops on the way out."""
    reporter = JobReporter(scorer, bus.broker, consumer.ack_wait_s, consumer.retry_delays_s,
                           loop=asyncio.get_running_loop())
    follower = asyncio.create_task(
        follow(lambda: bus.broker.connection, CANCELLATIONS.name, reporter.cancellations.apply, bus.reconnects),
        name="cancellations")
    try:
        await asyncio.wait_for(reporter.cancellations.loaded.wait(), timeout=10)
        yield reporter
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
