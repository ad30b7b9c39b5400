"""Liveness: the keepalive round trip, pinging now, and pings and pongs in the transcript."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from ipyws import InvalidStateError, WebSocket
from tests.loopback.recording import WAIT
from tests.servers import HeldServer, TestServer


def test_wait_ping_returns_the_round_trip_and_sets_rtt(wpt: TestServer) -> None:
    """wait_ping() sends a ping, returns its round trip in seconds and sets ws.rtt to it."""
    ws = WebSocket(wpt.url("/echo"), ping_interval=None)
    ws.wait_open(timeout=WAIT)
    assert ws.rtt is None
    rtt = ws.wait_ping(timeout=WAIT)
    assert 0 < rtt < WAIT
    assert ws.rtt == rtt
    ws.close()
    ws.wait_closed(timeout=WAIT)


def test_await_ping_in_asyncio(wpt: TestServer) -> None:
    """await ws.ping() returns the round trip in an asyncio program."""

    async def main() -> float:
        ws = WebSocket(wpt.url("/echo"), ping_interval=None)
        await ws.opened
        rtt = await ws.ping(timeout=WAIT)
        ws.close()
        await ws.closed
        return rtt

    assert 0 < asyncio.run(main()) < WAIT


class _RttWatcher(WebSocket):
    """A WebSocket that tells the test when the I/O thread measured a round trip."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.measured = threading.Event()
        super().__init__(*args, **kwargs)

    def _io_rtt(self, seconds: float) -> None:
        super()._io_rtt(seconds)
        self.measured.set()


def test_keepalive_pings_set_rtt(wpt: TestServer) -> None:
    """Keepalive pings alone update ws.rtt: no ping() needed."""
    ws = _RttWatcher(wpt.url("/echo"), ping_interval=0.05)
    ws.wait_open(timeout=WAIT)
    assert ws.measured.wait(WAIT)
    assert ws.rtt is not None and 0 < ws.rtt < WAIT
    ws.close()
    ws.wait_closed(timeout=WAIT)


def test_ping_needs_an_open_socket(held_server: HeldServer) -> None:
    """ping() and wait_ping() raise InvalidStateError unless the socket is OPEN."""
    ws = WebSocket(held_server.url)
    with pytest.raises(InvalidStateError, match="readyState is CONNECTING"):
        ws.wait_ping()
    ws.close()
    ws.wait_closed(timeout=WAIT)
    with pytest.raises(InvalidStateError, match="readyState is CLOSED"):
        asyncio.run(ws.ping())


def test_unanswered_ping_times_out(wpt: TestServer) -> None:
    """wait_ping() against a peer that stopped reading raises TimeoutError after its timeout."""
    ws = WebSocket(wpt.url("/ping-timeout"), ping_interval=None, close_timeout=0.5)
    ws.wait_open(timeout=WAIT)
    with pytest.raises(TimeoutError, match=r"no pong within 0\.3 s"):
        ws.wait_ping(timeout=0.3)
    ws.close()
    ws.wait_closed(timeout=WAIT)


def test_log_pings_records_pings_and_pongs(wpt: TestServer) -> None:
    """With log_pings=True the transcript holds each ping sent and pong received, with the rtt."""
    ws = WebSocket(wpt.url("/echo"), ping_interval=None, log_pings=True)
    ws.wait_open(timeout=WAIT)
    rtt = ws.wait_ping(timeout=WAIT)
    ws.close()
    ws.wait_closed(timeout=WAIT)
    controls = [r for r in ws.transcript.records() if r["type"] in ("ping", "pong")]
    assert [(r["type"], r["direction"], r["size"]) for r in controls] == [
        ("ping", "sent", 4),
        ("pong", "received", 4),
    ]
    assert controls[1]["rtt"] == rtt
    assert "ping" not in ws.transcript.lifecycle


def test_pings_are_not_recorded_by_default(wpt: TestServer) -> None:
    """Without log_pings the transcript holds no ping or pong record."""
    ws = WebSocket(wpt.url("/echo"), ping_interval=None)
    ws.wait_open(timeout=WAIT)
    ws.wait_ping(timeout=WAIT)
    ws.close()
    ws.wait_closed(timeout=WAIT)
    assert {r["type"] for r in ws.transcript.records()} == {"open", "close"}
