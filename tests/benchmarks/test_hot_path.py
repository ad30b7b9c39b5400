"""The receive path's shortcuts give exactly what the general path gives.

ipyws hands unfragmented messages to the socket straight from websockets' parser, and builds
received message events without the constructor (see docs/performance.md); these tests pin
that the results are the same: every field of the event, message order across fragmented
and unfragmented messages, the byte sizes in the transcript.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import websockets
from websockets.asyncio.server import ServerConnection, serve

from ipyws import MessageEvent, WebSocket
from ipyws._events import Event, EventTarget

WAIT = 10.0

# What the server sends, in order: plain, fragmented, binary, non-ASCII (2- and 4-byte UTF-8),
# fragmented non-ASCII split inside a character, empty, and one above the transcript's data
# limit (64 KiB).
TEXT_FRAGMENTS = ["frag", "mented"]
SPLIT = "é😀".encode()
BIG = "y" * (70 * 1024)
EXPECTED: list[str | bytes] = [
    "first",
    "fragmented",
    b"\x00\x01\xff",
    "é😀",
    "é😀",
    "",
    BIG,
    "last",
]


async def _send_all(conn: ServerConnection) -> None:
    await conn.send("first")
    await conn.send(iter(TEXT_FRAGMENTS))
    await conn.send(b"\x00\x01\xff")
    await conn.send("é😀")
    # One text message in two frames, cut in the middle of "é": only the whole decodes.
    await conn.send(iter([SPLIT[:1], SPLIT[1:]]), text=True)
    await conn.send("")
    await conn.send(BIG)
    await conn.send("last")
    await conn.close(1000)


@pytest.fixture(scope="module")
def sequence_url() -> Iterator[str]:
    """The URL of a server that sends :data:`EXPECTED` (fragmenting some) and closes."""
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        async with serve(_send_all, "127.0.0.1", 0, compression=None) as server:
            box["url"] = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
            box["stop"] = asyncio.get_running_loop().create_future()
            box["loop"] = asyncio.get_running_loop()
            ready.set()
            await box["stop"]

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(WAIT)
    yield box["url"]
    box["loop"].call_soon_threadsafe(box["stop"].set_result, None)
    thread.join(WAIT)


def test_a_received_message_event_matches_the_constructor_dispatched() -> None:
    """A received message's event has every slot of ``MessageEvent("message", ...)``
    dispatched as trusted, during its dispatch and after."""
    slots = {name for cls in MessageEvent.__mro__ for name in getattr(cls, "__slots__", ())}
    assert slots >= {"data", "origin", "timeStamp", "cause", "target", "isTrusted"}
    names = sorted(slots - {"timeStamp", "target", "currentTarget"})
    during: dict[str, list[Any]] = {}
    fast_target, slow_target = EventTarget(), EventTarget()

    def recorder(key: str) -> Callable[[Any], None]:
        def record(event: Any) -> None:
            fields = [getattr(event, name) for name in names]
            during.setdefault(key, [event.currentTarget is event.target, *fields])

        return record

    fast_target.addEventListener("message", recorder("fast"))
    slow_target.addEventListener("message", recorder("slow"))
    fast = fast_target._dispatch_message("data", "ws://example.test", time.monotonic())
    slow = MessageEvent("message", data="data", origin="ws://example.test")
    slow_target._dispatch(slow, True)
    assert during["fast"] == during["slow"] and during["fast"][0] is True
    for name in names:
        assert getattr(fast, name) == getattr(slow, name), name
    assert type(fast) is MessageEvent and fast.target is fast_target
    assert fast.currentTarget is None and fast.eventPhase == Event.NONE and fast.isTrusted
    assert isinstance(fast.timeStamp, float) and fast.timeStamp <= slow.timeStamp


def test_messages_arrive_whole_and_in_order(sequence_url: str) -> None:
    """Fragmented and unfragmented messages reach onmessage in the order they were sent."""
    received: list[Any] = []

    def on_message(event: MessageEvent) -> None:
        data = event.data
        received.append(data if isinstance(data, str) else bytes(data))

    ws = WebSocket(sequence_url, onmessage=on_message, compression=False)
    ws.wait_closed(timeout=WAIT)
    assert received == EXPECTED


def test_transcript_sizes_are_exact_bytes(sequence_url: str) -> None:
    """The transcript counts each message's UTF-8 bytes, ASCII or not, truncated or not."""
    ws = WebSocket(sequence_url, compression=False)
    ws.wait_closed(timeout=WAIT)
    records = [r for r in ws.transcript.records() if r["type"] == "receive"]
    sizes = [len(m.encode()) if isinstance(m, str) else len(m) for m in EXPECTED]
    assert [r["size"] for r in records] == sizes
    assert [r["opcode"] for r in records] == [2 if isinstance(m, bytes) else 1 for m in EXPECTED]
    assert ws.transcript.bytes_in == sum(sizes)
    big = records[EXPECTED.index(BIG)]
    assert big.get("truncated") is True and len(big["data"]) == 64 * 1024


def test_a_wait_inside_a_handler_gets_the_next_message_of_the_burst(sequence_url: str) -> None:
    """wait_message() in onmessage returns the next message; every message still fires once."""
    received: list[Any] = []
    waited: list[Any] = []

    def on_message(event: MessageEvent) -> None:
        data = event.data
        received.append(data if isinstance(data, str) else bytes(data))
        if len(received) == 1:
            # On the dispatch thread: the rest of the burst runs inline in this wait.
            waited.append(ws.wait_message(timeout=WAIT).data)

    ws = WebSocket(sequence_url, onmessage=on_message, compression=False)
    ws.wait_closed(timeout=WAIT)
    assert waited == [EXPECTED[1]]
    assert received == EXPECTED


def test_the_shortcut_is_active_on_the_installed_websockets(sequence_url: str) -> None:
    """On the installed websockets, messages skip the Assembler: the feature check holds."""
    ws = WebSocket(sequence_url)
    ws.wait_closed(timeout=WAIT)  # the server sends its sequence and closes
    assert ws._connection.delivers_directly, (
        f"websockets {websockets.version.version} changed the internals the receive "
        "shortcut reads (see ipyws._transport.assembler_queue)"
    )
