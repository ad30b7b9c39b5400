"""The lifecycle on a real connection: event order and readyState (§5.1-5.5), server closes."""

from __future__ import annotations

import sys
import threading
import traceback
import urllib.parse

import pytest

import ipyws
import ipyws._dispatch
import ipyws._transport
from ipyws import CloseEvent, Event, MessageEvent, WebSocket
from tests.loopback.recording import WAIT, ProbeSocket, acquire, assert_failed, closed, connect
from tests.servers import TestServer


def test_open_message_close_order(wpt: TestServer) -> None:
    """open (OPEN), message (OPEN), close (CLOSED) fire in order; open already has protocol set."""
    protocols: list[str] = []

    def on_open(ws: WebSocket, event: Event) -> None:
        protocols.append(ws.protocol)
        ws.send("test")

    ws, rec = connect(
        wpt.url("/echo"), "echo", on={"open": on_open, "message": lambda ws, e: ws.close()}
    )
    event = closed(ws)
    assert rec.states == [("open", 1), ("message", 1), ("close", 3)]
    assert protocols == ["echo"]
    assert rec.messages() == ["test"]
    assert (event.code, event.reason, event.wasClean) == (1005, "", True)
    assert ws.readyState == WebSocket.CLOSED


def test_events_have_browser_types_and_context(wpt: TestServer) -> None:
    """Events are Event/MessageEvent/Event/CloseEvent, trusted, at target, never bubbling."""
    ws, rec = connect(wpt.url("/reserved-opcode"))
    closed(ws)
    assert rec.types == ["open", "message", "error", "close"]
    kinds = [type(s.event) for s in rec.seen]
    assert kinds == [Event, MessageEvent, Event, CloseEvent]
    for seen in rec.seen:
        event = seen.event
        assert event.target is ws
        assert seen.target_ok, "currentTarget is the socket during dispatch"
        assert seen.phase == Event.AT_TARGET
        assert event.isTrusted is True
        assert (event.bubbles, event.cancelable) == (False, False)


def test_reserved_opcode_gives_message_then_error_then_close(wpt: TestServer) -> None:
    """A valid frame then one with a reserved opcode: message (OPEN), error (CLOSED), close 1006."""
    ws, rec = connect(wpt.url("/reserved-opcode"))
    event = closed(ws)
    assert rec.states == [("open", 1), ("message", 1), ("error", 3), ("close", 3)]
    assert rec.messages() == ["test"]
    assert (event.code, event.wasClean) == (1006, False)
    assert rec.first("error").cause is not None


def test_listener_this_is_the_socket(wpt: TestServer) -> None:
    """A handleEvent listener is called with the socket as currentTarget (JS ``this``)."""
    targets: list[object] = []

    class Listener:
        def handleEvent(self, event: Event) -> None:
            targets.append(event.currentTarget)

    listener = Listener()
    ws = WebSocket(wpt.url("/echo"))
    for kind in ("message", "close"):
        ws.addEventListener(kind, listener)
    ws.wait_open(timeout=WAIT)
    ws.send("Goodbye")
    closed(ws)
    assert targets == [ws, ws]


def test_server_initiated_close_is_clean(wpt: TestServer) -> None:
    """After echoing "Goodbye", /echo closes with 1000: clean close, no error."""
    ws, rec = connect(wpt.url("/echo"), on={"open": lambda ws, e: ws.send("Goodbye")})
    event = closed(ws)
    assert rec.states == [("open", 1), ("message", 1), ("close", 3)]
    assert (event.code, event.reason, event.wasClean) == (1000, "", True)


def test_server_close_without_messages(wpt: TestServer) -> None:
    """/echo_exit never echoes: "Goodbye" gives a clean close and no message event."""
    ws, rec = connect(wpt.url("/echo_exit"), on={"open": lambda ws, e: ws.send("Goodbye")})
    event = closed(ws)
    assert rec.types == ["open", "close"]
    assert event.wasClean is True


@pytest.mark.parametrize(
    ("query", "code", "reason"),
    [
        pytest.param("code=1000", 1000, "", id="1000"),
        pytest.param("code=4000&reason=robot", 4000, "robot", id="4000-robot"),
        pytest.param(
            "code=4000&reason=" + urllib.parse.quote("ロボット"), 4000, "ロボット", id="utf8-reason"
        ),
        pytest.param("code=1001&reason=bye", 1001, "bye", id="1001"),
        pytest.param("", 1005, "", id="empty-close-frame-1005"),
    ],
)
def test_remote_close_code_and_reason(wpt: TestServer, query: str, code: int, reason: str) -> None:
    """A server-initiated close reports the server's code and reason (1005 for no body), clean."""
    ws, rec = connect(wpt.url(f"/remote-close?{query}"))
    event = closed(ws)
    assert rec.types == ["open", "close"]
    assert (event.code, event.reason, event.wasClean) == (code, reason, True)


def test_abrupt_server_drop_is_unclean(wpt: TestServer) -> None:
    """A server that drops TCP without a Close frame gives close 1006, not clean, after open."""
    ws, rec = connect(wpt.url("/remote-close?abrupt=1"))
    event = closed(ws)
    assert rec.types[0] == "open"
    assert rec.types[-1] == "close"
    assert "message" not in rec.types
    assert (event.code, event.reason, event.wasClean) == (1006, "", False)


def test_close_answered_by_tcp_drop_is_unclean(wpt: TestServer) -> None:
    """Our Close answered by a TCP drop gives close 1006, not clean."""
    ws, rec = connect(
        wpt.url("/passive-close-abort"), on={"open": lambda ws, e: ws.close(1000, "bye")}
    )
    event = closed(ws)
    assert rec.types[0] == "open"
    assert (event.code, event.wasClean) == (1006, False)


def test_messages_after_close_are_dropped(wpt: TestServer) -> None:
    """Messages received but not yet dispatched when close() runs fire no message event."""

    def on_open(ws: WebSocket, event: Event) -> None:
        assert isinstance(ws, ProbeSocket)
        for text in ("a", "b", "c"):
            ws.send(text)
        acquire(ws.arrived, 3)  # the echoes are in, their message tasks queued behind this one
        ws.close()

    ws, rec = connect(wpt.url("/echo"), probe=True, on={"open": on_open})
    event = closed(ws)
    assert rec.types == ["open", "close"]
    assert event.wasClean is True
    received = [r["data"] for r in ws.transcript if r["type"] == "receive"]
    assert received == ["a", "b", "c"]


def test_no_message_event_after_close_in_onmessage(wpt: TestServer) -> None:
    """After close() in the first onmessage, no further message event fires."""
    ws, rec = connect(wpt.url("/echo"), on={"message": lambda ws, e: ws.close()})
    ws.wait_open(timeout=WAIT)
    for text in ("1", "2", "3"):
        ws.send(text)
    closed(ws)
    assert rec.types == ["open", "message", "close"]


def test_no_error_on_clean_close(wpt: TestServer) -> None:
    """A clean close from either side fires no error event."""
    for url, close_first in ((wpt.url("/echo"), True), (wpt.url("/remote-close?code=1000"), False)):
        on = {"open": lambda ws, e: ws.close(1000)} if close_first else {}
        ws, rec = connect(url, on=on)
        closed(ws)
        assert "error" not in rec.types


# -- where handlers run -----------------------------------------------------------------------


def test_constructor_handlers_see_early_open(wpt: TestServer) -> None:
    """Handlers passed to the constructor are in place before open, so open is never missed."""
    for _ in range(5):
        opened: list[Event] = []
        ws = WebSocket(wpt.url("/echo"), onopen=opened.append)
        ws.wait_open(timeout=WAIT)
        assert len(opened) == 1
        ws.close()
        closed(ws)


def test_no_handler_runs_before_the_constructor_returns(
    wpt: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In plain Python, an open that arrives while the constructor runs waits until it returns."""
    # Set when the dispatch thread either runs onopen or waits for the constructor to return.
    dispatching = threading.Event()
    start = ipyws._transport.Connection.start
    hold = ipyws._dispatch._hold

    def start_and_wait_for_dispatch(self: ipyws._transport.Connection) -> None:
        start(self)
        # The handshake completes and is dispatched while the constructor still runs, as
        # on a busy machine.
        assert dispatching.wait(WAIT)

    def waiting(released: threading.Event) -> None:
        dispatching.set()
        hold(released)

    monkeypatch.setattr(ipyws._transport.Connection, "start", start_and_wait_for_dispatch)
    monkeypatch.setattr(ipyws._dispatch, "_hold", waiting)
    creator = threading.get_ident()
    in_constructor: list[bool] = []

    def on_open(event: Event) -> None:
        stack = traceback.extract_stack(sys._current_frames()[creator])
        in_constructor.append(
            any(f.name == "__init__" and f.filename == ipyws._websocket.__file__ for f in stack)
        )
        dispatching.set()

    ws = WebSocket(wpt.url("/echo"), onopen=on_open)
    ws.wait_open(timeout=WAIT)
    assert in_constructor == [False]
    ws.close()
    closed(ws)


def test_handlers_run_on_dispatch_thread_in_plain_python(wpt: TestServer) -> None:
    """In plain Python (no running loop) every handler runs on the ipyws-dispatch thread."""
    ws, rec = connect(wpt.url("/echo"), on={"open": lambda ws, e: ws.send("Goodbye")})
    closed(ws)
    assert {s.thread for s in rec.seen} == {"ipyws-dispatch"}
    assert len(rec.seen) == 3


def test_raising_handler_does_not_stop_others(
    wpt: TestServer, reported_errors: list[BaseException]
) -> None:
    """A handler that raises is reported; later listeners and the socket carry on."""
    boom = RuntimeError("boom")

    def bad(event: Event) -> None:
        raise boom

    ws, rec = connect(wpt.url("/echo"))

    def close_at_second(event: MessageEvent) -> None:
        if event.data == "2":
            ws.close()

    ws.addEventListener("message", bad)
    ws.addEventListener("message", close_at_second)
    ws.wait_open(timeout=WAIT)
    ws.send("1")
    ws.send("2")
    event = closed(ws)
    assert rec.messages() == ["1", "2"]
    assert reported_errors == [boom, boom]
    assert event.wasClean is True


# -- the registry -------------------------------------------------------------------------------


def test_registry_lists_open_sockets_and_drops_closed(wpt: TestServer) -> None:
    """ipyws.sockets() holds a socket from construction until it is CLOSED."""
    ws, _ = connect(wpt.url("/echo"))
    assert ws in ipyws.sockets()
    ws.wait_open(timeout=WAIT)
    assert ws in ipyws.sockets()
    ws.close()
    closed(ws)
    assert ws not in ipyws.sockets()


def test_registry_drops_failed_socket(wpt: TestServer) -> None:
    """A socket whose connection failed is not in ipyws.sockets()."""
    ws, rec = connect(wpt.url("/404"))
    assert_failed(ws, rec)
    assert ws not in ipyws.sockets()
