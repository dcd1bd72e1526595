"""Podium issue 16, item 5, through the public API and the real cpu_scorer process: a result archive whose member
the decoding library cannot read — a meta tensor, a nested tensor, a safetensors dtype it cannot map (F4, F6_E2M3,
F8_E8M0) — ends `failed` with a reason naming the member on its first delivery, its quota kept, never retried as a
fault of the platform; a negated view is read with its values; and the scorer goes on scoring."""

from __future__ import annotations

import io
import json
import struct
import warnings
import zipfile
from pathlib import Path

import asyncpg
import numpy as np
import pytest
import torch
from litestar.testing import AsyncTestClient

from deploy.demo import make_ground_truth, npy_zip
from proto.competition import Competition
from tests.api import bearer, team_token
from tests.conftest import ScoringServices, task_of
from tests.service.refusals import assert_refused_once

FIRST = "sample_0000"


@pytest.fixture(scope="module")
def truth(competition: tuple[Path, Competition]) -> dict[str, np.ndarray]:
    return make_ground_truth(task_of(competition, "lab"))


def pt(tensor: torch.Tensor) -> bytes:
    buffer = io.BytesIO()
    torch.save(tensor, buffer)
    return buffer.getvalue()


def safetensors_of(dtype: str, shape: tuple[int, ...], bits: int) -> bytes:
    """A .safetensors file with one tensor of `dtype` (a code the library cannot map to torch), sized right."""
    nbytes = int(np.prod(shape)) * bits // 8
    header = json.dumps({"x": {"dtype": dtype, "shape": list(shape), "data_offsets": [0, nbytes]}}).encode()
    return struct.pack("<Q", len(header)) + header + b"\x00" * nbytes


def nested(shape: tuple[int, ...]) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "the PyTorch API of nested tensors is in prototype stage"
        return torch.nested.nested_tensor([torch.zeros(shape[1:]) for _ in range(shape[0])])


def archive(truth: dict[str, np.ndarray], first_name: str, first: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zipped:
        zipped.writestr(first_name, first)
        for name, array in list(truth.items())[1:]:
            member = io.BytesIO()
            np.save(member, array, allow_pickle=False)
            zipped.writestr(f"{name}.npy", member.getvalue())
    return buffer.getvalue()


async def upload(client: AsyncTestClient, token: str, data: bytes) -> dict:
    response = await client.post("/api/v1/tasks/lab/submissions?wait=30", headers=bearer(token),
                                 files={"file": ("s.zip", data, "application/zip")})
    assert response.status_code == 200, response.text
    return response.json()


def undecodable(truth: dict[str, np.ndarray]) -> dict[str, tuple[str, bytes, str]]:
    """case → (member name, its bytes, the refusal's words)."""
    shape = truth[FIRST].shape
    return {
        "meta tensor": (f"{FIRST}.pt", pt(torch.empty(shape, device="meta")), "on device 'meta', without its values"),
        "nested tensor": (f"{FIRST}.pt", pt(nested(shape)), "holds a nested tensor"),
        **{f"safetensors {dtype}": (f"{FIRST}.safetensors", safetensors_of(dtype, shape, bits),
                                    f"dtype '{dtype}', expected float32")
           for dtype, bits in (("F4", 4), ("F6_E2M3", 6), ("F8_E8M0", 8))},
    }


async def test_a_member_the_library_cannot_decode_fails_once_with_a_reason(
    gateway: AsyncTestClient, admin_token: str, pg_pool: asyncpg.Pool, scoring_services: ScoringServices,
    truth: dict[str, np.ndarray],
) -> None:
    team_id, token = await team_token(gateway, admin_token)
    cases = undecodable(truth)
    for case, (name, member, words) in cases.items():
        body = await upload(gateway, token, archive(truth, name, member))
        assert body["status"] == "failed", (case, body)
        assert body["reason"].startswith(f"{name}: ") and words in body["reason"], (case, body["reason"])
        await assert_refused_once(pg_pool, scoring_services, "cpu_scorer", body["id"])
    used = await pg_pool.fetchval(
        "SELECT coalesce(sum(used), 0) FROM submissions.quota_usage WHERE team_id = $1 AND task_id = 'lab'", team_id)
    assert used == 0  # each gave its slot back: only scored submissions count
    good = await upload(gateway, token, npy_zip(truth))
    assert good["status"] == "scored" and good["public_score"] == 100.0, good


async def test_a_negated_view_is_scored_by_its_values(
    gateway: AsyncTestClient, admin_token: str, truth: dict[str, np.ndarray]
) -> None:
    _, token = await team_token(gateway, admin_token)
    # The truth, stored negated with the sign as a flag (only this private function makes such a view).
    view = torch._neg_view(torch.from_numpy(-truth[FIRST]))  # pyright: ignore[reportPrivateImportUsage]
    body = await upload(gateway, token, archive(truth, f"{FIRST}.pt", pt(view)))
    assert body["status"] == "scored" and body["public_score"] == 100.0, body
