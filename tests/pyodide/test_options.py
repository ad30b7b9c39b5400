"""Under Pyodide: options the browser cannot honour, and the helpers that cannot block."""

from __future__ import annotations

import pytest

from tests.pyodide.conftest import PyodideSession
from tests.servers import TestServer


@pytest.mark.parametrize(
    ("option", "why"),
    [
        ("headers={'Authorization': 'Bearer x'}", "handshake headers"),
        ("origin='http://example.test'", "Origin"),
        ("ssl=False", "trust store"),
        ("proxy=None", "proxy settings"),
        ("compression=False", "permessage-deflate"),
        ("max_size=1024", "no limit"),
        ("ping_interval=5", "keepalive"),
        ("user_agent='bot/1'", "User-Agent"),
        ("log_pings=True", "Ping and Pong"),
    ],
)
def test_unsupported_option_is_named(
    pyodide: PyodideSession, wpt: TestServer, option: str, why: str
) -> None:
    """An option the browser cannot honour raises ValueError naming it and saying why."""
    message = pyodide.run(
        "import ipyws\n"
        "try:\n"
        f"    ipyws.WebSocket({wpt.url('/echo')!r}, {option})\n"
        "except ValueError as exc:\n"
        "    message = str(exc)\n"
        "message"
    )
    assert message is not None
    assert f"option(s) {option.split('=')[0]}:" in message
    assert why in message


def test_defaults_and_honoured_options_connect(pyodide: PyodideSession, wpt: TestServer) -> None:
    """Defaults, None for ping_interval/max_size, proxy=True and open_timeout are accepted."""
    state = pyodide.run(
        "import ipyws\n"
        f"ws = ipyws.WebSocket({wpt.url('/echo')!r}, ping_interval=None, max_size=None,\n"
        "    proxy=True, ssl=None, open_timeout=5, close_timeout=1, log_size=10)\n"
        "await ws.opened\n"
        "ws.close()\n"
        "await ws.closed\n"
        "ws.readyState.name"
    )
    assert state == "CLOSED"


@pytest.mark.parametrize(
    ("call", "await_form"),
    [
        ("ws.wait_open()", "await ws.opened"),
        ("ws.wait_message()", "await ws.next_message()"),
        ("ws.wait_closed()", "await ws.closed"),
    ],
)
def test_blocking_helpers_point_to_await(
    pyodide: PyodideSession, wpt: TestServer, call: str, await_form: str
) -> None:
    """wait_open/wait_message/wait_closed raise RuntimeError naming their await form."""
    message = pyodide.run(
        "import ipyws\n"
        f"ws = ipyws.WebSocket({wpt.url('/echo')!r})\n"
        "try:\n"
        f"    {call}\n"
        "except RuntimeError as exc:\n"
        "    message = str(exc)\n"
        "ws.close()\n"
        "await ws.closed\n"
        "message"
    )
    assert message is not None
    assert call.removeprefix("ws.") in message
    assert f"`{await_form}`" in message


def test_async_iteration_and_next_message(pyodide: PyodideSession, wpt: TestServer) -> None:
    """`await ws.next_message()` and `async for` receive the echoes, in order."""
    received = pyodide.json(
        "import json, ipyws\n"
        f"ws = ipyws.WebSocket({wpt.url('/echo')!r})\n"
        "await ws.opened\n"
        "for text in ('a', 'b', 'c', 'Goodbye'):\n"
        "    ws.send(text)\n"
        "first = (await ws.next_message(timeout=10)).data\n"
        "rest = [event.data async for event in ws]\n"
        "json.dumps([first, rest])"
    )
    assert received == ["a", ["b", "c", "Goodbye"]]
