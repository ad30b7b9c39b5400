"""Failures bounded in time, memory and output, found by fault injection on loopback.

Servers that stop reading (``/ping-timeout``), or that close and keep TCP open (``?hold=1``):
each test checks that the socket reports what happened within its bound (``close_timeout``,
the keepalive), lets go of what it held, and says a repeated error only a few times.
"""

from __future__ import annotations

import gc
import io
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc

import pytest

import ipyws._repeats
from ipyws import CloseEvent, WebSocket
from tests.loopback.recording import WAIT, closed, connect
from tests.servers import TestServer

CHUNK = b"\0" * (1 << 20)
"""One MiB to send to a peer that stopped reading (it never drains); sockets sending it turn
compression off, which would shrink it to a few hundred bytes."""

SLACK = 3.0
"""Seconds a bounded wait may run over its bound on a loaded 2-core machine."""


def stuffed(url: str, mib: int = 32, **options: object) -> WebSocket:
    """Open ``url`` (a peer that stops reading) and queue ``mib`` MiB that it never reads."""
    ws = WebSocket(url, compression=False, **options)  # type: ignore[arg-type]
    ws.wait_open(timeout=WAIT)
    for _ in range(mib):
        ws.send(CHUNK)
    return ws


def test_close_timeout_bounds_close_while_the_peer_stopped_reading(wpt: TestServer) -> None:
    """close() with 32 MiB that cannot be written ends close_timeout later: close 1006."""
    ws = stuffed(wpt.url("/ping-timeout"), close_timeout=1.0, ping_interval=None)
    start = time.monotonic()
    ws.close(1000)
    event = ws.wait_closed(timeout=1.0 + SLACK)
    elapsed = time.monotonic() - start
    assert (event.code, event.wasClean) == (1006, False)
    assert 0.9 <= elapsed < 1.0 + SLACK


def test_queued_payloads_are_released_at_close(wpt: TestServer) -> None:
    """Once CLOSED, what send() queued and never wrote is freed; bufferedAmount keeps the count."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        ws = WebSocket(
            wpt.url("/ping-timeout"), close_timeout=0.5, ping_interval=None, compression=False
        )
        ws.wait_open(timeout=WAIT)
        for _ in range(32):
            ws.send(bytes(CHUNK))  # a copy of its own each time: 32 MiB in all
        ws.close()
        ws.wait_closed(timeout=WAIT)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 8 << 20, f"{held / (1 << 20):.1f} MiB still held after close"
    assert ws.bufferedAmount > 16 << 20


def test_keepalive_detects_a_peer_that_stopped_reading(wpt: TestServer) -> None:
    """With the write buffer full and never drained, keepalive fails it: error, close 1006."""
    ws, rec = connect(
        wpt.url("/ping-timeout"),
        ping_interval=0.3,
        ping_timeout=0.5,
        close_timeout=10.0,
        compression=False,
    )
    ws.wait_open(timeout=WAIT)
    start = time.monotonic()
    for _ in range(32):
        ws.send(CHUNK)
    event = closed(ws, timeout=0.8 + SLACK)
    assert (event.code, event.wasClean) == (1006, False)
    assert isinstance(rec.first("error").cause, TimeoutError)
    # Reported at the keepalive failure, not close_timeout (10 s) later.
    assert time.monotonic() - start < 0.8 + SLACK


def test_a_dead_peer_is_reported_when_the_keepalive_fails(wpt: TestServer) -> None:
    """An unanswered ping is reported at ping_timeout, not close_timeout after it."""
    ws, rec = connect(
        wpt.url("/ping-timeout"), ping_interval=0.3, ping_timeout=0.3, close_timeout=30.0
    )
    ws.wait_open(timeout=WAIT)
    start = time.monotonic()
    event = closed(ws, timeout=0.6 + SLACK)
    assert (event.code, event.wasClean) == (1006, False)
    assert rec.types == ["open", "error", "close"]
    assert time.monotonic() - start < 0.6 + SLACK


@pytest.mark.parametrize(
    ("path", "max_size", "code"),
    [
        ("/big?size=2000&hold=1", 1000, 1009),
        ("/invalid-utf8?hold=1", None, 1006),
    ],
    ids=["1009", "1007"],
)
def test_a_failure_is_reported_while_the_server_keeps_tcp_open(
    wpt: TestServer, path: str, max_size: int | None, code: int
) -> None:
    """Too big or invalid UTF-8: error and close at once, though the server never closes TCP."""
    start = time.monotonic()
    ws, rec = connect(wpt.url(path), close_timeout=30.0, ping_interval=None, max_size=max_size)
    event = closed(ws, timeout=SLACK)
    assert rec.types == ["open", "error", "close"]
    assert (event.code, event.wasClean) == (code, False)
    assert time.monotonic() - start < SLACK


def test_a_server_close_with_tcp_kept_open_is_closing_then_closed(wpt: TestServer) -> None:
    """A server's Close makes it CLOSING at once; close (clean, its code) after close_timeout."""
    states: list[int] = []
    seen_closing = threading.Event()
    # CLOSING lasts close_timeout: long enough that a watcher starved by a busy machine
    # still sees it.
    close_timeout = 3.0
    ws = WebSocket(
        wpt.url("/remote-close?code=4001&reason=bye&hold=1"),
        close_timeout=close_timeout,
        ping_interval=None,
    )
    ws.wait_open(timeout=WAIT)

    def watch() -> None:  # readyState is read live: it changes between tasks
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and ws.readyState == WebSocket.OPEN:
            time.sleep(0.005)
        states.append(int(ws.readyState))
        seen_closing.set()

    start = time.monotonic()
    threading.Thread(target=watch, daemon=True).start()
    assert seen_closing.wait(WAIT)
    closing_after = time.monotonic() - start
    event: CloseEvent = ws.wait_closed(timeout=close_timeout + SLACK)
    assert states == [WebSocket.CLOSING]
    assert closing_after < close_timeout
    assert (event.code, event.reason, event.wasClean) == (4001, "bye", True)
    assert time.monotonic() - start < close_timeout + SLACK


def test_a_handler_raising_on_every_message_is_summarized(
    wpt: TestServer, reported_errors: list[BaseException], monkeypatch: pytest.MonkeyPatch
) -> None:
    """3 full tracebacks, then one line counting the rest; every message is still handled."""
    monkeypatch.setattr(ipyws._repeats, "SUMMARY_INTERVAL", 0.3)
    summaries = io.StringIO()
    written = threading.Event()

    class Stderr(io.StringIO):
        def write(self, text: str) -> int:
            summaries.write(text)
            if "more times" in text:
                written.set()
            return len(text)

    monkeypatch.setattr(sys, "stderr", Stderr())
    handled = []

    def on_message(event: object) -> None:
        handled.append(event)
        raise ZeroDivisionError("every message")

    ws = WebSocket(wpt.url("/burst?n=2000"), onmessage=on_message)
    assert written.wait(WAIT)
    assert len(handled) == 2000
    assert len(reported_errors) == 3
    text = summaries.getvalue()
    assert "ZeroDivisionError: every message" in text
    assert "repeated 1,997 more times, the last at " in text
    assert ws.readyState == WebSocket.OPEN


def test_exit_with_a_peer_that_stopped_reading_is_quiet_and_bounded(wpt: TestServer) -> None:
    """An interpreter exiting with 32 MiB stuck for a peer that stopped reading exits cleanly."""
    script = """
        import sys
        import ipyws
        ws = ipyws.WebSocket(sys.argv[1], close_timeout=30, compression=False)
        ws.wait_open(timeout=10)
        for _ in range(32):
            ws.send(b"\\0" * (1 << 20))
        other = ipyws.WebSocket(sys.argv[1])
        other.wait_open(timeout=10)
        other.close()
        print("sent", flush=True)
    """
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), wpt.url("/ping-timeout")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "sent"
    assert result.stderr == ""
    # The shutdown's own bound (2 s, then dropped) plus the interpreter's start.
    assert time.monotonic() - start < 15
