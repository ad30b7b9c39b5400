"""Each protocol engine behaves the same: permessage-deflate, reserved bits, fallbacks, stats.

The tier runs every test once per engine (see tests.engines); these tests aim at what an
engine does above frames (the picows engine does it itself), so a difference fails here.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import string
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidHeaderValue, InvalidStatus
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.sync.server import ServerConnection, serve

from ipyws import WebSocket
from ipyws._options import Engine
from tests.loopback.recording import WAIT, assert_failed, closed, connect
from tests.servers import TestServer

Handler = Callable[[ServerConnection], None]


@contextmanager
def running(handler: Handler, **options: Any) -> Iterator[str]:
    """Serve ``handler`` on 127.0.0.1 (websockets' threaded server); yield the ``ws://`` URL."""
    with serve(handler, "127.0.0.1", 0, ping_interval=None, **options) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}/"
        finally:
            server.shutdown()
            thread.join(WAIT)


def _noise(size: int, seed: int) -> str:
    """Text deflate cannot shrink much by itself, only by finding it again in its window."""
    rng = random.Random(seed)
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(size))


class _Counting:
    """Counts the bytes a server connection reads from the client, from ``start()`` on."""

    def __init__(self) -> None:
        self.bytes = 0

    def start(self, connection: ServerConnection) -> None:
        receive = connection.protocol.receive_data

        def counted(data: bytes | bytearray) -> None:
            self.bytes += len(data)
            receive(data)

        connection.protocol.receive_data = counted  # type: ignore[method-assign]


def _deflate_echo(counting: _Counting, fragments: list[str]) -> Handler:
    """Send ``ready``, then echo each message twice: whole, and in ``fragments`` pieces."""

    def handler(connection: ServerConnection) -> None:
        counting.start(connection)
        connection.send("ready")
        try:
            for message in connection:
                connection.send(message)
                connection.send(fragments)  # one message, fragmented, compressed as one
        except ConnectionClosed:
            pass

    return handler


@pytest.mark.parametrize(
    ("settings", "offered_back", "takeover"),
    [
        pytest.param({}, "permessage-deflate; server_max_window_bits=12", True, id="default"),
        pytest.param(
            {"server_no_context_takeover": True, "client_no_context_takeover": True},
            "client_no_context_takeover",
            False,
            id="no-context-takeover",
        ),
    ],
)
def test_deflate_both_ways_with_fragments_and_context_takeover(
    settings: dict[str, Any], offered_back: str, takeover: bool
) -> None:
    """Compressed messages go both ways, fragmented ones too, keeping context as negotiated."""
    counting = _Counting()
    noise = _noise(2000, 1)
    fragments = [noise[:700], noise[700:1400], noise[1400:]]
    factory = ServerPerMessageDeflateFactory(server_max_window_bits=12, **settings)
    with running(_deflate_echo(counting, fragments), extensions=[factory]) as url:
        ws = WebSocket(url)
        assert ws.wait_message(timeout=WAIT).data == "ready"
        assert offered_back in ws.extensions
        # The same text twice: with context takeover the second is a back-reference.
        counting.bytes = 0
        ws.send(noise)
        ws.send(noise)
        got = [ws.wait_message(timeout=WAIT).data for _ in range(4)]
        assert got == [noise] * 4
        sent = counting.bytes
        ws.close()
        event = closed(ws)
    assert (event.code, event.wasClean) == (1005, True)
    # Each copy alone compresses to about 3/4 of its size (62 symbols of 8 bits).
    if takeover:
        assert sent < 1.2 * len(noise), sent
    else:
        assert sent > 1.4 * len(noise), sent


def test_compression_false_offers_nothing() -> None:
    """compression=False: no Sec-WebSocket-Extensions offer, ``extensions`` empty."""
    requests: list[Any] = []

    def handler(connection: ServerConnection) -> None:
        requests.append(connection.request)
        connection.send("hello")

    with running(handler) as url:
        ws = WebSocket(url, compression=False)
        assert ws.wait_message(timeout=WAIT).data == "hello"
        assert ws.extensions == ""
        ws.close()
        closed(ws)
    assert "Sec-WebSocket-Extensions" not in requests[0].headers


def _raw_frames(first_byte: int) -> Handler:
    """Send ``ok`` then a text frame ``hi`` whose first byte is ``first_byte``; record the close."""

    def handler(connection: ServerConnection) -> None:
        connection.send("ok")
        connection.socket.sendall(bytes([first_byte, 2]) + b"hi")
        try:
            for _ in connection:
                pass
        except ConnectionClosed:
            pass
        codes.append(connection.protocol.close_rcvd.code if connection.protocol.close_rcvd else 0)
        done.set()

    codes: list[int] = []
    done = threading.Event()
    handler.codes = codes  # type: ignore[attr-defined]
    handler.done = done  # type: ignore[attr-defined]
    return handler


@pytest.mark.parametrize(
    ("first_byte", "why"),
    [
        pytest.param(0x80 | 0x40 | 0x1, "rsv1 without permessage-deflate", id="rsv1"),
        pytest.param(0x80 | 0x20 | 0x1, "rsv2, which no extension uses", id="rsv2"),
    ],
)
def test_reserved_bits_fail_with_1002(first_byte: int, why: str) -> None:
    """A frame with a reserved bit no extension negotiated: error, close 1006; 1002 sent."""
    handler = _raw_frames(first_byte)
    with running(handler, compression=None) as url:
        ws, rec = connect(url)
        event = closed(ws)
        assert handler.done.wait(WAIT), why  # type: ignore[attr-defined]
    assert rec.types == ["open", "message", "error", "close"]
    assert rec.messages() == ["ok"]
    assert (event.code, event.wasClean) == (1006, False)
    assert handler.codes == [1002]  # type: ignore[attr-defined]


def test_stats_show_the_engine_read_only(engine: str) -> None:
    """ws.stats.engine names the engine carrying the socket; stats cannot be changed."""

    def handler(connection: ServerConnection) -> None:
        connection.send("hi")

    with running(handler) as url:
        ws = WebSocket(url)
        ws.wait_message(timeout=WAIT)
        stats = ws.stats
        assert stats.engine == engine
        assert stats.options["engine"] is None  # asked for: the default
        with pytest.raises(dataclasses.FrozenInstanceError):
            stats.engine = "other"  # type: ignore[misc]
        other: Engine = "websockets" if engine == "picows" else "picows"
        chosen = WebSocket(url, engine=other)
        chosen.wait_message(timeout=WAIT)
        assert chosen.stats.engine == other
        assert chosen.stats.options["engine"] == other
        ws.close()
        chosen.close()
        closed(ws)
        closed(chosen)


@pytest.mark.engines("picows")
def test_a_proxy_makes_the_socket_use_websockets() -> None:
    """An explicit proxy falls back to the websockets engine (it reports proxy failures)."""
    ws, rec = connect("ws://127.0.0.1:9/", proxy="http://127.0.0.1:9", engine="picows")
    assert ws.stats.engine == "websockets"
    assert_failed(ws, rec)


def test_an_unknown_engine_is_refused() -> None:
    """engine= takes 'websockets', 'picows' or None; anything else raises at once."""
    with pytest.raises(ValueError, match="'websockets', 'picows'"):
        WebSocket("ws://127.0.0.1:9/", engine="uvloop")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="engine must be a str"):
        WebSocket("ws://127.0.0.1:9/", engine=1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "kind", "said"),
    [
        pytest.param("/no-such-path", InvalidStatus, "HTTP 404", id="status"),
        pytest.param("/wrong_accept_key", InvalidHeaderValue, "Sec-WebSocket-Accept", id="accept"),
        pytest.param("/redirect", InvalidStatus, "HTTP 301", id="redirect"),
    ],
)
def test_handshake_failures_have_the_same_cause(
    wpt: TestServer, path: str, kind: type[Exception], said: str
) -> None:
    """A refused handshake's error carries websockets' exception, whatever the engine."""
    ws, rec = connect(wpt.url(path))
    error = assert_failed(ws, rec)
    cause = error.cause  # type: ignore[attr-defined]
    assert isinstance(cause, kind), repr(cause)
    assert said in str(cause)


def test_a_protocol_error_logs_nothing_above_debug(
    wpt: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A server's protocol error is the error event's business: no engine logs it louder."""
    with caplog.at_level(logging.DEBUG):
        ws, rec = connect(wpt.url("/reserved-opcode"))
        closed(ws)
    assert rec.types == ["open", "message", "error", "close"]
    loud = [
        r.getMessage()
        for r in caplog.records
        if r.levelno > logging.DEBUG and r.name.startswith(("picows", "websockets.client"))
    ]
    assert loud == []
