"""Keepalive pings, the live transcript, and closing sockets when the interpreter exits."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from ipyws import WebSocket
from tests.loopback.recording import WAIT, closed, connect
from tests.servers import TestServer

EXIT_LIMIT = 10.0
"""Seconds a child interpreter may take to start, connect and exit (imports included)."""


# -- keepalive --------------------------------------------------------------------------------


def test_unanswered_pings_fail_the_connection(wpt: TestServer) -> None:
    """A peer that stops answering pings fails the connection: error (TimeoutError), close 1006."""
    ws, rec = connect(
        wpt.url("/ping-timeout"), ping_interval=0.2, ping_timeout=0.3, close_timeout=0.5
    )
    event = closed(ws)
    assert rec.states == [("open", 1), ("error", 3), ("close", 3)]
    assert (event.code, event.wasClean) == (1006, False)
    assert isinstance(rec.first("error").cause, TimeoutError)


def test_answered_pings_keep_connection_open(wpt: TestServer) -> None:
    """With pings every 0.1 s, an idle connection that answers them stays open and works."""
    ws = WebSocket(wpt.url("/echo"), ping_interval=0.1, ping_timeout=0.5)
    ws.wait_open(timeout=WAIT)
    with pytest.raises(TimeoutError):
        ws.wait_message(timeout=0.8)  # idle through several ping intervals
    ws.send("test")
    assert ws.wait_message(timeout=WAIT).data == "test"
    ws.close()
    assert closed(ws).wasClean


def test_no_pings_when_disabled(wpt: TestServer) -> None:
    """ping_interval=None sends no pings, so a peer that never answers does not fail it."""
    ws = WebSocket(wpt.url("/ping-timeout"), ping_interval=None, close_timeout=0.5)
    ws.wait_open(timeout=WAIT)
    with pytest.raises(TimeoutError):
        ws.wait_closed(timeout=0.8)
    assert ws.readyState == WebSocket.OPEN


# -- the transcript of a live socket ---------------------------------------------------------------


def test_transcript_records_traffic(wpt: TestServer) -> None:
    """The transcript holds open, each send and receive with its size and opcode, then close."""
    ws = WebSocket(wpt.url("/echo"), "echo")
    ws.wait_open(timeout=WAIT)
    ws.send("¥¥")
    ws.wait_message(timeout=WAIT)
    ws.send(b"\x00\x01\x02")
    ws.wait_message(timeout=WAIT)
    ws.close(1000, "bye")
    closed(ws)
    records = ws.transcript.records()
    summary = [(r["type"], r.get("opcode"), r.get("size")) for r in records]
    assert summary == [
        ("open", None, None),
        ("send", 1, 4),
        ("receive", 1, 4),
        ("send", 2, 3),
        ("receive", 2, 3),
        ("close", None, None),
    ]
    assert records[0]["protocol"] == "echo"
    assert records[0]["response"]["status"] == 101
    assert (records[-1]["code"], records[-1]["reason"], records[-1]["wasClean"]) == (
        1000,
        "bye",
        True,
    )
    assert records[1]["data"] == "¥¥"
    times = [r["time"] for r in records]
    assert times == sorted(times)
    assert (ws.transcript.messages_out, ws.transcript.bytes_out) == (2, 7)
    assert (ws.transcript.messages_in, ws.transcript.bytes_in) == (2, 7)


def test_transcript_records_failure(wpt: TestServer) -> None:
    """A failed connection's transcript has an error record, then close 1006."""
    ws = WebSocket(wpt.url("/404"))
    closed(ws)
    records = ws.transcript.records()
    assert [r["type"] for r in records] == ["error", "close"]
    assert "404" in records[0]["message"]
    assert records[1]["code"] == 1006


def test_transcript_keeps_messages_without_handlers(wpt: TestServer) -> None:
    """Messages that arrive with no handler attached are still in the transcript."""
    ws = WebSocket(wpt.url("/origin"), origin="http://x.test")
    closed(ws)
    received = [r for r in ws.transcript if r["type"] == "receive"]
    assert [r["data"] for r in received] == ["http://x.test"]


# -- interpreter exit -----------------------------------------------------------------------------


@dataclass
class CloseRecorder:
    """A plain websockets server that records the close code each client sent."""

    server: Server
    codes: list[int | None] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        """The server's ws:// URL."""
        host, port = self.server.socket.getsockname()[:2]
        return f"ws://{host}:{port}/"


@pytest.fixture
def close_recorder() -> Iterator[CloseRecorder]:
    """Start a server on 127.0.0.1 that records the close code of each connection."""
    recorder: CloseRecorder

    def handler(connection: ServerConnection) -> None:
        try:
            for _ in connection:
                pass
        except ConnectionClosed:
            pass
        rcvd = connection.protocol.close_rcvd
        recorder.codes.append(rcvd.code if rcvd is not None else None)
        recorder.done.set()

    with serve(handler, "127.0.0.1", 0, ping_interval=None) as server:
        recorder = CloseRecorder(server)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield recorder
        server.shutdown()
        thread.join(WAIT)


def _run_child(script: str, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        timeout=EXIT_LIMIT,
    )
    return result, time.monotonic() - start


def test_exit_closes_open_socket_with_1001(close_recorder: CloseRecorder) -> None:
    """An interpreter that exits with an open socket sends Close 1001 and does not hang."""
    script = """
        import sys
        import ipyws
        ws = ipyws.WebSocket(sys.argv[1])
        ws.wait_open(timeout=5)
        print("open", flush=True)
    """
    result, elapsed = _run_child(script, close_recorder.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "open"
    assert close_recorder.done.wait(WAIT)
    assert close_recorder.codes == [1001]
    assert elapsed < EXIT_LIMIT


def test_exit_with_connecting_socket_does_not_hang(wpt: TestServer) -> None:
    """An interpreter that exits while a socket is still CONNECTING exits promptly."""
    script = """
        import sys
        import ipyws
        ws = ipyws.WebSocket(sys.argv[1])
        print(int(ws.readyState), flush=True)
    """
    result, elapsed = _run_child(script, wpt.url("/handshake_sleep_2?delay=30"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"
    assert result.stderr == ""
    assert elapsed < EXIT_LIMIT


def test_exit_in_asyncio_program_closes_socket(close_recorder: CloseRecorder) -> None:
    """An asyncio program that ends with an open socket still closes it (1001) at exit."""
    script = """
        import asyncio, sys
        import ipyws
        async def main():
            ws = ipyws.WebSocket(sys.argv[1])
            await ws.opened
        asyncio.run(main())
    """
    result, _ = _run_child(script, close_recorder.url)
    assert result.returncode == 0, result.stderr
    assert close_recorder.done.wait(WAIT)
    assert close_recorder.codes == [1001]
