"""The WebSocket object with no network: attributes (§2), send (§3), buffering, close (§4)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import pytest

import ipyws
from ipyws import (
    Blob,
    DOMSyntaxError,
    InvalidAccessError,
    InvalidStateError,
    ReadyState,
    WebSocket,
)

Make = Callable[..., Any]
Pair = tuple[WebSocket, Any]

# -- initial state (§2) ---------------------------------------------------------------------


def test_initial_attributes(make_socket: Make) -> None:
    """A new socket is CONNECTING with nothing buffered, no protocol/extensions, binaryType blob."""
    ws, _ = make_socket("ws://example.test/", ["echo", "chat"])
    assert ws.readyState == 0
    assert ws.readyState is ReadyState.CONNECTING
    assert ws.bufferedAmount == 0
    assert ws.protocol == ""
    assert ws.extensions == ""
    assert ws.binaryType == "blob"
    assert (ws.onopen, ws.onmessage, ws.onerror, ws.onclose) == (None, None, None, None)


@pytest.mark.parametrize("name", ["readyState", "bufferedAmount", "protocol", "extensions", "url"])
def test_attribute_is_read_only(make_socket: Make, name: str) -> None:
    """Assigning a read-only attribute raises AttributeError and leaves the value unchanged."""
    ws, _ = make_socket()
    before = getattr(ws, name)
    with pytest.raises(AttributeError):
        setattr(ws, name, 5)
    with pytest.raises(AttributeError):
        delattr(ws, name)
    assert getattr(ws, name) == before


@pytest.mark.parametrize(
    ("name", "value"), [("CONNECTING", 0), ("OPEN", 1), ("CLOSING", 2), ("CLOSED", 3)]
)
def test_constants_on_class_and_instance(make_socket: Make, name: str, value: int) -> None:
    """The four readyState constants exist on the class and on instances with values 0-3."""
    ws, _ = make_socket()
    assert getattr(WebSocket, name) == value
    assert getattr(ws, name) == value
    assert getattr(ws, name) is getattr(ReadyState, name)


@pytest.mark.parametrize("name", ["CONNECTING", "OPEN", "CLOSING", "CLOSED"])
def test_constants_are_read_only_on_instances(make_socket: Make, name: str) -> None:
    """Assigning or deleting a constant on an instance raises and keeps the value."""
    ws, _ = make_socket()
    with pytest.raises(AttributeError):
        setattr(ws, name, 9)
    with pytest.raises(AttributeError):
        delattr(ws, name)
    assert getattr(ws, name) == getattr(ReadyState, name)


def test_ready_state_compares_and_names() -> None:
    """ReadyState values are ints equal to the browser's numbers, with the browser's names."""
    assert [int(s) for s in ReadyState] == [0, 1, 2, 3]
    assert [s.name for s in ReadyState] == ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]


def test_event_target_methods_exist(make_socket: Make) -> None:
    """addEventListener, removeEventListener and dispatchEvent are methods of the socket."""
    ws, _ = make_socket()
    assert isinstance(ws, ipyws.EventTarget)
    for name in ("addEventListener", "removeEventListener", "dispatchEvent", "send", "close"):
        assert callable(getattr(ws, name))


# -- binaryType (§5.13) ---------------------------------------------------------------------


def test_binary_type_accepts_both_values(make_socket: Make) -> None:
    """binaryType switches between "arraybuffer" and "blob"."""
    ws, _ = make_socket()
    ws.binaryType = "arraybuffer"
    assert ws.binaryType == "arraybuffer"
    ws.binaryType = "blob"
    assert ws.binaryType == "blob"


@pytest.mark.parametrize("value", ["notBlobOrArrayBuffer", "Blob", "ARRAYBUFFER", "", None, 1])
def test_binary_type_invalid_value_is_ignored_with_warning(make_socket: Make, value: Any) -> None:
    """An invalid binaryType leaves the value unchanged and warns (the browser ignores it)."""
    ws, _ = make_socket()
    ws.binaryType = "arraybuffer"
    with pytest.warns(UserWarning, match="binaryType must be 'blob' or 'arraybuffer'"):
        ws.binaryType = value
    assert ws.binaryType == "arraybuffer"


# -- send() (§3) ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(None, id="None"),
        pytest.param(1, id="int"),
        pytest.param(1.5, id="float"),
        pytest.param({"op": "x"}, id="dict"),
        pytest.param([1, 2], id="list"),
        pytest.param(object(), id="object"),
        pytest.param(True, id="bool"),
    ],
)
def test_send_other_types_raise_type_error_before_state(make_socket: Make, data: Any) -> None:
    """send() of anything but str/bytes-like/Blob is a TypeError, even while CONNECTING."""
    ws, fake = make_socket()
    with pytest.raises(TypeError, match="send\\(\\) takes str, bytes"):
        ws.send(data)
    assert fake.sent == []


def test_send_without_argument_raises_type_error(make_socket: Make) -> None:
    """send() with no argument raises TypeError, not InvalidStateError."""
    ws, _ = make_socket()
    with pytest.raises(TypeError):
        ws.send()  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("Message to send", id="str"),
        pytest.param("", id="empty"),
        pytest.param("a\udc00x", id="lone-low-surrogate"),
        pytest.param("a\ud800x", id="lone-high-surrogate"),
        pytest.param("a\udc00\ud800x", id="reversed-pair"),
        pytest.param(b"\x00\x01", id="bytes"),
        pytest.param(bytearray(3), id="bytearray"),
        pytest.param(memoryview(b"abc"), id="memoryview"),
        pytest.param(Blob(["x"]), id="blob"),
    ],
)
def test_send_while_connecting_raises_invalid_state(make_socket: Make, data: Any) -> None:
    """send() while CONNECTING raises InvalidStateError (code 11, a RuntimeError), sends nothing."""
    ws, fake = make_socket()
    with pytest.raises(InvalidStateError) as info:
        ws.send(data)
    assert info.value.name == "InvalidStateError"
    assert info.value.code == 11
    assert isinstance(info.value, RuntimeError)
    assert ws.bufferedAmount == 0
    assert fake.sent == []


def test_send_while_connecting_message_says_what_to_do(make_socket: Make) -> None:
    """The InvalidStateError from send() tells the user to wait for open."""
    ws, _ = make_socket()
    with pytest.raises(InvalidStateError, match="wait for the open event"):
        ws.send("x")


@pytest.mark.parametrize(
    ("data", "payload", "text"),
    [
        pytest.param("Message to send", b"Message to send", True, id="text"),
        pytest.param("", b"", True, id="empty-text"),
        pytest.param("¥¥¥¥¥¥", "¥¥¥¥¥¥".encode(), True, id="unicode"),
        pytest.param("\ud801\udc07", "\U00010407".encode(), True, id="paired-surrogates"),
        pytest.param("\ud807", "\ufffd".encode(), True, id="lone-surrogate"),
        pytest.param(
            "a\udc00xb\ud800xc\udc00\ud800x",
            "a\ufffdxb\ufffdxc\ufffd\ufffdx".encode(),
            True,
            id="lone-surrogates",
        ),
        pytest.param(b"\x00" * 15, b"\x00" * 15, False, id="bytes"),
        pytest.param(bytearray(b"ab"), b"ab", False, id="bytearray"),
        pytest.param(memoryview(b"01234567")[2:6], b"2345", False, id="memoryview-slice"),
        pytest.param(memoryview(b"01234567")[::2], b"0246", False, id="memoryview-strided"),
        pytest.param(Blob(["ab", b"\x00"]), b"ab\x00", False, id="blob"),
        pytest.param(b"", b"", False, id="empty-bytes"),
    ],
)
def test_send_hands_exact_payload_to_transport(
    open_socket: Pair, data: Any, payload: bytes, text: bool
) -> None:
    """send() in OPEN passes the UTF-8 (USV) text or exactly the view's bytes, as text or binary."""
    ws, fake = open_socket
    # mypy rejects using the value of a call typed to return None; the test checks that value.
    assert cast(object, ws.send(data)) is None
    assert fake.sent == [(payload, text)]


def test_send_keeps_order(open_socket: Pair) -> None:
    """Messages reach the transport in the order send() was called."""
    ws, fake = open_socket
    for i in range(5):
        ws.send(str(i) if i % 2 else bytes([i]))
    assert [p for p, _ in fake.sent] == [b"\x00", b"1", b"\x02", b"3", b"\x04"]


def test_bytearray_changed_after_send_is_not_resent(open_socket: Pair) -> None:
    """send() copies a mutable buffer: changing it afterwards does not change the message."""
    ws, fake = open_socket
    data = bytearray(b"abc")
    ws.send(data)
    data[0] = ord("z")
    assert fake.sent == [(b"abc", False)]


# -- bufferedAmount (§3.B) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "amount"),
    [
        pytest.param("Message to send", 15, id="text-15"),
        pytest.param("", 0, id="empty"),
        pytest.param("c" * 65000, 65000, id="text-65000"),
        pytest.param("¥¥¥¥¥¥", 12, id="yen-12"),
        pytest.param("\ud801\udc07", 4, id="paired-surrogates-4"),
        pytest.param("\ud807", 3, id="lone-surrogate-3"),
        pytest.param(bytes(15), 15, id="bytes-15"),
        pytest.param(bytes(65000), 65000, id="bytes-65000"),
        pytest.param(bytearray(10), 10, id="bytearray-10"),
        pytest.param(memoryview(bytes(8))[2:6], 4, id="view-length-not-buffer"),
        pytest.param(Blob([bytes(10)]), 10, id="blob-10"),
    ],
)
def test_buffered_amount_grows_by_payload_size(open_socket: Pair, data: Any, amount: int) -> None:
    """bufferedAmount grows inside send() by the UTF-8 or byte length, no framing overhead."""
    ws, _ = open_socket
    ws.send(data)
    assert ws.bufferedAmount == amount


def test_buffered_amount_counts_cumulatively(open_socket: Pair) -> None:
    """Sending x, å, 匶, 𐑾 (as a surrogate pair) gives 1, 3, 6, 10 bytes buffered."""
    ws, _ = open_socket
    amounts = []
    for data in ["x", "\u00e5", "\u5336", "\ud801\udc7e"]:
        ws.send(data)
        amounts.append(ws.bufferedAmount)
    assert amounts == [1, 3, 6, 10]


def test_buffered_amount_drops_only_in_a_later_task(
    open_socket: Pair, on_dispatcher: Callable[..., Any]
) -> None:
    """A write report lowers bufferedAmount when the next task runs, never inside a running one."""
    ws, fake = open_socket
    seen: list[int] = []

    def task() -> None:
        ws.send("hello")
        seen.append(ws.bufferedAmount)
        fake.written(5)  # the I/O thread reports the write while this task still runs
        seen.append(ws.bufferedAmount)

    on_dispatcher(ws, task)
    on_dispatcher(ws)  # the write report's task has run by now
    assert seen == [5, 5]
    assert ws.bufferedAmount == 0


def test_buffered_amount_partial_write(
    open_socket: Pair, on_dispatcher: Callable[..., Any]
) -> None:
    """bufferedAmount is what was sent minus what the transport reported written."""
    ws, fake = open_socket
    ws.send(b"12345")
    ws.send(b"678")
    fake.written(5)
    on_dispatcher(ws)
    assert ws.bufferedAmount == 3


def test_buffered_amount_is_read_only(open_socket: Pair) -> None:
    """Assigning bufferedAmount raises and leaves it unchanged."""
    ws, _ = open_socket
    ws.send("abc")
    with pytest.raises(AttributeError):
        ws.bufferedAmount = 0  # type: ignore[misc]
    assert ws.bufferedAmount == 3


def test_send_after_close_sends_nothing_but_counts(open_socket: Pair) -> None:
    """After close(), send() raises nothing, sends nothing, and bufferedAmount still grows."""
    ws, fake = open_socket
    ws.close()
    # mypy rejects using the value of a call typed to return None; the test checks that value.
    assert cast(object, ws.send("hello")) is None
    ws.send(b"\x00\x01")
    assert fake.sent == []
    assert ws.bufferedAmount == 7
    assert ws.transcript.messages_out == 0


def test_send_when_closed_does_not_raise(open_socket: Pair) -> None:
    """In CLOSED, send() returns None, sends nothing and bufferedAmount keeps growing."""
    ws, fake = open_socket
    fake.closed(1000, "", True)
    ws.send("abc")
    assert fake.sent == []
    assert ws.bufferedAmount == 3


# -- close() (§4) -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code", [0, 500, 999, 1001, 1005, 1006, 1015, 2999, 5000, 65535, 66536, -1]
)
def test_close_invalid_code_raises_invalid_access(make_socket: Make, code: int) -> None:
    """A code other than 1000 or 3000-4999 raises InvalidAccessError (15, a ValueError)."""
    ws, fake = make_socket()
    with pytest.raises(InvalidAccessError, match=f"1000 or in 3000-4999; {code} ") as info:
        ws.close(code, "reason")
    assert info.value.name == "InvalidAccessError"
    assert info.value.code == 15
    assert isinstance(info.value, ValueError)
    assert ws.readyState == WebSocket.CONNECTING
    assert fake.failures == []


def test_close_invalid_code_raises_while_open(open_socket: Pair) -> None:
    """An invalid code raises in OPEN too and the socket stays OPEN with no close sent."""
    ws, fake = open_socket
    for code in (1005, 2999):
        with pytest.raises(InvalidAccessError):
            ws.close(code, "Close not sent")
    assert ws.readyState == WebSocket.OPEN
    assert fake.closes == []


@pytest.mark.parametrize("code", [True, 1000.0, "1000", b"1000"])
def test_close_code_of_other_type_raises_type_error(make_socket: Make, code: Any) -> None:
    """A close code that is not an int raises TypeError (no implicit conversion)."""
    ws, _ = make_socket()
    with pytest.raises(TypeError, match="code must be an int"):
        ws.close(code)
    assert ws.readyState == WebSocket.CONNECTING


@pytest.mark.parametrize(
    "reason",
    [
        pytest.param("x" * 124, id="124-ascii"),
        pytest.param("🔌" * 32, id="32-plugs-128-bytes"),
        pytest.param("é" * 62, id="124-bytes-of-2-byte-chars"),
        pytest.param("\ud807" * 42, id="lone-surrogates-126-bytes"),
    ],
)
def test_close_reason_over_123_bytes_raises_syntax_error(make_socket: Make, reason: str) -> None:
    """A reason longer than 123 UTF-8 bytes (not characters) raises SyntaxError."""
    ws, fake = make_socket()
    with pytest.raises(DOMSyntaxError, match="limit is 123 bytes") as info:
        ws.close(1000, reason)
    assert info.value.name == "SyntaxError"
    assert ws.readyState == WebSocket.CONNECTING
    assert fake.failures == []


@pytest.mark.parametrize(
    "reason",
    [
        pytest.param("x" * 123, id="123-ascii"),
        pytest.param("🔌" * 30 + "abc", id="123-bytes-mixed"),
        pytest.param("\ud807" * 41, id="lone-surrogates-123-bytes"),
        pytest.param("", id="empty"),
    ],
)
def test_close_reason_up_to_123_bytes_is_sent(open_socket: Pair, reason: str) -> None:
    """A reason of at most 123 UTF-8 bytes is accepted and handed to the transport (as USV)."""
    ws, fake = open_socket
    ws.close(1000, reason)
    assert fake.closes == [(1000, reason.replace("\ud807", "\ufffd"))]


def test_close_reason_of_other_type_raises_type_error(make_socket: Make) -> None:
    """A reason that is not a str raises TypeError."""
    ws, _ = make_socket()
    with pytest.raises(TypeError, match="reason must be a str"):
        ws.close(1000, b"bytes")  # type: ignore[arg-type]


def test_close_checks_code_before_reason(make_socket: Make) -> None:
    """With a bad code and a too-long reason, the code's InvalidAccessError wins."""
    ws, _ = make_socket()
    with pytest.raises(InvalidAccessError):
        ws.close(500, "x" * 124)


def test_close_validates_before_checking_state(open_socket: Pair) -> None:
    """close() with bad arguments raises even in CLOSING and CLOSED."""
    ws, fake = open_socket
    ws.close()
    with pytest.raises(InvalidAccessError):
        ws.close(0)
    with pytest.raises(DOMSyntaxError):
        ws.close(1000, "x" * 124)
    fake.closed(1005, "", True)
    with pytest.raises(InvalidAccessError):
        ws.close(0)
    with pytest.raises(DOMSyntaxError):
        ws.close(1000, "x" * 124)


@pytest.mark.parametrize(
    ("args", "sent"),
    [
        pytest.param((), (None, ""), id="no-arguments-empty-frame"),
        pytest.param((None,), (None, ""), id="None-is-no-code"),
        pytest.param((1000,), (1000, ""), id="code-only"),
        pytest.param((1000, "Clean Close"), (1000, "Clean Close"), id="code-and-reason"),
        pytest.param((3000, "r"), (3000, "r"), id="3000"),
        pytest.param((4999, "r"), (4999, "r"), id="4999"),
        pytest.param((None, "only reason"), (1000, "only reason"), id="reason-means-1000"),
        pytest.param((1000, "\ud807"), (1000, "\ufffd"), id="usv-reason"),
    ],
)
def test_close_while_open_starts_closing_handshake(
    open_socket: Pair, args: tuple[Any, ...], sent: tuple[int | None, str]
) -> None:
    """close() in OPEN returns None, goes CLOSING at once, and sends one Close frame."""
    ws, fake = open_socket
    # mypy rejects using the value of a call typed to return None; the test checks that value.
    assert cast(object, ws.close(*args)) is None
    assert ws.readyState == WebSocket.CLOSING
    assert fake.closes == [sent]


def test_close_keyword_arguments(open_socket: Pair) -> None:
    """close() takes code and reason as keywords too."""
    ws, fake = open_socket
    ws.close(code=4000, reason="bye")
    assert fake.closes == [(4000, "bye")]


def test_close_while_connecting_fails_connection(make_socket: Make) -> None:
    """close() while CONNECTING goes CLOSING at once and fails the connection (no Close frame)."""
    ws, fake = make_socket()
    ws.close(1000, "x")
    assert ws.readyState == WebSocket.CLOSING
    assert len(fake.failures) == 1
    assert fake.closes == []


def test_close_repeated_is_a_no_op(open_socket: Pair) -> None:
    """Calling close() three times sends one Close frame; later calls do nothing."""
    ws, fake = open_socket
    ws.close()
    ws.close(1000)
    ws.close(3000, "again")
    assert fake.closes == [(None, "")]
    assert ws.readyState == WebSocket.CLOSING


def test_close_events_after_close_while_connecting(make_socket: Make) -> None:
    """A failure after close() while CONNECTING gives error then close 1006, never open."""
    ws, fake = make_socket()
    events: list[tuple[str, int]] = []
    for kind in ("open", "error", "close"):
        ws.addEventListener(kind, lambda e: events.append((e.type, int(ws.readyState))))
    ws.close()
    fake.sink.opened("", "", {})  # the handshake completed just after close()
    event = fake.closed(1006, "", False, ConnectionError("failed"))
    assert events == [("error", 3), ("close", 3)]
    assert (event.code, event.wasClean) == (1006, False)


# -- the registry --------------------------------------------------------------------------


def test_sockets_lists_unclosed_oldest_first(make_socket: Make) -> None:
    """ipyws.sockets() lists sockets that are not CLOSED, oldest first, and drops closed ones."""
    first, first_fake = make_socket()
    second, _ = make_socket()
    listed = ipyws.sockets()
    assert listed.index(first) < listed.index(second)
    first_fake.closed()
    assert first not in ipyws.sockets()
    assert second in ipyws.sockets()


def test_repr_shows_url_state_and_code(open_socket: Pair) -> None:
    """repr() shows the URL and state, and the close code once closed."""
    ws, fake = open_socket
    assert repr(ws) == "<WebSocket ws://example.test/ OPEN>"
    fake.closed(1000, "", True)
    assert repr(ws) == "<WebSocket ws://example.test/ CLOSED code=1000>"
