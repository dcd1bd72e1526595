"""Ground truth from object storage: one ZIP of `.npy` arrays per task (`<sample>.npy`), loaded once,
kept in memory for the next submissions (a bounded number of tasks), reloaded when the object changes."""

from __future__ import annotations

import asyncio
import hashlib
import io
import zipfile
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from minio import Minio

from proto.competition import Task

BUCKET = "ground-truth"


@dataclass(frozen=True)
class GroundTruth:
    arrays: dict[str, np.ndarray]  # sample name -> float32 array, in the task's sample order
    sha256: str
    etag: str


def parse_ground_truth(data: bytes, task: Task) -> dict[str, np.ndarray]:
    """Our own trusted archive, still read without pickle: `<sample>.npy` for every sample of the task."""
    arrays = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
        for sample in task.sample_names():
            member = f"{sample}.npy"
            if member not in names:
                raise ValueError(f"ground truth of task {task.id} lacks {member}")
            array = np.load(io.BytesIO(archive.read(member)), allow_pickle=False)
            if tuple(array.shape) != tuple(task.shape):
                raise ValueError(f"ground truth {member} has shape {array.shape}, the task says {task.shape}")
            arrays[sample] = np.ascontiguousarray(array, dtype=np.float32)
    return arrays


class GroundTruthCache:
    def __init__(self, s3: Minio, max_tasks: int) -> None:
        self.s3 = s3
        self.max_tasks = max_tasks
        self._entries: OrderedDict[str, GroundTruth] = OrderedDict()
        self._lock = asyncio.Lock()

    def _load(self, task: Task, etag: str) -> GroundTruth:
        response = self.s3.get_object(BUCKET, task.ground_truth)
        try:
            data = response.read()
        finally:
            response.close()
            response.release_conn()
        return GroundTruth(parse_ground_truth(data, task), hashlib.sha256(data).hexdigest(), etag)

    async def get(self, task: Task) -> GroundTruth:
        etag = (await asyncio.to_thread(self.s3.stat_object, BUCKET, task.ground_truth)).etag or ""
        async with self._lock:  # one load per task even when submissions arrive together
            cached = self._entries.get(task.id)
            if cached is None or cached.etag != etag:
                cached = await asyncio.to_thread(self._load, task, etag)
                self._entries[task.id] = cached
            self._entries.move_to_end(task.id)
            while len(self._entries) > self.max_tasks:
                self._entries.popitem(last=False)
            return cached
