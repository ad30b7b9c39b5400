"""Reconnect under real faults: a server process killed and restarted, refused connections,
server closes, a dead peer's keepalive timeout; close() and reconnect() at any moment.

Server processes run ``python -m ipyws.demo`` on 127.0.0.1 and are killed with SIGKILL (no
closing handshake), then started again on the same port. Every wait is bounded and driven by
the socket's own events.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import ipyws
from ipyws import InvalidStateError, Reconnect, ReconnectEvent, WebSocket
from ipyws._dispatch import held
from ipyws._transport import io_thread
from tests.faults.events import EventLog
from tests.faults.server_process import ServerProcess
from tests.servers import TestServer

WAIT = 10.0
"""Seconds a wait may take: a reconnect crosses a backoff wait and a handshake."""

FAST = Reconnect(initial_delay=0.05, max_delay=0.2)
"""A policy that retries within a fraction of a second, so tests stay short."""


@pytest.fixture
def echo_process() -> Iterator[ServerProcess]:
    """The demo echo server in its own process (killed at the end if still running)."""
    with ServerProcess("echo") as server:
        yield server


@pytest.fixture
def free_port() -> int:
    """A loopback port nothing listens on: connections to it are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_sigkill_then_restart_reopens_the_same_object(echo_process: ServerProcess) -> None:
    """After SIGKILL and a restart on the same port the same object reopens and works again."""
    log = EventLog({"open": lambda ws, _: ws.send(f"hello #{len(log.of('open'))}")})
    ws = WebSocket(echo_process.url, reconnect=FAST, **log.handlers())
    log.wait_count("message", 1, WAIT)
    echo_process.kill()
    # While the server is down the attempts are refused: error and close 1006 each time.
    log.wait_for(lambda: len(log.reconnects()) >= 3, WAIT, "refused attempts")
    echo_process.start()
    log.wait_count("message", 2, WAIT)
    assert log.messages() == ["hello #1", "hello #2"]
    assert ws.readyState == WebSocket.OPEN
    opens = [r for r in ws.transcript.records() if r["type"] == "open"]
    assert len(opens) == 2, "the transcript shows both connections"
    first_close = log.closes()[0]
    assert (first_close.code, first_close.wasClean) == (1006, False)
    # Every connection fired the browser's events in the browser's order.
    types = log.types
    assert types[:3] == ["open", "message", "close"]
    assert types[-2:] == ["open", "message"]
    for seen in log.seen:
        expected = {"open": 1, "message": 1, "error": 3, "close": 3, "reconnect": 0}[seen.type]
        assert seen.ready_state == expected, (seen.type, seen.ready_state)
    ws.close()
    assert ws.wait_closed(WAIT).code == 1005


def test_refused_connections_back_off_jittered_and_capped(free_port: int) -> None:
    """While nothing listens, attempts repeat after waits that grow, jittered, up to the cap."""
    policy = Reconnect(initial_delay=0.02, max_delay=0.16, factor=2.0, jitter=0.5)
    log = EventLog()
    ws = WebSocket(f"ws://127.0.0.1:{free_port}/", reconnect=policy, **log.handlers())
    log.wait_for(lambda: len(log.reconnects()) >= 7, WAIT, "seven attempts")
    ws.close()
    ws.wait_closed(WAIT)
    events = log.reconnects()[:7]
    assert [e.attempt for e in events] == [1, 2, 3, 4, 5, 6, 7]
    for event in events:
        top = policy.nominal_delay(event.attempt)
        assert top / 2 <= event.delay <= top, (event.attempt, event.delay)
        assert (event.code, event.wasClean) == (1006, False)
    assert [policy.nominal_delay(n) for n in range(1, 8)] == [0.02, 0.04, 0.08, 0.16] + [0.16] * 3
    assert len({e.delay for e in events}) == 7, "each wait is drawn at random"
    # The waits really happen: each attempt's failure comes no sooner than its delay.
    records = ws.transcript.records()
    for index, record in enumerate(records):
        if record["type"] == "reconnect" and record["attempt"] <= 6:
            after = next(r for r in records[index:] if r["type"] == "close")
            assert after["time"] - record["time"] >= record["delay"] - 0.005


def test_close_during_a_backoff_wait_stops_everything(free_port: int) -> None:
    """close() during a 30 s backoff wait ends it at once: error, close 1006, no attempt more."""
    policy = Reconnect(initial_delay=30.0, max_delay=30.0, jitter=0.0)
    log = EventLog()
    ws = WebSocket(f"ws://127.0.0.1:{free_port}/", reconnect=policy, **log.handlers())
    log.wait_count("reconnect", 1, WAIT)
    assert ws.readyState == WebSocket.CONNECTING
    # Handlers run on the dispatch thread here, which may fire the final close as soon as
    # close() returns: hold it, as a browser's script holds its event loop, to see CLOSING.
    with held(ws._dispatcher):
        ws.close()
        assert ws.readyState == WebSocket.CLOSING
        assert log.types == ["error", "close", "reconnect"]
    event = ws.wait_closed(timeout=5.0)
    assert (event.code, event.wasClean) == (1006, False)
    assert log.types == ["error", "close", "reconnect", "error", "close"]
    assert ws.readyState == WebSocket.CLOSED
    assert ws not in ipyws.sockets()
    assert ws._io_timer is None, "the backoff timer is canceled"
    assert ws.transcript.records()[-1]["type"] == "close"


def test_close_in_onclose_makes_that_close_the_last() -> None:
    """close() from an onclose handler stops reconnecting: no reconnect event, waits end."""
    with TestServer() as server:
        log = EventLog({"close": lambda ws, _: ws.close()})
        ws = WebSocket(server.url("/remote-close?code=4000"), reconnect=FAST, **log.handlers())
        assert ws.wait_closed(WAIT).code == 4000
        assert log.types == ["open", "close"]
        assert ws not in ipyws.sockets()
        with pytest.raises(ipyws.WebSocketClosedError):
            ws.wait_open(timeout=1.0)


@pytest.mark.parametrize("code", [1000, 1001, 1011])
def test_the_client_retries_whatever_code_the_server_closes_with(code: int) -> None:
    """A server close with 1000, 1001 or 1011 is followed by a reconnect: the client retries."""
    with TestServer() as server:
        log = EventLog()
        ws = WebSocket(server.url(f"/remote-close?code={code}"), reconnect=FAST, **log.handlers())
        log.wait_count("open", 2, WAIT)
        ws.close()
        ws.wait_closed(WAIT)
    first = log.reconnects()[0]
    assert (first.attempt, first.code, first.wasClean) == (1, code, True)
    assert log.types[:4] == ["open", "close", "reconnect", "open"]


def test_keepalive_timeout_leads_to_a_reconnect() -> None:
    """A peer that stops answering pings fails the connection (1006), then the socket reconnects."""
    with TestServer() as server:
        log = EventLog()
        ws = WebSocket(
            server.url("/ping-timeout"),
            ping_interval=0.2,
            ping_timeout=0.3,
            close_timeout=0.5,
            reconnect=FAST,
            **log.handlers(),
        )
        log.wait_count("open", 2, WAIT)
        ws.close(1000)
        ws.wait_closed(WAIT)
    assert log.types[:5] == ["open", "error", "close", "reconnect", "open"]
    assert isinstance(log.of("error")[0].cause, TimeoutError)
    assert log.closes()[0].code == 1006


def test_max_attempts_gives_up_with_a_final_close(free_port: int) -> None:
    """After max_attempts refused attempts in a row the last close is final."""
    policy = Reconnect(initial_delay=0.01, max_delay=0.02, max_attempts=3)
    log = EventLog()
    ws = WebSocket(f"ws://127.0.0.1:{free_port}/", reconnect=policy, **log.handlers())
    ws.wait_closed(WAIT)
    assert [e.attempt for e in log.reconnects()] == [1, 2, 3]
    assert log.types.count("close") == 4
    assert ws not in ipyws.sockets()


@pytest.mark.parametrize(("reset_after", "attempts"), [(0.0, [1, 1, 1]), (60.0, [1, 2, 3])])
def test_attempts_start_again_after_a_connection_that_stayed_up(
    reset_after: float, attempts: list[int]
) -> None:
    """Attempts count up while connections end early and start again at 1 after reset_after."""
    policy = Reconnect(initial_delay=0.01, max_delay=0.02, reset_after=reset_after)
    with TestServer() as server:
        log = EventLog()
        ws = WebSocket(server.url("/remote-close?code=1011"), reconnect=policy, **log.handlers())
        log.wait_count("reconnect", 3, WAIT)
        ws.close()
        ws.wait_closed(WAIT)
    assert [e.attempt for e in log.reconnects()][:3] == attempts


def test_send_while_reconnecting_raises_and_nothing_is_queued(echo_process: ServerProcess) -> None:
    """send() between connections raises InvalidStateError; the new connection sends nothing old."""
    failures: list[BaseException] = []

    def try_send(ws: WebSocket, event: Any) -> None:
        try:
            ws.send("lost")
        except InvalidStateError as exc:
            failures.append(exc)

    log = EventLog({"reconnect": try_send})
    ws = WebSocket(echo_process.url, reconnect=FAST, **log.handlers())
    ws.wait_open(WAIT)
    echo_process.kill()
    log.wait_count("reconnect", 1, WAIT)
    echo_process.start()
    ws.wait_open(WAIT)
    ws.send("after")
    assert ws.wait_message(WAIT).data == "after"
    assert failures and "reconnecting, attempt 1" in str(failures[0])
    assert ws.bufferedAmount == 0
    sent = [r["data"] for r in ws.transcript.records() if r["type"] == "send"]
    assert sent == ["after"]
    ws.close()
    ws.wait_closed(WAIT)


def test_messages_of_two_connections_never_interleave_with_their_events() -> None:
    """Messages of a connection are dispatched before its close and after the next open."""
    release = threading.Event()
    reopened = threading.Event()

    class Watched(WebSocket):
        def _io_open(self, *args: Any) -> None:
            super()._io_open(*args)
            if len(self.transcript.lifecycle.get("reconnect", {})):
                reopened.set()

    def hold(ws: WebSocket, event: Any) -> None:
        if len(log.of("message")) == 1:
            release.wait(WAIT)  # the dispatch thread stalls while the I/O side goes on

    with ServerProcess("ticker", "--rate", "200") as ticker:
        log = EventLog({"message": hold})
        ws = Watched(ticker.url, reconnect=FAST, **log.handlers())
        log.wait_count("message", 1, WAIT)
        ticker.kill()
        ticker.start()
        assert reopened.wait(WAIT)
        release.set()
        log.wait_for(lambda: log.types.count("open") == 2, WAIT, "the second open")
        log.wait_for(lambda: log.types[-1] == "message", WAIT, "a message of the reopened one")
        ws.close()
        ws.wait_closed(WAIT)
    types = log.types
    first_close = types.index("close")
    second_open = types.index("open", first_close)
    assert "message" not in types[first_close:second_open]
    assert all(s.ready_state == 1 for s in log.seen if s.type == "message")


def test_reconnect_method_brings_a_closed_socket_back() -> None:
    """ws.reconnect() on a CLOSED socket without reconnect= opens it again, same object."""
    with TestServer() as server:
        log = EventLog()
        ws = WebSocket(server.url("/echo"), **log.handlers())
        ws.wait_open(WAIT)
        ws.close(1000, "first")
        ws.wait_closed(WAIT)
        assert ws not in ipyws.sockets()
        ws.reconnect()
        ws.wait_open(WAIT)
        assert ws in ipyws.sockets()
        ws.send("back")
        assert ws.wait_message(WAIT).data == "back"
        ws.close()
        assert ws.wait_closed(WAIT).code == 1005
    event = log.reconnects()[0]
    assert (event.attempt, event.delay, event.code, event.reason) == (1, 0.0, 1000, "first")
    assert log.types == ["open", "close", "reconnect", "open", "message", "close"]


def test_reconnect_method_on_an_open_socket_closes_then_reopens() -> None:
    """ws.reconnect() while OPEN closes (1000 "reconnect") and reopens at once."""
    with TestServer() as server:
        log = EventLog()
        ws = WebSocket(server.url("/echo"), **log.handlers())
        ws.wait_open(WAIT)
        ws.reconnect()
        log.wait_count("open", 2, WAIT)
        closes = log.closes()
        assert [(e.code, e.reason, e.wasClean) for e in closes] == [(1000, "reconnect", True)]
        assert log.types == ["open", "close", "reconnect", "open"]
        ws.close()
        ws.wait_closed(WAIT)
        # Without reconnect= a close after the reconnect is final again.
        assert ws not in ipyws.sockets()


def test_reconnect_event_is_an_event_with_the_last_close() -> None:
    """The reconnect event carries attempt, delay and the last close; onreconnect sees it."""
    reconnected = threading.Event()
    seen: list[ReconnectEvent] = []

    def on_reconnect(event: ReconnectEvent) -> None:
        seen.append(event)
        reconnected.set()

    with TestServer() as server:
        ws = WebSocket(
            server.url("/remote-close?code=4001&reason=later"),
            reconnect=Reconnect(initial_delay=0.05, max_delay=0.05, jitter=0.0),
            onreconnect=on_reconnect,
        )
        assert reconnected.wait(WAIT)
        ws.wait_open(WAIT)  # a wait for open after a close waits for the next connection
        ws.close()
        ws.wait_closed(WAIT)
    event = seen[0]
    assert (event.type, event.attempt, event.delay) == ("reconnect", 1, 0.05)
    assert (event.code, event.reason, event.wasClean, event.isTrusted) == (
        4001,
        "later",
        True,
        True,
    )
    assert event.target is ws
    assert ws.reconnect_attempt >= 1


def test_no_attempt_is_left_running_at_io_thread_exit_checks(free_port: int) -> None:
    """A socket closed during its backoff leaves no connection on the I/O thread."""
    ws = WebSocket(f"ws://127.0.0.1:{free_port}/", reconnect=FAST)
    log_closed = ws.wait_closed
    ws.close()
    log_closed(WAIT)
    assert all(c._sink is not ws._sink for c in io_thread().connections)


def test_async_iteration_goes_on_through_a_reconnect(echo_process: ServerProcess) -> None:
    """async for over the socket yields messages of both connections and ends at the close."""

    async def main() -> list[str]:
        ws = WebSocket(echo_process.url, reconnect=FAST)
        ws.onopen = lambda event: ws.send(f"connection {len(ws.transcript.records())}")
        seen: list[str] = []
        async for event in ws:
            seen.append(str(event.data))
            if len(seen) == 1:
                # The server dies and comes back; the iteration waits through it.
                await asyncio.to_thread(echo_process.kill)
                await asyncio.to_thread(echo_process.start)
            else:
                ws.close()
        return seen

    seen = asyncio.run(asyncio.wait_for(main(), WAIT))
    assert len(seen) == 2 and all(text.startswith("connection ") for text in seen)


def test_reconnect_called_before_the_final_close_is_dispatched() -> None:
    """reconnect() after the I/O side reported the last close, before it was dispatched."""
    release = threading.Event()
    ended = threading.Event()

    class Watched(WebSocket):
        def _io_closed(self, *args: Any) -> None:
            super()._io_closed(*args)
            ended.set()

    with TestServer() as server:
        log = EventLog({"message": lambda ws, event: release.wait(WAIT)})
        ws = Watched(server.url("/echo"), **log.handlers())
        ws.wait_open(WAIT)
        ws.send("Goodbye")  # the echo server closes after echoing it; the handler holds on
        # The echo must be in its handler before reconnect(): like close(), reconnect() turns
        # the socket CLOSING, and a browser drops what a socket not OPEN still has to deliver.
        log.wait_count("message", 1, WAIT)
        assert ended.wait(WAIT)
        # The final close is reported but not dispatched yet: the socket is still OPEN.
        assert ws.readyState == WebSocket.OPEN
        ws.reconnect()
        release.set()
        log.wait_count("open", 2, WAIT)
        assert ws in ipyws.sockets()
        ws.close()
        ws.wait_closed(WAIT)
    assert log.types == ["open", "message", "close", "reconnect", "open", "close"]
