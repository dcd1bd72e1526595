"""Opening the platform's connections from settings: Postgres (asyncpg), S3 (minio) and the
JetStream streams every service relies on. Nothing here connects at import time."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TypeAlias

import asyncpg
import nats.js.errors
from asyncpg.pool import PoolConnectionProxy
from minio import Minio
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, RetentionPolicy, StorageType, StreamConfig

from podium_runtime.settings import LOCAL_S3_SECRET, PlatformSettings
from proto.streams import KV_BUCKETS, STREAMS, KVSpec, StreamSpec

# A PostgreSQL connection as asyncpg hands one out: its own, or a pool's proxy to one (`pool.acquire()`). The
# proxy has the connection's methods but is no subclass of it, so code that takes either names both.
PgConnection: TypeAlias = asyncpg.Connection | PoolConnectionProxy


async def create_pg_pool(settings: PlatformSettings, *, max_size: int | None = None) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        settings.postgres_dsn.get_secret_value(),
        min_size=1,
        max_size=max_size or settings.postgres_pool_max,
    )


class UnsafeSettings(RuntimeError):
    """A setting a deployment must not keep (a development default outside development)."""


def create_s3(settings: PlatformSettings) -> Minio:
    if settings.environment != "development" and settings.s3_secret_key.get_secret_value() == LOCAL_S3_SECRET:
        raise UnsafeSettings("PODIUM_S3_SECRET_KEY is the local development default: set the deployment's own "
                             "secret (or PODIUM_ENVIRONMENT=development on a development machine)")
    return Minio(
        settings.s3_endpoint,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key.get_secret_value(),
        secure=settings.s3_secure,
        region=settings.s3_region,
    )


def read_bytes(s3: Minio, bucket: str, key: str, amt: int | None = None) -> bytes:
    """An object's bytes (at most `amt` of them), its connection handed back to the client's pool."""
    response = s3.get_object(bucket, key)
    try:
        return response.read(amt=amt)
    finally:
        response.close()
        response.release_conn()


class ObjectTooLarge(ValueError):
    """An object larger than its reader takes: refused unread."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"the object is {size} bytes, over the limit of {limit}")
        self.size = size
        self.limit = limit


def read_object(s3: Minio, bucket: str, key: str, max_bytes: int) -> bytes | None:
    """The object at `key` (None when there is none); one larger than `max_bytes` raises ObjectTooLarge unread."""
    from minio.error import S3Error

    try:
        size = s3.stat_object(bucket, key).size or 0
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
            return None
        raise
    if size > max_bytes:
        raise ObjectTooLarge(size, max_bytes)
    return read_bytes(s3, bucket, key)


def stream_config(spec: StreamSpec, replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        name=spec.name,
        subjects=list(spec.subjects),
        description=spec.description,
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE if spec.storage == "file" else StorageType.MEMORY,
        duplicate_window=spec.duplicate_window_s,
        num_replicas=max(spec.replicas, replicas),
    )


async def ensure_streams(js: JetStreamContext, replicas: int = 1, updates: Collection[str] | None = None) -> None:
    """Create the platform's streams, or bring an existing one's config up to date (safe to run twice).

    `updates`: the streams this process may update (a service's NATS user may update only those it owns, see
    `nats_access.streams_owned`); an existing stream outside it is left to its owner. None: all of them."""
    for spec in STREAMS:
        config = stream_config(spec, replicas)
        try:
            await js.add_stream(config)  # pyright: ignore[reportUnknownMemberType]  # nats-py: **params unannotated
        except nats.js.errors.BadRequestError:
            # Already there (another service may have created it a moment ago): align its config.
            if updates is None or spec.name in updates:
                await js.update_stream(config)  # pyright: ignore[reportUnknownMemberType]


async def ensure_kv_buckets(
    js: JetStreamContext, replicas: int = 1, buckets: Sequence[KVSpec] = KV_BUCKETS
) -> None:
    """Create KV buckets where missing (creating an existing one with the same config is a no-op): by default all
    the platform's; a service passes its own (`nats_access.buckets`), the only ones its NATS user may declare."""
    for spec in buckets:
        await js.create_key_value(  # pyright: ignore[reportUnknownMemberType]  # nats-py: **params unannotated
            KeyValueConfig(
                bucket=spec.name,
                description=spec.description,
                history=spec.history,
                ttl=spec.max_age_s or None,
                storage=StorageType.FILE,
                replicas=replicas,
            )
        )
