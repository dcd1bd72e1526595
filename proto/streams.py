"""JetStream stream, consumer and KV definitions, as plain data (proto depends on msgspec only).

The shared runtime turns these into nats-py configs. Streams keep everything for the whole competition
(Limits retention, file storage): the log is the replay source, so WorkQueue retention is never used.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from proto import subjects

# Long enough to cover an outbox relay's retry after a crash or a slow restart, short enough to keep
# the server's dedup table small. A re-publish inside this window with the same Msg-Id is dropped.
DUPLICATE_WINDOW_S = 300.0


class StreamSpec(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    subjects: tuple[str, ...]
    description: str = ""
    storage: Literal["file", "memory"] = "file"
    retention: Literal["limits"] = "limits"
    duplicate_window_s: float = DUPLICATE_WINDOW_S
    # 1 on the embedded single node; the Helm chart's 3-node cluster overrides to 3.
    replicas: int = 1


class ConsumerSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A durable pull consumer with explicit ack, named after the service that owns it."""

    durable: str
    stream: str
    filter_subject: str
    ack_wait_s: float = 30.0
    max_deliver: int = 5
    # The delays, in seconds, of a job handed back after a failure on the platform's side: the Nak's own delay, by
    # delivery. Not JetStream's BackOff, which replaces a consumer's AckWait with its first value (nats-server's
    # consumer.go): with it, a job running longer than the first delay was delivered again, to another replica,
    # while it ran (bench.replicas found jobs scored twice).
    retry_delays_s: tuple[float, ...] = ()
    # How many delivered messages may await their ack at once (None: JetStream's default). 1 for a consumer
    # that must apply its stream in order: otherwise, when its process dies holding message n, n + 1 is
    # delivered to the next one, and n, redelivered after AckWait, is behind the applied sequence.
    max_ack_pending: int | None = None
    # Where a durable created for the first time starts: "all" from the stream's first message (a scorer's first
    # start scores what was submitted before it), "new" from the next one published (a consumer added to a
    # platform that already has a history, which it must not replay). Applies at creation only.
    deliver: Literal["all", "new"] = "all"


SUBMISSIONS = StreamSpec(
    name="SUBMISSIONS",
    subjects=(subjects.SUBMISSIONS_ALL,),
    description="Accepted, rejected and rescore-requested submissions: the replay source for scoring.",
)
SCORES = StreamSpec(
    name="SCORES",
    subjects=(subjects.SCORES_ALL,),
    description="Score outcomes: the replay source for the leaderboard and submission status.",
)
TEAMS = StreamSpec(
    name="TEAMS",
    subjects=(subjects.TEAMS_ALL,),
    description="Team lifecycle: names and visibility on the boards.",
)

QA = StreamSpec(
    name="QA",
    subjects=(subjects.QA_ALL,),
    description="Questions, answers and announcements, for live pushes and the audit of moderation.",
)

BOARD = StreamSpec(
    name="BOARD",
    subjects=(subjects.BOARD_ALL,),
    description="Admin and team decisions about the boards (standing, reveal, finals): the audit trail.",
)

COMPETITION = StreamSpec(
    name="COMPETITION",
    subjects=(subjects.COMPETITION_ALL,),
    description="Every version of the competition definition, as it was applied: the history of host changes.",
)

STREAMS: tuple[StreamSpec, ...] = (SUBMISSIONS, SCORES, TEAMS, QA, BOARD, COMPETITION)

CPU_SCORER = ConsumerSpec(
    durable="cpu_scorer",
    stream=SUBMISSIONS.name,
    filter_subject=subjects.submission_received_all("cpu"),
    # Well above a scoring job's p99 (about a second for a deflated archive); in-progress acks extend it.
    ack_wait_s=60.0,
    max_deliver=5,
    retry_delays_s=(5.0, 15.0, 60.0, 120.0),
)
# cpu_scorer's program pool (PODIUM_CPU_SCORER_ROLE=programs): the same submissions as CPU_SCORER, on a durable of
# its own (SUBMISSIONS keeps every message for each durable), of which it scores the program tasks only and the
# cpu_scorer beside it (role `metrics`) the others. Its jobs are the same scorer's, so the same AckWait, MaxDeliver
# and retry delays. A host enables the pool on a platform with a history: delivered from the next submission on,
# never the stream's past (every program submission ever made would be scored again).
PROGRAM_POOL = ConsumerSpec(
    durable="cpu_scorer_programs",
    stream=SUBMISSIONS.name,
    filter_subject=CPU_SCORER.filter_subject,
    ack_wait_s=CPU_SCORER.ack_wait_s,
    max_deliver=CPU_SCORER.max_deliver,
    retry_delays_s=CPU_SCORER.retry_delays_s,
    deliver="new",
)
GPU_SCORER = ConsumerSpec(
    durable="gpu_scorer",
    stream=SUBMISSIONS.name,
    filter_subject=subjects.submission_received_all("gpu"),
    ack_wait_s=300.0,
    max_deliver=5,
    retry_delays_s=(10.0, 30.0, 120.0, 300.0),
)
SUBMISSION_STATUS = ConsumerSpec(
    durable="submission_service", stream=SCORES.name, filter_subject=subjects.SCORES_ALL
)


# The leaderboard applies each stream in order, guarded by the last sequence applied: one message in flight
# at a time, and a short AckWait, so a message held by a process that died comes back within seconds (applying
# one takes milliseconds).
def _in_order(durable: str, stream: str, filter_subject: str) -> ConsumerSpec:
    return ConsumerSpec(
        durable=durable, stream=stream, filter_subject=filter_subject, ack_wait_s=10.0, max_ack_pending=1
    )


LEADERBOARD_SCORES = _in_order("leaderboard_service_scores", SCORES.name, subjects.SCORES_ALL)
LEADERBOARD_TEAMS = _in_order("leaderboard_service_teams", TEAMS.name, subjects.TEAMS_ALL)
LEADERBOARD_RESCORES = _in_order("leaderboard_service_rescores", SUBMISSIONS.name, subjects.RESCORE_REQUESTED)
LEADERBOARD_BOARD = _in_order("leaderboard_service_board", "BOARD", subjects.BOARD_ALL)
# Q&A moderation, for the audit trail the leaderboard service keeps beside the board decisions.
LEADERBOARD_QA = _in_order("leaderboard_service_qa", QA.name, subjects.QA_ALL)

CONSUMERS: tuple[ConsumerSpec, ...] = (
    CPU_SCORER,
    PROGRAM_POOL,
    GPU_SCORER,
    SUBMISSION_STATUS,
    LEADERBOARD_SCORES,
    LEADERBOARD_TEAMS,
    LEADERBOARD_BOARD,
    LEADERBOARD_RESCORES,
    LEADERBOARD_QA,
)

class KVSpec(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    description: str = ""
    history: int = 1
    # Entries older than this are swept by the server (0 = kept).
    max_age_s: float = 0.0


# The leaderboard service writes each task's current board here; the gateway watches it.
LEADERBOARDS = KVSpec(name="leaderboards", description="Each task's current board")
# Each account's current token version (key: account id), written by auth_service after each change and
# reconciled from PostgreSQL at its start; every gateway watches it to refuse revoked tokens locally.
TOKEN_VERSIONS = KVSpec(name="token_versions", description="Current token version per account")
# Refresh-token families (logins) revoked because one of their refresh tokens was used twice (key: family id, value:
# account id), written by auth_service and reconciled from PostgreSQL at its start; every gateway watches it to refuse
# the access tokens of those logins (claim `fam`) locally.
REVOKED_TOKEN_FAMILIES = KVSpec(name="revoked_token_families", description="Revoked logins (refresh-token families)")
# Request counters shared by every gateway replica (Litestar's rate-limit middleware).
RATE_LIMITS = KVSpec(name="rate_limits", description="Rate-limit windows", max_age_s=3600.0)

# Submissions cancelled by their team or an admin (key: submission id): every scorer watches it, so a
# queued job is never started and a running one stops at its next sample or batch.
CANCELLATIONS = KVSpec(name="cancellations", description="Cancelled submissions", max_age_s=7 * 24 * 3600.0)

# What an admin sets on the gateway at run time, shared by every replica (key `gpu_server_url`: where MLS-GOAT's
# `submit.py` sends models, `GET /gpu-server-ip`).
GATEWAY_SETTINGS = KVSpec(name="gateway_settings", description="Gateway settings admins change at run time")

# The competition in use (key `current`: the latest CompetitionVersion), written by submission_service after each
# change and at its start; every service watches it.
COMPETITION_KV = KVSpec(name="competition", description="The competition version in use")

KV_BUCKETS: tuple[KVSpec, ...] = (LEADERBOARDS, TOKEN_VERSIONS, REVOKED_TOKEN_FAMILIES, RATE_LIMITS, CANCELLATIONS,
                                  GATEWAY_SETTINGS, COMPETITION_KV)
LEADERBOARDS_KV = LEADERBOARDS.name
