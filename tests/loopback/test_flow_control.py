"""Flow control: bounded dispatch turns, a bounded backlog that pauses reading, drop_oldest.

A ``/flood`` server sends numbered messages as fast as the client reads them; handlers that
take a millisecond fall behind it. Every wait is bounded and driven by the handler's progress.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from ipyws import Backlog, WebSocket
from ipyws._engine_picows import READ_MIN
from ipyws._engine_websockets import READ_SLICE
from tests.loopback.recording import WAIT, closed
from tests.servers import TestServer

# Reading stops within one slice of a read past the limit (the websockets engine parses
# READ_SLICE bytes at a time; the picows engine reads what the backlog has room for, at least
# READ_MIN bytes); these tests turn compression off, so that a slice holds what its bytes say.
# Messages that came in the same read as the handshake (up to 256 KiB) were parsed before the
# socket could count them: the peak is measured after them.
SLICES = {"websockets": READ_SLICE, "picows": READ_MIN}
FIRST_READ = 256 * 1024


class SlowHandler:
    """An ``onmessage`` that takes ``seconds`` per message and records each sequence number."""

    def __init__(
        self, ws_holder: list[WebSocket], seconds: float, until: int, size: int = 100
    ) -> None:
        self.seconds = seconds
        self.until = until
        self.after = FIRST_READ // size + 1
        self.seen: list[int] = []
        self.peak = Backlog(0, 0, False, 0)
        self.paused_seen = False
        self.done = threading.Event()
        self._holder = ws_holder

    def __call__(self, event: object) -> None:
        data = event.data  # type: ignore[attr-defined]
        self.seen.append(int(data.split(" ", 1)[0]))
        backlog = self._holder[0].backlog
        if len(self.seen) > self.after and backlog.bytes > self.peak.bytes:
            self.peak = backlog
        self.paused_seen = self.paused_seen or backlog.paused
        end = time.perf_counter() + self.seconds
        while time.perf_counter() < end:  # busy, as a parsing handler is
            pass
        if len(self.seen) >= self.until:
            self.done.set()


def flood(
    server: TestServer, size: int, seconds: float, until: int, n: int = 0, **options: object
) -> tuple[WebSocket, SlowHandler]:
    """Flood ``size``-character messages (``n`` of them, 0: endless) into a slow handler.

    Return once it handled ``until`` messages.
    """
    url = server.url(f"/flood?size={size}" + (f"&n={n}" if n else ""))
    holder: list[WebSocket] = []
    handler = SlowHandler(holder, seconds, until, size)
    ws = WebSocket(url, compression=False, **options)  # type: ignore[arg-type]
    holder.append(ws)
    ws.onmessage = handler
    assert handler.done.wait(60.0), (
        f"only {len(handler.seen)} of {until} messages handled; backlog {ws.backlog}"
    )
    return ws, handler


def test_a_full_backlog_pauses_reading_and_loses_nothing(wpt: TestServer, engine: str) -> None:
    """Past max_backlog reading pauses, the server is held back, every message comes in order."""
    size = 1000
    ws, handler = flood(wpt, size, 0.0005, 3000, max_backlog=200)
    assert handler.seen == list(range(len(handler.seen)))
    assert handler.paused_seen
    assert handler.peak.messages <= 200 + SLICES[engine] // size + 1
    # The server could send only what the client read, plus what TCP buffers hold: far fewer
    # than an unread flood would have pushed out meanwhile.
    backlog = ws.backlog
    assert backlog.dropped == 0
    assert wpt.flood_sent < len(handler.seen) + backlog.messages + 20_000
    ws.close()
    closed(ws)


def test_the_byte_limit_pauses_reading_too(wpt: TestServer, engine: str) -> None:
    """max_backlog_bytes bounds the backlog's payload bytes: 64 KiB of 4 KiB messages."""
    size = 4096
    ws, handler = flood(
        wpt,
        size,
        0.0005,
        500,
        max_backlog=None,
        max_backlog_bytes=64 * 1024,
    )
    assert handler.seen == list(range(len(handler.seen)))
    assert handler.paused_seen
    assert handler.peak.bytes <= 64 * 1024 + SLICES[engine] + size
    ws.close()
    closed(ws)


def test_reading_resumes_when_the_handlers_catch_up(wpt: TestServer) -> None:
    """A finite flood bigger than the backlog is delivered whole; at the end nothing waits."""
    count = 5000
    ws, handler = flood(wpt, 200, 0.0001, count, n=count, max_backlog=100)
    assert handler.seen == list(range(count))
    # The last resume may still be on its way to the I/O thread.
    deadline = time.monotonic() + WAIT
    while ws.backlog.paused and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ws.backlog == Backlog(0, 0, False, 0)
    ws.close()
    closed(ws)


def test_drop_oldest_keeps_the_newest_and_counts_the_rest(wpt: TestServer) -> None:
    """drop_oldest: the last max_backlog messages all arrive; the others are counted dropped."""
    count, kept = 20_000, 100
    holder: list[WebSocket] = []
    handler = SlowHandler(holder, 0.001, count)
    last = threading.Event()
    ws = WebSocket(wpt.url(f"/flood?n={count}&size=100"), max_backlog=kept, drop_oldest=True)
    holder.append(ws)

    def on_message(event: object) -> None:
        handler(event)
        if handler.seen[-1] == count - 1:
            last.set()

    ws.onmessage = on_message
    assert last.wait(60.0), f"the last message never came; saw {len(handler.seen)}"
    backlog = ws.backlog
    seen = handler.seen
    assert seen == sorted(seen)
    assert seen[-kept:] == list(range(count - kept, count))
    assert backlog.dropped == count - len(seen) > 0
    assert not handler.paused_seen
    drops = [r for r in ws.transcript.records() if r["type"] == "drop"]
    assert ws.transcript.lifecycle["drop"]["dropped"] <= backlog.dropped
    assert drops or ws.transcript.lifecycle["drop"]
    ws.close()
    closed(ws)


def test_the_default_never_drops(wpt: TestServer) -> None:
    """Without drop_oldest a flood faster than its handler is paused, never dropped."""
    ws, handler = flood(wpt, 100, 0.0002, 4000, max_backlog=50)
    assert handler.seen == list(range(len(handler.seen)))
    assert ws.backlog.dropped == 0
    assert "drop" not in ws.transcript.lifecycle
    ws.close()
    closed(ws)


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "10"])
def test_backlog_limits_are_validated(wpt: TestServer, value: object) -> None:
    """max_backlog and max_backlog_bytes take a positive int or None."""
    with pytest.raises((TypeError, ValueError)):
        WebSocket(wpt.url("/echo"), max_backlog=value)  # type: ignore[arg-type]
    with pytest.raises((TypeError, ValueError)):
        WebSocket(wpt.url("/echo"), max_backlog_bytes=value)  # type: ignore[arg-type]


def test_the_loop_gets_turns_while_a_flood_is_dispatched(wpt: TestServer) -> None:
    """With an endless flood into a slow handler, other callbacks of the loop still run soon."""

    async def main() -> list[float]:
        handled = 0

        def on_message(event: object) -> None:
            nonlocal handled
            handled += 1
            end = time.perf_counter() + 0.0005
            while time.perf_counter() < end:
                pass

        ws = WebSocket(wpt.url("/flood?size=100"), onmessage=on_message)
        await ws.opened
        while handled < 2000:  # the handler is behind: the inbox never empties from now on
            await asyncio.sleep(0.01)
        waits = []
        for _ in range(50):
            start = time.monotonic()
            await asyncio.sleep(0)
            waits.append(time.monotonic() - start)
        ws.close()
        await asyncio.wait_for(ws.closed, WAIT)
        return waits

    waits = asyncio.run(main())
    # One dispatch turn is 5 ms; unbounded, the first wait would have lasted until the flood
    # ended, which it never does. The bound leaves room for a busy machine's scheduling.
    assert max(waits) < 2.0, waits


@pytest.mark.engines("picows")
def test_reads_are_sized_by_the_room_in_the_backlog(
    wpt: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flood is read in reads bigger than READ_MIN while the backlog has room, and no read
    brings more than READ_MIN past the byte limit."""
    from ipyws import _engine_picows

    reads: list[int] = []
    original = _engine_picows._SlicedReads.buffer_updated

    def buffer_updated(self: _engine_picows._SlicedReads, nbytes: int) -> None:
        reads.append(nbytes)
        original(self, nbytes)

    monkeypatch.setattr(_engine_picows._SlicedReads, "buffer_updated", buffer_updated)
    limit = 8 * READ_MIN
    ws, handler = flood(wpt, 4096, 0.0002, 3000, max_backlog=None, max_backlog_bytes=limit)
    assert max(reads) > READ_MIN  # read at once: what the backlog had room for
    assert handler.peak.bytes <= limit + READ_MIN + 4096
    assert handler.seen == list(range(len(handler.seen)))
    ws.close()
    closed(ws)
