"""`podium submit` and `podium submissions` against the real platform show a team no private value before its task's
private board is revealed (the platform sends none), its own private score while it is revealed, and none again once
it is hidden."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from litestar.testing import AsyncTestClient

from tests.api import bearer
from tests.cli.podium_runner import Team, ok

MakeTeam = Callable[[], Awaitable[Team]]


async def set_reveal(gateway: AsyncTestClient, admin_token: str, task: str, revealed: bool) -> None:
    response = await gateway.post(f"/api/v1/admin/leaderboards/{task}/reveal", json={"revealed": revealed},
                                  headers=bearer(admin_token))
    assert response.status_code == 200, response.text
    async with asyncio.timeout(20):
        while (await gateway.get(f"/api/v1/leaderboards/{task}")).json()["private_revealed"] is not revealed:
            await asyncio.sleep(0.1)


async def test_the_cli_shows_no_private_value_before_the_reveal(
    make_team: MakeTeam, archive: Callable[..., Path], gateway: AsyncTestClient, admin_token: str
) -> None:
    team = await make_team()
    output = ok(await team.cli("submit", "lab", str(archive("lab", 0.1, seed=31))))
    found = re.search(r"submission (\d+) scored", output)
    assert found, output
    submission_id = int(found.group(1))
    private = (await gateway.get(f"/api/v1/submissions/{submission_id}", headers=bearer(admin_token))
               ).json()["private_score"]
    assert "public score" in output and "psnr_public" in output
    assert "private" not in output.lower(), output  # neither the private score nor psnr_private
    assert "private" not in ok(await team.cli("submissions", "--task", "lab")).lower()
    listed = json.loads(ok(await team.cli("submissions", "--json")))
    assert [(s["id"], s["private_score"]) for s in listed] == [(submission_id, None)]
    assert not [name for name in listed[0]["metrics"] if "private" in name]

    try:
        await set_reveal(gateway, admin_token, "lab", True)
        shown = ok(await team.cli("submissions", "--task", "lab"))
        assert "private" in shown and f"{private:.4f}" in shown, shown  # its own, now
        assert json.loads(ok(await team.cli("submissions", "--json")))[0]["private_score"] == private
    finally:  # other tests share the task: never leave its private board revealed
        await set_reveal(gateway, admin_token, "lab", False)
    assert "private" not in ok(await team.cli("submissions", "--task", "lab")).lower()
