"""Closing on a real connection: codes, reasons, wasClean, timing and repeated calls (§4)."""

from __future__ import annotations

import asyncio
import time

import pytest

from ipyws import CloseEvent, Event, WebSocket
from tests.loopback.recording import WAIT, closed, connect
from tests.servers import HeldServer, TestServer


@pytest.mark.parametrize(
    ("args", "code", "reason"),
    [
        pytest.param((), 1005, "", id="no-arguments-1005"),
        pytest.param((None,), 1005, "", id="None-1005"),
        pytest.param((1000,), 1000, "", id="1000"),
        pytest.param((1000, "Clean Close"), 1000, "Clean Close", id="1000-reason"),
        pytest.param((3000, "Clean Close"), 3000, "Clean Close", id="3000-reason"),
        pytest.param((4999, "Clean Close"), 4999, "Clean Close", id="4999-reason"),
        pytest.param((1000, "\ud807"), 1000, "\ufffd", id="unpaired-surrogate-reason"),
        pytest.param((1000, "é" * 61 + "x"), 1000, "é" * 61 + "x", id="123-byte-reason"),
        pytest.param((None, "only reason"), 1000, "only reason", id="reason-without-code"),
    ],
)
def test_close_code_and_reason_are_echoed(
    wpt: TestServer, args: tuple[object, ...], code: int, reason: str
) -> None:
    """close() in onopen: CLOSING at once, then a clean close with the code and reason echoed."""
    states: list[int] = []

    def on_open(ws: WebSocket, event: Event) -> None:
        ws.close(*args)  # type: ignore[arg-type]
        states.append(ws.readyState)

    ws, rec = connect(wpt.url("/echo"), on={"open": on_open})
    event = closed(ws)
    assert states == [WebSocket.CLOSING]
    assert rec.states == [("open", 1), ("close", 3)]
    assert (event.code, event.reason, event.wasClean) == (code, reason, True)


def test_close_from_main_thread(wpt: TestServer) -> None:
    """close() called from the main thread in plain Python closes cleanly too."""
    ws = WebSocket(wpt.url("/echo"))
    ws.wait_open(timeout=WAIT)
    ws.close(1000, "bye")
    # The dispatch thread may already have fired close: only "not OPEN" is certain here.
    assert ws.readyState in (WebSocket.CLOSING, WebSocket.CLOSED)
    event = closed(ws)
    assert (event.code, event.reason, event.wasClean) == (1000, "bye", True)


def test_server_close_wins_when_both_close(wpt: TestServer) -> None:
    """101 and Close (1001 PASS) in one packet: open, then close 1001 PASS despite our close()."""
    ws, rec = connect(
        wpt.url("/simple_handshake"), on={"open": lambda ws, e: ws.close(4000, "local")}
    )
    event = closed(ws)
    assert rec.types == ["open", "close"]
    assert (event.code, event.reason, event.wasClean) == (1001, "PASS", True)


def test_close_waits_for_closing_handshake(wpt: TestServer) -> None:
    """With a server that answers our Close after 1 s, close fires no sooner than ~0.9 s, clean."""
    ws = WebSocket(wpt.url("/delayed-passive-close"))
    ws.wait_open(timeout=WAIT)
    start = time.monotonic()
    ws.close()
    event = closed(ws)
    assert time.monotonic() - start >= 0.9
    assert event.wasClean is True


def test_close_three_times_gives_one_close_event(wpt: TestServer) -> None:
    """close() three times in a row gives exactly one close event."""

    def on_open(ws: WebSocket, event: Event) -> None:
        ws.close()
        ws.close(1000)
        ws.close(3000, "x")

    ws, rec = connect(wpt.url("/echo"), on={"open": on_open})
    event = closed(ws)
    assert rec.types == ["open", "close"]
    assert event.code == 1005


def test_close_in_onclose_is_a_no_op(wpt: TestServer) -> None:
    """close() inside onclose raises nothing, leaves CLOSED and fires no second close event."""
    states: list[int] = []

    def on_close(ws: WebSocket, event: Event) -> None:
        ws.close()
        ws.close(1000, "again")
        states.append(ws.readyState)

    ws, rec = connect(wpt.url("/echo"), on={"open": lambda ws, e: ws.close(), "close": on_close})
    closed(ws)
    ws.close()
    assert states == [WebSocket.CLOSED]
    assert rec.types == ["open", "close"]
    assert ws.readyState == WebSocket.CLOSED


def test_close_while_connecting(held_server: HeldServer) -> None:
    """close() while CONNECTING: CLOSING at once, then error and close 1006 unclean, never open."""

    async def main() -> tuple[list[str], list[tuple[str, int]], CloseEvent]:
        ws, rec = connect(held_server.url)
        ws.close()
        # Handlers run on this loop, so nothing can have fired before close() returned.
        early = list(rec.types)
        assert ws.readyState == WebSocket.CLOSING
        event: CloseEvent = await asyncio.wait_for(ws.closed, WAIT)
        return early, rec.states, event

    early, states, event = asyncio.run(main())
    assert early == []
    assert states == [("error", 3), ("close", 3)]
    assert (event.code, event.reason, event.wasClean) == (1006, "", False)


def test_close_right_after_constructor_in_plain_python(held_server: HeldServer) -> None:
    """close() right after the constructor gives error then close 1006 and no open."""
    # The held handshake keeps the socket CONNECTING while this thread calls close().
    ws, rec = connect(held_server.url)
    ws.close()
    # The failure may already have been dispatched on the ipyws-dispatch thread.
    assert ws.readyState in (WebSocket.CLOSING, WebSocket.CLOSED)
    event = closed(ws)
    assert rec.types == ["error", "close"]
    assert (event.code, event.wasClean) == (1006, False)
    assert isinstance(rec.first("error").cause, ConnectionError)


def test_send_inside_onclose_does_nothing(wpt: TestServer) -> None:
    """send() inside onclose after a server close raises nothing and fires nothing."""
    ws, rec = connect(
        wpt.url("/remote-close?code=1000"), on={"close": lambda ws, e: ws.send("late")}
    )
    closed(ws)
    assert rec.types == ["open", "close"]


def test_a_failure_inside_ipyws_on_a_message_fails_the_connection(
    wpt: TestServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """If ipyws itself fails on a received message: logged, error, close 1006; others go on."""

    def broken(self: WebSocket, data: object) -> None:
        raise RuntimeError("a bug in ipyws")

    errors: list[Event] = []
    with monkeypatch.context() as patch:
        # An engine reports one message (websockets) or the messages of a read (picows).
        patch.setattr(WebSocket, "_io_message", broken)
        patch.setattr(WebSocket, "_io_messages", broken)
        ws = WebSocket(wpt.url("/echo"), onerror=errors.append)
        ws.wait_open(timeout=WAIT)  # the I/O thread takes the method when it opens
    ws.send("hello")
    event = ws.wait_closed(timeout=WAIT)
    assert (event.code, event.wasClean, len(errors)) == (1006, False, 1)
    assert "a bug in ipyws" in str(errors[0].cause)
    assert "ipyws stopped reading" in caplog.text
    other = WebSocket(wpt.url("/echo"))
    other.wait_open(timeout=WAIT)
    other.send("still works")
    assert other.wait_message(timeout=WAIT).data == "still works"
    other.close()
