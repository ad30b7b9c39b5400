"""Sending and receiving for real: text, binary, binaryType, bufferedAmount (§3, §5.6)."""

from __future__ import annotations

import threading
import time
from typing import Any, cast

import pytest

from ipyws import Blob, Event, MessageEvent, WebSocket
from tests.loopback.recording import WAIT, ProbeSocket, acquire, closed, connect, target_socket
from tests.servers import TestServer


def _open(url: str, **kwargs: Any) -> WebSocket:
    ws = WebSocket(url, **kwargs)
    ws.wait_open(timeout=WAIT)
    return ws


def _echo(ws: WebSocket, data: Any) -> Any:
    ws.send(data)
    return ws.wait_message(timeout=WAIT).data


@pytest.fixture
def echo(wpt: TestServer) -> WebSocket:
    """An OPEN socket on /echo (closed by the leftover guard)."""
    return _open(wpt.url("/echo"))


# -- text --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "echoed"),
    [
        pytest.param("test", "test", id="ascii"),
        pytest.param("", "", id="empty"),
        pytest.param("¥¥¥¥¥¥", "¥¥¥¥¥¥", id="yen"),
        pytest.param("\u00e5 a\u030a \U0001047e", "\u00e5 a\u030a \U0001047e", id="combining"),
        pytest.param("\ud801\udc07", "\U00010407", id="paired-surrogates"),
        pytest.param("\ud807", "\ufffd", id="lone-surrogate"),
        pytest.param(
            "a\udc00xb\ud800xc\udc00\ud800x", "a\ufffdxb\ufffdxc\ufffd\ufffdx", id="lone-surrogates"
        ),
        pytest.param("x" * 125, "x" * 125, id="125-bytes-7-bit-length"),
        pytest.param("x" * 126, "x" * 126, id="126-bytes-16-bit-length"),
        pytest.param("x" * 65535, "x" * 65535, id="65535-bytes-last-16-bit"),
        pytest.param("x" * 65536, "x" * 65536, id="65536-bytes-64-bit-length"),
        pytest.param("é" * 40000, "é" * 40000, id="80000-bytes-unicode"),
    ],
)
def test_text_round_trips(echo: WebSocket, sent: str, echoed: str) -> None:
    """Text is echoed as str intact, with lone surrogates replaced by U+FFFD (USVString)."""
    data = _echo(echo, sent)
    assert isinstance(data, str)
    assert data == echoed


def test_empty_string_is_an_empty_text_frame(wpt: TestServer) -> None:
    """send("") reaches the server as an empty text message."""
    ws = _open(wpt.url("/empty-message"))
    assert _echo(ws, "") == "pass"


# -- binary -----------------------------------------------------------------------------------


_BUFFER = bytes(range(8))


@pytest.mark.parametrize(
    ("sent", "echoed"),
    [
        pytest.param(b"\x00\xffbinary", b"\x00\xffbinary", id="bytes"),
        pytest.param(bytearray(b"\x01\x02"), b"\x01\x02", id="bytearray"),
        pytest.param(memoryview(_BUFFER)[2:], _BUFFER[2:], id="memoryview-offset"),
        pytest.param(memoryview(_BUFFER)[2:6], _BUFFER[2:6], id="memoryview-offset-length"),
        pytest.param(memoryview(_BUFFER).cast("H")[1:3], _BUFFER[2:6], id="uint16-view"),
        pytest.param(memoryview(_BUFFER)[::3], _BUFFER[::3], id="strided-view"),
        pytest.param(Blob([b"\x00" * 65000]), b"\x00" * 65000, id="blob-65000"),
        pytest.param(bytes(15), bytes(15), id="15"),
        pytest.param(bytes(65000), bytes(65000), id="65000"),
        pytest.param(bytes(100000), bytes(100000), id="100000"),
        pytest.param(b"", b"", id="empty"),
    ],
)
def test_binary_round_trips_as_arraybuffer(wpt: TestServer, sent: Any, echoed: bytes) -> None:
    """Binary data (a view sends only its own bytes) comes back as bytes with "arraybuffer"."""
    ws = _open(wpt.url("/echo"))
    ws.binaryType = "arraybuffer"
    data = _echo(ws, sent)
    assert type(data) is bytes
    assert data == echoed


def test_binary_arrives_as_blob_by_default(echo: WebSocket) -> None:
    """With binaryType "blob" (default) a binary message is a Blob of the same size, no type."""
    data = _echo(echo, bytes(65000))
    assert isinstance(data, Blob)
    assert (data.size, data.type) == (65000, "")
    assert bytes(data) == bytes(65000)


def test_text_stays_str_with_arraybuffer(echo: WebSocket) -> None:
    """binaryType does not change text messages: they stay str."""
    echo.binaryType = "arraybuffer"
    assert _echo(echo, "text") == "text"


def test_binary_type_set_in_onopen_applies_to_later_messages(wpt: TestServer) -> None:
    """binaryType changed in onopen applies to the messages that follow."""

    def on_open(ws: WebSocket, event: Event) -> None:
        ws.binaryType = "arraybuffer"
        ws.send(b"\x01")

    ws, rec = connect(wpt.url("/echo"), on={"open": on_open, "message": lambda ws, e: ws.close()})
    closed(ws)
    assert rec.messages() == [b"\x01"]


def test_binary_type_is_read_when_message_is_dispatched(wpt: TestServer) -> None:
    """binaryType is read when each message event fires, not when its bytes arrived."""

    def on_open(ws: WebSocket, event: Event) -> None:
        assert isinstance(ws, ProbeSocket)
        ws.send(b"\x01")
        ws.send(b"\x02")
        acquire(ws.arrived, 2)  # both arrived while "blob" was set; both are still queued

    def on_message(ws: WebSocket, event: MessageEvent) -> None:
        ws.binaryType = "arraybuffer"
        if len(rec.messages()) == 2:
            ws.close()

    ws, rec = connect(wpt.url("/echo"), probe=True, on={"open": on_open, "message": on_message})
    closed(ws)
    first, second = rec.messages()
    assert isinstance(first, Blob)
    assert second == b"\x02"


def test_invalid_binary_type_keeps_connection_working(echo: WebSocket) -> None:
    """An invalid binaryType is ignored (with a warning) and binary still arrives as Blob."""
    with pytest.warns(UserWarning):
        echo.binaryType = "notBlobOrArrayBuffer"  # type: ignore[assignment]
    assert isinstance(_echo(echo, b"x"), Blob)
    echo.close()
    assert closed(echo).wasClean is True


def test_message_event_fields(wpt: TestServer) -> None:
    """A MessageEvent's origin is the ws URL's origin; lastEventId is "" and source None."""
    ws = _open(wpt.url("/echo?x=1"))
    ws.send("hi")
    event = ws.wait_message(timeout=WAIT)
    assert event.origin == f"ws://127.0.0.1:{wpt.port}"
    assert (event.lastEventId, event.source, event.ports) == ("", None, ())


def test_messages_arrive_in_order(echo: WebSocket) -> None:
    """A burst of messages is delivered complete and in order to consecutive waits."""
    for i in range(200):
        echo.send(str(i))
    received = [echo.wait_message(timeout=WAIT).data for _ in range(200)]
    assert received == [str(i) for i in range(200)]


def test_send_in_open_returns_none(echo: WebSocket) -> None:
    """send() in OPEN returns None."""
    # mypy rejects using the value of a call typed to return None; the test checks that value.
    assert cast(object, echo.send("x")) is None


# -- bufferedAmount ---------------------------------------------------------------------------


def _amounts_in_onopen(wpt: TestServer, sends: list[Any]) -> list[int]:
    """bufferedAmount right after each send() in onopen."""
    amounts: list[int] = []

    def on_open(ws: WebSocket, event: Event) -> None:
        for data in sends:
            ws.send(data)
            amounts.append(ws.bufferedAmount)
        ws.close()

    ws, _ = connect(wpt.url("/echo"), on={"open": on_open})
    closed(ws)
    return amounts


@pytest.mark.parametrize(
    ("data", "amount"),
    [
        pytest.param("Message to send", 15, id="text-15"),
        pytest.param("¥¥¥¥¥¥", 12, id="yen-12"),
        pytest.param("", 0, id="empty-0"),
        pytest.param("x" * 65000, 65000, id="text-65000"),
        pytest.param("\ud801\udc07", 4, id="paired-surrogates-4"),
        pytest.param(bytes(15), 15, id="bytes-15"),
        pytest.param(bytes(65000), 65000, id="bytes-65000"),
        pytest.param(Blob([bytes(10)]), 10, id="blob-10"),
    ],
)
def test_buffered_amount_grows_inside_send(wpt: TestServer, data: Any, amount: int) -> None:
    """Right after send() in onopen, bufferedAmount is the payload's byte length."""
    assert _amounts_in_onopen(wpt, [data]) == [amount]


def test_buffered_amount_is_cumulative(wpt: TestServer) -> None:
    """x, å, 匶, 𐑾 sent in one task give bufferedAmount 1, 3, 6, 10."""
    assert _amounts_in_onopen(wpt, ["x", "\u00e5", "\u5336", "\ud801\udc7e"]) == [1, 3, 6, 10]


def test_buffered_amount_unchanged_while_task_runs(wpt: TestServer) -> None:
    """bufferedAmount stays 5 after send("hello") while the same task blocks past the write."""
    amounts: list[int] = []

    def on_open(ws: WebSocket, event: Event) -> None:
        assert isinstance(ws, ProbeSocket)
        ws.send("hello")
        amounts.append(ws.bufferedAmount)
        acquire(ws.written)  # the I/O thread has written the message to the network
        amounts.append(ws.bufferedAmount)

    def on_message(ws: WebSocket, event: MessageEvent) -> None:
        amounts.append(ws.bufferedAmount)
        ws.close()

    ws, _ = connect(wpt.url("/echo"), probe=True, on={"open": on_open, "message": on_message})
    closed(ws)
    assert amounts == [5, 5, 0]


def test_buffered_amount_reaches_zero_after_writes(wpt: TestServer) -> None:
    """Once every echo is back, bufferedAmount is 0 (the data was written to the network)."""
    at_echo: list[int] = []

    def on_open(ws: WebSocket, event: Event) -> None:
        for data in ["x", "\u00e5", "\u5336", "\ud801\udc7e"]:
            ws.send(data)

    def on_message(ws: WebSocket, event: MessageEvent) -> None:
        at_echo.append(ws.bufferedAmount)
        if len(at_echo) == 4:
            ws.close()

    ws, _ = connect(wpt.url("/echo"), on={"open": on_open, "message": on_message})
    closed(ws)
    assert at_echo[-1] == 0
    remaining = [10, 9, 7, 4]  # bytes of the messages not yet echoed, at echo 1..4
    assert all(a < r for a, r in zip(at_echo, remaining, strict=True)), at_echo


def test_buffered_amount_reaches_zero_with_no_event_after_the_write(wpt: TestServer) -> None:
    """With nothing received after send(), bufferedAmount still drops to 0 between tasks."""
    ws = _open(wpt.url("/set-cookie"))  # a server that reads and never answers
    ws.send("x" * 100)
    deadline = time.monotonic() + WAIT
    while ws.bufferedAmount and time.monotonic() < deadline:
        time.sleep(0.001)
    assert ws.bufferedAmount == 0
    ws.close()
    closed(ws)


def test_buffered_amount_grows_after_close(wpt: TestServer) -> None:
    """send() after close() sends nothing yet bufferedAmount grows and stays after CLOSED."""
    amounts: list[int] = []

    def on_open(ws: WebSocket, event: Event) -> None:
        ws.close()
        ws.send("hello")
        amounts.append(ws.bufferedAmount)

    def on_close(ws: WebSocket, event: Event) -> None:
        ws.send(b"123")
        amounts.append(ws.bufferedAmount)

    ws, rec = connect(wpt.url("/echo"), on={"open": on_open, "close": on_close})
    closed(ws)
    assert amounts == [5, 8]
    assert ws.bufferedAmount == 8
    assert "message" not in rec.types and "error" not in rec.types
    assert ws.transcript.messages_out == 0


# -- many sockets -----------------------------------------------------------------------------


def test_25_parallel_sockets(wpt: TestServer) -> None:
    """25 sockets each send their index, get it back and close: 75 events, none repeated."""
    events: list[tuple[int, str]] = []
    echoed: list[tuple[int, str]] = []
    lock = threading.Lock()
    sockets: list[WebSocket] = []

    def make(index: int) -> WebSocket:
        def record(event: Event) -> None:
            ws = target_socket(event)
            with lock:
                events.append((index, event.type))
            if event.type == "open":
                ws.send(str(index))
            elif event.type == "message":
                assert isinstance(event, MessageEvent)
                echoed.append((index, event.data))
                ws.close()

        return WebSocket(wpt.url("/echo"), onopen=record, onmessage=record, onclose=record)

    for index in range(25):
        sockets.append(make(index))
    for ws in sockets:
        assert closed(ws, timeout=15).wasClean
    assert sorted(echoed) == sorted((i, str(i)) for i in range(25))
    assert len(events) == 75
    assert len(set(events)) == 75
    for index in range(25):
        assert [t for i, t in events if i == index] == ["open", "message", "close"]


def test_buffered_amount_after_close_counts_only_what_was_never_sent(wpt: TestServer) -> None:
    """Data sent before close() is subtracted once written; only sends after close() remain."""
    ws = _open(wpt.url("/echo"))
    ws.send("x" * 2000)
    ws.close(1000)
    ws.send("12345")
    closed(ws)
    assert ws.bufferedAmount == 5


def test_transcript_masks_credentials_but_handshake_keeps_them(wpt: TestServer) -> None:
    """The transcript's open record masks Authorization; ws.handshake keeps the real value."""
    ws = _open(wpt.url("/echo"), headers={"Authorization": "Bearer s3cret"})
    opened = ws.transcript.records()[0]
    sent = dict(opened["request"]["headers"])
    assert sent["Authorization"] == "(redacted)"
    assert dict(ws.handshake["request"]["headers"])["Authorization"] == "Bearer s3cret"
    assert "s3cret" not in str(ws.transcript.records())


# -- ws.stats ------------------------------------------------------------------------------------


def test_stats_count_the_traffic_and_keep_the_options(wpt: TestServer) -> None:
    """ws.stats counts messages and bytes each way and keeps the options, read-only and masked."""
    ws = _open(wpt.url("/echo"), max_size=4096, headers={"Authorization": "Bearer s3cret"})
    for data in ("hello", b"\x00\x01\x02"):
        _echo(ws, data)
    stats = ws.stats
    assert (stats.messages_in, stats.messages_out) == (2, 2)
    assert (stats.bytes_in, stats.bytes_out) == (8, 8)
    assert stats.rate_in > 0 and stats.byte_rate_out > 0
    assert stats.buffered_amount == 0
    assert stats.created == ws.transcript.created
    assert stats.options["max_size"] == 4096
    assert stats.options["ping_interval"] == 20.0
    assert stats.options["headers"] == (("Authorization", "Bearer s3cret"),)
    assert stats.options["log_size"] == ws.transcript.maxlen
    with pytest.raises(TypeError):
        stats.options["max_size"] = 1  # type: ignore[index]
    with pytest.raises(AttributeError):
        stats.messages_in = 0  # type: ignore[misc]
    assert "s3cret" not in repr(stats)
    ws.close()
    closed(ws)
