"""A slow WebSocket client falls behind only on itself: boards coalesce to the latest, and a full queue drops
its oldest message."""

from __future__ import annotations

from gateway.live import QUEUE_LIMIT, LiveClient
from proto.rpc import Principal


async def test_boards_coalesce_to_the_latest_per_task() -> None:
    client = LiveClient(Principal(account_id="1", name="a", role="team"))
    for revision in range(50):
        client.push_board("recon", f"recon-{revision}".encode())
    client.push_board("lab", b"lab-1")
    assert await client.next_messages() == [b"recon-49", b"lab-1"]


async def test_a_full_queue_drops_the_oldest() -> None:
    client = LiveClient(Principal(account_id="1", name="a", role="team"))
    for n in range(QUEUE_LIMIT + 10):
        client.push(str(n).encode())
    messages = await client.next_messages()
    assert len(messages) == QUEUE_LIMIT and client.dropped == 10
    assert messages[0] == b"10" and messages[-1] == str(QUEUE_LIMIT + 9).encode()
