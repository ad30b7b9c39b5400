"""Blocking waits called on the dispatcher's own thread (a sync notebook cell, an asyncio loop)."""

from __future__ import annotations

import asyncio

from ipyws import WebSocket
from tests.loopback.recording import WAIT
from tests.servers import TestServer


def test_consecutive_sync_waits_on_the_loop_see_each_message_of_a_burst(wpt: TestServer) -> None:
    """Two sends then two wait_message() calls on the loop's own thread return both echoes."""

    async def main() -> list[str]:
        ws = WebSocket(wpt.url("/echo"))
        ws.wait_open(timeout=WAIT)
        for i in range(20):
            ws.send(str(i))
        try:
            return [ws.wait_message(timeout=WAIT).data for _ in range(20)]
        finally:
            ws.close()
            ws.wait_closed(timeout=WAIT)

    assert asyncio.run(main()) == [str(i) for i in range(20)]
