"""The system tests' fixtures beside the session's (tests/conftest.py)."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import admin_login


@pytest.fixture(scope="module")
async def admin_token(gateway: AsyncTestClient) -> str:
    """One admin token per module, minted when the module starts: a module-scoped fixture here (the hostile corpus's
    `world`) needs one, and a function-scoped token cannot be given to it. A module must finish within the token's
    life (PODIUM_ACCESS_TOKEN_TTL_S, 300 s in the tests); never keep one for the session."""
    return await admin_login(gateway)
