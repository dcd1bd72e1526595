"""Podium's contracts: events, subjects, streams. Depends on msgspec only."""

from proto.codec import decode, encode
from proto.events import (
    EVENT_TYPES,
    AnyEvent,
    Event,
    LeaderboardUpdated,
    RescoreRequested,
    ScoreComputed,
    ScoreFailed,
    ScoreProgress,
    SubmissionCancelled,
    SubmissionReceived,
    SubmissionRejected,
    TeamCreated,
    TeamDeleted,
    TeamMember,
    TeamUpdated,
)

__all__ = [
    "EVENT_TYPES",
    "AnyEvent",
    "Event",
    "LeaderboardUpdated",
    "RescoreRequested",
    "ScoreComputed",
    "ScoreFailed",
    "ScoreProgress",
    "SubmissionReceived",
    "SubmissionCancelled",
    "SubmissionRejected",
    "TeamCreated",
    "TeamDeleted",
    "TeamMember",
    "TeamUpdated",
    "decode",
    "encode",
]
