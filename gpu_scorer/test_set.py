"""The hidden test set of a model task: one `.npz` in the ground-truth bucket holding `x` (samples) and `y`
(integer labels), read without pickle and kept in memory between submissions."""

from __future__ import annotations

import asyncio
import hashlib
import io
from dataclasses import dataclass

import numpy as np
from minio import Minio

from proto.competition import Task

BUCKET = "ground-truth"


@dataclass(frozen=True)
class TestSet:
    x: np.ndarray
    y: np.ndarray
    sha256: str


def parse_test_set(data: bytes, task: Task) -> TestSet:
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        x, y = archive["x"].astype(np.float32), archive["y"].astype(np.int64)
    if x.shape[1:] != tuple(task.shape) or len(x) != len(y):
        raise ValueError(f"test set of task {task.id}: x {x.shape}, y {y.shape}; the task says {task.shape}")
    if y.min() < 0 or y.max() >= task.model.classes:
        raise ValueError(f"test set of task {task.id}: labels outside 0..{task.model.classes - 1}")
    return TestSet(x=np.ascontiguousarray(x), y=y, sha256=hashlib.sha256(data).hexdigest())


class TestSetCache:
    def __init__(self, s3: Minio) -> None:
        self.s3 = s3
        self._cached: dict[str, tuple[str, TestSet]] = {}
        self._lock = asyncio.Lock()

    def _read(self, key: str) -> bytes:
        response = self.s3.get_object(BUCKET, key)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    async def get(self, task: Task) -> TestSet:
        etag = (await asyncio.to_thread(self.s3.stat_object, BUCKET, task.ground_truth)).etag or ""
        async with self._lock:
            cached = self._cached.get(task.id)
            if cached is None or cached[0] != etag:
                data = await asyncio.to_thread(self._read, task.ground_truth)
                test_set = await asyncio.to_thread(parse_test_set, data, task)  # decoding and hashing: off the loop
                self._cached[task.id] = cached = (etag, test_set)
            return cached[1]
