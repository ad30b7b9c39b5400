"""The loopback behaviours under Pyodide: ipyws drives the platform's own WebSocket.

Each test runs ipyws inside Pyodide (Node, ``js.WebSocket``) against the CPython test server
on 127.0.0.1 (``tests/servers.py``) and checks the events in the order they fired.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.pyodide.conftest import PyodideSession
from tests.servers import TestServer

OPEN, CLOSING, CLOSED = 1, 2, 3


def record(pyodide: PyodideSession, url: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Run ``in_pyodide.record(url, **kwargs)`` there and return the events it saw."""
    arguments = ", ".join(f"{name}={value!r}" for name, value in kwargs.items())
    events: list[dict[str, Any]] = pyodide.json(
        f"import in_pyodide\nawait in_pyodide.record({url!r}, {arguments})"
    )
    return events


def types(events: list[dict[str, Any]]) -> list[str]:
    """The event types, in order."""
    return [event["type"] for event in events]


def test_open_echo_text_close(pyodide: PyodideSession, wpt: TestServer) -> None:
    """open, the echoed text, then close 1000 'done' with wasClean, as the browser fires them."""
    events = record(
        pyodide, wpt.url("/echo"), send=["hello", "héllo ✓"], messages=2, close=(1000, "done")
    )
    assert events == [
        {"type": "open", "readyState": OPEN, "protocol": ""},
        {"type": "message", "readyState": OPEN, "kind": "str", "data": "hello"},
        {"type": "message", "readyState": OPEN, "kind": "str", "data": "héllo ✓"},
        {"type": "close", "readyState": CLOSED, "code": 1000, "reason": "done", "wasClean": True},
    ]


@pytest.mark.parametrize(("binary_type", "kind"), [("blob", "Blob"), ("arraybuffer", "bytes")])
def test_binary_echo_by_binary_type(
    pyodide: PyodideSession, wpt: TestServer, binary_type: str, kind: str
) -> None:
    """A binary echo arrives as ipyws.Blob for "blob" and as bytes for "arraybuffer"."""
    payload = bytes(range(256)) + b"\x00end"
    events = record(
        pyodide,
        wpt.url("/echo"),
        binary_type=binary_type,
        send=[payload],
        messages=1,
        close=(1000,),
    )
    message = events[1]
    assert message["type"] == "message"
    assert message["kind"] == kind
    assert bytes.fromhex(message["data"]) == payload
    assert events[-1]["code"] == 1000


@pytest.mark.parametrize(("close", "code"), [((1000,), 1000), ((4000, "app"), 4000), ((), 1005)])
def test_client_close_codes(
    pyodide: PyodideSession, wpt: TestServer, close: tuple[Any, ...], code: int
) -> None:
    """close(1000), close(4000, reason) and close() (empty frame → 1005) come back clean."""
    events = record(pyodide, wpt.url("/echo"), close=close)
    assert types(events) == ["open", "close"]
    assert events[-1]["code"] == code
    assert events[-1]["reason"] == (close[1] if len(close) > 1 else "")
    assert events[-1]["wasClean"] is True


def test_server_side_close(pyodide: PyodideSession, wpt: TestServer) -> None:
    """A server's Close (4001 'bye') reaches onclose with its code and reason, clean."""
    events = record(pyodide, wpt.url("/remote-close?code=4001&reason=bye"))
    assert types(events) == ["open", "close"]
    assert events[-1] == {
        "type": "close",
        "readyState": CLOSED,
        "code": 4001,
        "reason": "bye",
        "wasClean": True,
    }


def test_server_drops_tcp_is_1006(pyodide: PyodideSession, wpt: TestServer) -> None:
    """A server that drops TCP without a Close gives close 1006, not clean (as on CPython)."""
    events = record(pyodide, wpt.url("/remote-close?abrupt=1"))
    assert types(events) == ["open", "close"]
    assert events[-1]["code"] == 1006
    assert events[-1]["wasClean"] is False


def test_refused_connection(pyodide: PyodideSession) -> None:
    """Nothing listening: error (with a ConnectionFailedError cause), then close 1006."""
    events = record(pyodide, "ws://127.0.0.1:9/")
    assert types(events) == ["error", "close"]
    assert events[0]["cause"] == "ConnectionFailedError"
    assert events[-1]["code"] == 1006
    assert events[-1]["wasClean"] is False


def test_subprotocol_selected(pyodide: PyodideSession, wpt: TestServer) -> None:
    """The server's choice among the offered subprotocols is ws.protocol once open."""
    events = record(pyodide, wpt.url("/echo"), protocols=["chat", "echo"], close=(1000,))
    assert events[0] == {"type": "open", "readyState": OPEN, "protocol": "echo"}


def test_subprotocol_ignored_fails(pyodide: PyodideSession, wpt: TestServer) -> None:
    """A server that selects none of the requested subprotocols fails: error, close 1006."""
    events = record(pyodide, wpt.url("/handshake_no_protocol"), protocols=["echo"])
    assert types(events) == ["error", "close"]
    assert events[-1]["code"] == 1006


def test_handler_order(pyodide: PyodideSession, wpt: TestServer) -> None:
    """Listeners run in registration order, the on* handler at its own place, once each."""
    order = pyodide.json(
        "import json, ipyws\n"
        f"ws = ipyws.WebSocket({wpt.url('/echo')!r})\n"
        "order = []\n"
        "ws.addEventListener('open', lambda e: order.append('listener 1'))\n"
        "ws.onopen = lambda e: order.append('onopen')\n"
        "ws.addEventListener('open', lambda e: order.append('listener 2'))\n"
        "ws.addEventListener('close', lambda e: order.append('close'))\n"
        "await ws.opened\n"
        "ws.close()\n"
        "await ws.closed\n"
        "json.dumps(order)"
    )
    assert order == ["listener 1", "onopen", "listener 2", "close"]


def watch(pyodide: PyodideSession, constructor: str, then: str = "") -> list[Any]:
    """Create ``ipyws.WebSocket(constructor)`` there, run ``then``, wait for its close.

    Returns ``[readyState after then, events in order]``.
    """
    result: list[Any] = pyodide.json(
        "import json, in_pyodide, ipyws\n"
        f"ws = ipyws.WebSocket({constructor})\n"
        "events = []\n"
        "for kind in ('open', 'error', 'close'):\n"
        "    ws.addEventListener(kind, lambda e: events.append(in_pyodide.describe(e, ws)))\n"
        f"{then}\n"
        "state = int(ws.readyState)\n"
        "await ws.closed\n"
        "json.dumps([state, events])"
    )
    return result


def test_close_while_connecting(pyodide: PyodideSession, wpt: TestServer) -> None:
    """close() before the handshake ends fails the connection: error, then close 1006."""
    state, events = watch(pyodide, repr(wpt.url("/handshake_sleep_2")), "ws.close()")
    assert state == CLOSING
    assert types(events) == ["error", "close"]
    assert events[0]["cause"] == "ConnectionFailedError"
    assert events[1]["code"] == 1006


def test_open_timeout(pyodide: PyodideSession, wpt: TestServer) -> None:
    """open_timeout, which the browser lacks, is kept: error (TimeoutError), then close 1006."""
    # The handshake waits until the client gives up (not a fixed 2 s a starved loop could
    # outlast), so the timeout fires however slow the machine is.
    url = wpt.url("/handshake_sleep_2?delay=600")
    _, events = watch(pyodide, f"{url!r}, open_timeout=0.3")
    assert types(events) == ["error", "close"]
    assert events[0]["cause"] == "TimeoutError"
    assert events[1]["code"] == 1006


def test_reconnect_on_the_same_object(pyodide: PyodideSession, wpt: TestServer) -> None:
    """reconnect= works over the browser's WebSocket: each close is followed by a new open."""
    events = pyodide.json(
        "import json, in_pyodide, ipyws\n"
        f"ws = ipyws.WebSocket({wpt.url('/remote-close?code=4001&reason=again')!r},\n"
        "    reconnect=ipyws.Reconnect(initial_delay=0.05, jitter=0, max_attempts=2))\n"
        "events = []\n"
        "for kind in ('open', 'error', 'close', 'reconnect'):\n"
        "    ws.addEventListener(kind, lambda e: events.append(\n"
        "        e.type + (f' {e.attempt}' if e.type == 'reconnect' else '')\n"
        "        + (f' {e.code}' if e.type == 'close' else '')))\n"
        "await ws.closed\n"
        "json.dumps(events)"
    )
    assert events == [
        "open",
        "close 4001",
        "reconnect 1",
        "open",
        "close 4001",
        "reconnect 2",
        "open",
        "close 4001",
    ]


def test_time_sleep_runs_handlers_in_chromium_not_under_node(
    pyodide: PyodideSession, wpt: TestServer
) -> None:
    """In Chromium, time.sleep() lets the loop run, so a handler fires during it; under Node not."""
    # Chromium: sleep in steps until the echo's handler has run (10 s at most). Node: 2 s.
    bound = 10.0 if pyodide.kind == "chromium" else 2.0
    seen = pyodide.json(
        "import json, time, ipyws\n"
        f"ws = ipyws.WebSocket({wpt.url('/echo')!r})\n"
        "await ws.opened\n"
        "seen = []\n"
        "ws.onmessage = lambda event: seen.append(event.data)\n"
        "ws.send('during the sleep')\n"
        f"deadline = time.monotonic() + {bound}\n"
        "while not seen and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
        "during = list(seen)\n"
        "ws.close()\n"
        "await ws.closed\n"
        "json.dumps(during)"
    )
    assert seen == (["during the sleep"] if pyodide.kind == "chromium" else [])
