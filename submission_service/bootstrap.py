"""submission_service's dependencies, built in one place (`podium_runtime.service` describes the shape): its
settings, `Deps` and `bootstrap`, which the app's lifespan opens and a test may open (or fake) itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import asyncpg
from minio import Minio
from nats.js.kv import KeyValue
from pydantic import AliasChoices, Field

from podium_runtime import ground_truth
from podium_runtime.competition import CurrentCompetition, follow_competition
from podium_runtime.service import Bus, connect_bus, open_database, open_object_store
from podium_runtime.settings import ServiceSettings
from proto.storage import DETAILS_BUCKET, PROGRAMS_BUCKET
from proto.streams import CANCELLATIONS, COMPETITION_KV, LEADERBOARDS
from submission_service import store
from submission_service.store import BUCKET
from submission_service.upload_url import UploadSigner

NAME = "submission_service"
BUCKETS = (BUCKET, DETAILS_BUCKET, ground_truth.BUCKET, PROGRAMS_BUCKET)


class SubmissionServiceSettings(ServiceSettings):
    service_name: str = NAME
    http_port: int = Field(default=8102, validation_alias=AliasChoices("PODIUM_SUBMISSION_SERVICE_HTTP_PORT"))
    # The competition is data in this service's schema. PODIUM_COMPETITION_SEED is applied only while none exists
    # (`make run`'s demo); PODIUM_COMPETITION_FILE, for hosts who keep a file, is applied at each start when it
    # differs from the current version.
    competition_seed: Path | None = Path("deploy/competition.toml")
    competition_file: Path | None = None
    # How long a presigned upload URL is valid.
    upload_ttl_s: int = Field(default=900, ge=30)
    # Where participants reach S3, if not at PODIUM_S3_ENDPOINT (a presigned URL is bound to its host).
    s3_public_endpoint: str = ""
    s3_public_secure: bool = False
    # A submission without a score after this long is published again (longer than the dedup window).
    stuck_after_s: int = Field(default=900, ge=1)
    max_republish: int = Field(default=2, ge=0)
    reconcile_interval_s: float = Field(default=30.0, gt=0)
    # How a host's scoring program is sandboxed when it is checked on a sample at upload (PODIUM_PROGRAM_ISOLATION):
    # rlimits-only is the weaker fallback for machines without bubblewrap, chosen knowingly.
    program_isolation: Literal["bubblewrap", "rlimits-only"] = "bubblewrap"


@dataclass(frozen=True)
class Deps:
    # The version in use: this service's own changes are offered to it at once, other replicas' arrive through
    # the `competition` bucket it follows.
    competition: CurrentCompetition
    bus: Bus
    pool: asyncpg.Pool
    s3: Minio
    # Signs upload URLs for the address participants reach S3 at (may differ from the internal one).
    presigner: UploadSigner
    cancellations: KeyValue  # the `cancellations` bucket the scorers watch
    # The `leaderboards` bucket: the leaderboard service owns the reveal and writes it with each task's board.
    boards: KeyValue
    competition_bucket: KeyValue


def upload_signer(settings: SubmissionServiceSettings) -> UploadSigner:
    public = settings.s3_public_endpoint
    return UploadSigner(
        endpoint=public or settings.s3_endpoint, secure=settings.s3_public_secure if public else settings.s3_secure,
        access_key=settings.s3_access_key, secret_key=settings.s3_secret_key.get_secret_value(),
        region=settings.s3_region)


@asynccontextmanager
async def bootstrap(settings: SubmissionServiceSettings, bus: Bus) -> AsyncIterator[Deps]:
    await connect_bus(bus, settings)
    async with open_database(settings, store.SCHEMA, NAME) as pool, follow_competition(bus) as competition:
        s3 = await open_object_store(settings, BUCKETS)
        js = bus.jetstream()
        yield Deps(competition=competition, bus=bus, pool=pool, s3=s3, presigner=upload_signer(settings),
                   cancellations=await js.key_value(CANCELLATIONS.name), boards=await js.key_value(LEADERBOARDS.name),
                   competition_bucket=await js.key_value(COMPETITION_KV.name))
