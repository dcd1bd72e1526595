"""Podium issue 16, through the public API and the real gpu_scorer process: a model that reads a file of the
scoring machine (external data hidden in a subgraph, a loop body, a function, a sparse tensor ...) and would send
its bytes back as the shape of its output is refused with a reason, and nothing of the file comes back — not in
the reason, not in the submission's log; a model whose output's shape carries data gets a reason that does not
quote it; a sparse_value constant is refused; and the scorer keeps scoring good models."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from litestar.testing import AsyncTestClient

from tests.api import bearer, team_token
from tests.onnx_models import baseline_weights, leaking_model, linear_model, shape_model, sparse_weights_model, to_bytes

# Everywhere external data can hide that the checks used to miss (and two that they caught).
HIDING = ("if_initializer", "if_constant", "loop_body", "scan_body", "function_constant", "sparse_initializer",
          "constant_sparse_value", "training_info", "initializer", "constant")
READ = 6  # bytes of the file a model asks for: an empty output of shape (0, b1 … b6)


@pytest.fixture
def planted(unique: str) -> Iterator[tuple[str, bytes]]:
    """A secret file under the scorer's working directory (the tests' own: the services are started from it),
    ignored by git; its path relative to that directory, and its bytes."""
    folder = Path.cwd() / "test-artifacts" / f"hostile-{unique}"
    folder.mkdir(parents=True)
    secret = f"Qz#J~x{unique}".encode()  # bytes that no reason would hold by chance
    (folder / "secret.txt").write_bytes(secret)
    try:
        yield str((folder / "secret.txt").relative_to(Path.cwd())), secret
    finally:
        shutil.rmtree(folder)


async def submit(client: AsyncTestClient, token: str, data: bytes) -> dict:
    response = await client.post("/api/v1/tasks/digits/submissions?wait=60", headers=bearer(token),
                                 files={"file": ("model.onnx", data, "application/octet-stream")})
    assert response.status_code == 200, response.text
    return response.json()


async def log_text(client: AsyncTestClient, token: str, submission_id: int) -> str:
    """The submission's scorer log, once its "not scored" line is in (log lines arrive just after the status)."""
    async with asyncio.timeout(10):
        while True:
            response = await client.get(f"/api/v1/submissions/{submission_id}/logs", headers=bearer(token))
            assert response.status_code == 200, response.text
            text = "\n".join(line["line"] for line in response.json()["lines"])
            if "not scored:" in text:
                return text
            await asyncio.sleep(0.1)


def assert_nothing_of(secret: bytes, text: str) -> None:
    """Not any three bytes in a row of those a model reads, as text or as the numbers of a shape."""
    secret = secret[:READ]
    for start in range(len(secret) - 2):
        piece = secret[start:start + 3]
        assert piece.decode() not in text, (piece, text)
        for separator in (", ", ","):
            assert separator.join(str(byte) for byte in piece) not in text, (piece, text)


async def test_a_model_reading_a_file_of_the_scorer_is_refused_and_nothing_of_the_file_comes_back(
    gateway: AsyncTestClient, admin_token: str, planted: tuple[str, bytes]
) -> None:
    location, secret = planted
    _, token = await team_token(gateway, admin_token)
    for where in HIDING:
        body = await submit(gateway, token, to_bytes(leaking_model(where, location, READ)))
        assert body["status"] == "failed", (where, body)
        assert body["reason"].startswith("the model refers to external data files"), (where, body["reason"])
        assert_nothing_of(secret, body["reason"])
        assert_nothing_of(secret, await log_text(gateway, token, body["id"]))
    good = await submit(gateway, token, to_bytes(linear_model(*baseline_weights())))
    assert good["status"] == "scored", good


async def test_an_output_shape_carrying_data_is_not_quoted_back(
    gateway: AsyncTestClient, admin_token: str
) -> None:
    _, token = await team_token(gateway, admin_token)
    carried = [0, 83, 69, 67, 82, 69, 84]  # "SECRET", as a model would have computed it
    body = await submit(gateway, token, to_bytes(shape_model(carried)))
    assert body["status"] == "failed", body
    assert body["reason"] == "the model returned a shape of 7 dimensions for a batch of 64; expected shape (64, 10)"
    small = await submit(gateway, token, to_bytes(shape_model([64, 9])))
    assert small["reason"] == "the model returned shape (64, 9) for a batch of 64; expected shape (64, 10)"


async def test_a_sparse_value_constant_is_refused(gateway: AsyncTestClient, admin_token: str) -> None:
    _, token = await team_token(gateway, admin_token)
    w, b = baseline_weights()
    body = await submit(gateway, token, to_bytes(sparse_weights_model(w, np.where(np.arange(10) % 2, b, 0))))
    assert body["status"] == "failed", body
    assert body["reason"].startswith("the model holds a sparse tensor 'b_values'"), body["reason"]
    assert "store every weight as a dense tensor" in body["reason"]
