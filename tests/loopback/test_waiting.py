"""Waiting for a socket: blocking helpers, awaitables, async iteration, asyncio programs."""

from __future__ import annotations

import asyncio
import socket
import threading
import traceback
from typing import Any, assert_type

import pytest

from ipyws import CloseEvent, Event, MessageEvent, WebSocket, WebSocketClosedError
from tests.loopback.recording import WAIT, ProbeSocket, closed, connect
from tests.servers import HeldServer, TestServer

SHORT = 0.3
"""Seconds for waits that are meant to time out."""


# -- blocking helpers -------------------------------------------------------------------------


def test_wait_open_returns_socket(wpt: TestServer) -> None:
    """wait_open() returns the socket once OPEN, and at once when it already is."""
    ws = WebSocket(wpt.url("/echo"))
    assert ws.wait_open(timeout=WAIT) is ws
    assert ws.readyState == WebSocket.OPEN
    assert ws.wait_open(timeout=0) is ws


def test_wait_message_returns_next_message(wpt: TestServer) -> None:
    """wait_message() returns the next MessageEvent."""
    ws = WebSocket(wpt.url("/echo"))
    ws.wait_open(timeout=WAIT)
    ws.send("one")
    event = ws.wait_message(timeout=WAIT)
    assert isinstance(event, MessageEvent)
    assert event.data == "one"


def test_wait_message_gets_message_that_came_first(wpt: TestServer) -> None:
    """A message that arrived before wait_message() is returned, not skipped."""
    ws = WebSocket(wpt.url("/origin"))
    ws.wait_closed(timeout=WAIT)  # the one message was dispatched before this returns
    assert ws.wait_message(timeout=WAIT).data == ""


def test_wait_closed_returns_close_event(wpt: TestServer) -> None:
    """wait_closed() returns the CloseEvent, again on later calls."""
    ws = WebSocket(wpt.url("/remote-close?code=4000&reason=bye"))
    event = ws.wait_closed(timeout=WAIT)
    assert isinstance(event, CloseEvent)
    assert (event.code, event.reason) == (4000, "bye")
    assert ws.wait_closed(timeout=0) is event


def test_wait_message_times_out(wpt: TestServer) -> None:
    """wait_message() raises TimeoutError when no message comes in time; the socket stays OPEN."""
    ws = WebSocket(wpt.url("/echo"))
    ws.wait_open(timeout=WAIT)
    with pytest.raises(TimeoutError, match="no message event within"):
        ws.wait_message(timeout=SHORT)
    assert ws.readyState == WebSocket.OPEN
    ws.send("still works")
    assert ws.wait_message(timeout=WAIT).data == "still works"


def test_wait_open_times_out(held_server: HeldServer) -> None:
    """wait_open() raises TimeoutError while the handshake is still running."""
    ws = WebSocket(held_server.url)
    with pytest.raises(TimeoutError, match="readyState is CONNECTING"):
        ws.wait_open(timeout=SHORT)


def test_wait_open_on_failure_raises_closed_error(wpt: TestServer) -> None:
    """wait_open() on a failing connection raises WebSocketClosedError with the close event."""
    ws = WebSocket(wpt.url("/404"))
    with pytest.raises(WebSocketClosedError) as info:
        ws.wait_open(timeout=WAIT)
    assert isinstance(info.value, ConnectionError)
    assert info.value.event.code == 1006
    assert info.value.cause is not None
    assert "404" in str(info.value)


def test_wait_open_on_a_refused_port_shows_a_short_error(wpt: TestServer) -> None:
    """A refused connection's error shows in a few lines, the cause kept as .cause, unchained."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens on it once the probe closes
    ws = WebSocket(f"ws://127.0.0.1:{port}/")
    with pytest.raises(WebSocketClosedError) as info:
        ws.wait_open(timeout=WAIT)
    assert isinstance(info.value.cause, ConnectionRefusedError)
    assert str(info.value).endswith(str(info.value.cause))
    shown = "".join(traceback.format_exception(info.value))
    assert "direct cause" not in shown and "During handling" not in shown
    assert "asyncio" not in shown and len(shown.splitlines()) < 12, shown


def test_wait_message_after_close_raises_closed_error(wpt: TestServer) -> None:
    """wait_message() on a closed socket with no message left raises WebSocketClosedError."""
    ws = WebSocket(wpt.url("/echo"))
    ws.wait_open(timeout=WAIT)
    ws.close(1000, "done")
    ws.wait_closed(timeout=WAIT)
    with pytest.raises(WebSocketClosedError, match="code 1000"):
        ws.wait_message(timeout=WAIT)


def test_wait_message_raises_when_socket_closes_meanwhile(wpt: TestServer) -> None:
    """A wait_message() in progress ends with WebSocketClosedError when the socket closes."""
    ws = WebSocket(wpt.url("/echo_exit"))
    ws.wait_open(timeout=WAIT)
    ws.send("Goodbye")
    with pytest.raises(WebSocketClosedError):
        ws.wait_message(timeout=WAIT)


def test_wait_from_another_thread(wpt: TestServer) -> None:
    """Blocking helpers work from any thread."""
    ws = WebSocket(wpt.url("/echo"))
    results: list[Any] = []

    def worker() -> None:
        ws.wait_open(timeout=WAIT)
        ws.send("from thread")
        results.append(ws.wait_message(timeout=WAIT).data)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(WAIT * 2)
    assert results == ["from thread"]


def test_wait_inside_handler_does_not_deadlock(wpt: TestServer) -> None:
    """wait_message() inside a handler runs the pending tasks meanwhile instead of deadlocking."""
    got: list[Any] = []

    def on_open(ws: WebSocket, event: Event) -> None:
        ws.send("inner")
        got.append(ws.wait_message(timeout=WAIT).data)
        ws.close()

    ws, _ = connect(wpt.url("/echo"), on={"open": on_open})
    closed(ws)
    assert got == ["inner"]


# -- awaitables ---------------------------------------------------------------------------------


def test_awaitables_in_asyncio_program(wpt: TestServer) -> None:
    """await ws.opened / ws.next_message() / ws.closed work in an asyncio program."""

    async def main() -> tuple[Any, ...]:
        ws = WebSocket(wpt.url("/echo"))
        opened = await ws.opened
        ws.send("hi")
        message = await ws.next_message(timeout=WAIT)
        ws.close(1000, "done")
        event = await ws.closed
        return opened is ws, message.data, event.code, event.reason

    assert asyncio.run(asyncio.wait_for(main(), WAIT * 2)) == (True, "hi", 1000, "done")


def test_async_for_yields_messages_until_close(wpt: TestServer) -> None:
    """async for over a socket yields each message event and ends when it closes."""

    async def main() -> list[str]:
        ws = WebSocket(wpt.url("/echo"))
        await ws.opened
        for text in ("a", "b", "Goodbye"):
            ws.send(text)
        return [event.data async for event in ws]

    assert asyncio.run(asyncio.wait_for(main(), WAIT)) == ["a", "b", "Goodbye"]


def test_next_message_times_out(wpt: TestServer) -> None:
    """next_message(timeout) raises TimeoutError when nothing arrives."""

    async def main() -> None:
        ws = WebSocket(wpt.url("/echo"))
        await ws.opened
        await ws.next_message(timeout=SHORT)

    with pytest.raises(TimeoutError, match="no message event within"):
        asyncio.run(main())


def test_opened_raises_closed_error_on_failure(wpt: TestServer) -> None:
    """await ws.opened raises WebSocketClosedError when the connection fails."""

    async def main() -> None:
        ws = WebSocket(wpt.url("/invalid"))
        await asyncio.wait_for(ws.opened, WAIT)

    with pytest.raises(WebSocketClosedError) as info:
        asyncio.run(main())
    assert info.value.event.code == 1006


def test_next_message_raises_when_closed_first(wpt: TestServer) -> None:
    """await ws.next_message() raises WebSocketClosedError if the socket closes first."""

    async def main() -> None:
        ws = WebSocket(wpt.url("/remote-close?code=1000"))
        await ws.opened
        await ws.next_message(timeout=WAIT)

    with pytest.raises(WebSocketClosedError):
        asyncio.run(main())


def test_handlers_run_on_the_programs_loop(wpt: TestServer) -> None:
    """In an asyncio program handlers run on that program's loop thread, between awaits."""

    async def main() -> tuple[set[int], int, list[str]]:
        threads: set[int] = set()
        order: list[str] = []

        def record(event: Event) -> None:
            threads.add(threading.get_ident())
            order.append(event.type)

        ws = WebSocket(wpt.url("/echo"), onopen=record, onmessage=record, onclose=record)
        await ws.opened
        ws.send("x")
        await ws.next_message(timeout=WAIT)
        ws.close()
        await ws.closed
        return threads, threading.get_ident(), order

    threads, loop_thread, order = asyncio.run(asyncio.wait_for(main(), WAIT))
    assert threads == {loop_thread}
    assert order == ["open", "message", "close"]


def test_state_does_not_change_while_coroutine_runs(wpt: TestServer) -> None:
    """In an asyncio program readyState changes only when the coroutine yields to the loop."""

    async def main() -> tuple[int, int]:
        ws = ProbeSocket(wpt.url("/echo"))
        await ws.opened
        ws.close()
        assert ws.ended.wait(WAIT)  # the connection is over; this coroutine has not yielded
        before = int(ws.readyState)
        await ws.closed
        return before, int(ws.readyState)

    assert asyncio.run(asyncio.wait_for(main(), WAIT)) == (WebSocket.CLOSING, WebSocket.CLOSED)


def test_awaiting_a_plain_python_socket(wpt: TestServer) -> None:
    """A socket made outside any loop can be awaited from asyncio code on another thread."""
    ws = WebSocket(wpt.url("/echo"))

    async def main() -> str:
        await ws.opened
        ws.send("cross")
        event = await ws.next_message(timeout=WAIT)
        return str(event.data)

    assert asyncio.run(asyncio.wait_for(main(), WAIT)) == "cross"


def test_socket_outlives_its_asyncio_run(wpt: TestServer) -> None:
    """A socket created inside asyncio.run keeps delivering events after that loop is gone."""

    async def main() -> WebSocket:
        ws = WebSocket(wpt.url("/echo"))
        await ws.opened
        return ws

    ws = asyncio.run(asyncio.wait_for(main(), WAIT))
    ws.send("after the loop")
    assert ws.wait_message(timeout=WAIT).data == "after the loop"
    ws.close()
    assert ws.wait_closed(timeout=WAIT).wasClean


def test_the_waits_give_their_precise_types(wpt: TestServer) -> None:
    """Each wait returns the socket, a MessageEvent or the CloseEvent, as its type says."""

    async def main() -> tuple[WebSocket, MessageEvent, CloseEvent]:
        ws = WebSocket(wpt.url("/echo"))
        opened = assert_type(await ws.opened, WebSocket)
        ws.send("hello")
        message = assert_type(await ws.next_message(timeout=WAIT), MessageEvent)
        ws.close()
        return opened, message, assert_type(await ws.closed, CloseEvent)

    opened, message, close = asyncio.run(main())
    assert isinstance(opened, WebSocket) and message.data == "hello" and close.code == 1005
    ws = WebSocket(wpt.url("/echo"))
    assert assert_type(ws.wait_open(timeout=WAIT), WebSocket) is ws
    ws.send("again")
    assert assert_type(ws.wait_message(timeout=WAIT), MessageEvent).data == "again"
    ws.close(1000)
    assert assert_type(ws.wait_closed(timeout=WAIT), CloseEvent).code == 1000
