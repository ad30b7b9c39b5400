"""The magics and the panel under Pyodide, with IPython and the widget packages installed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pyodide.conftest import PyodideSession
from tests.servers import TestServer


@pytest.fixture(scope="module")
def wpt() -> Iterator[TestServer]:
    """A test server of this module's own.

    Node's WebSocket (undici) pools connections per origin: after the handshakes that other
    modules abort on the session's server, it failed a later one there now and then.
    """
    with TestServer() as server:
        yield server


SHELL = (
    "import json, ipyws\n"
    "from IPython.core.interactiveshell import InteractiveShell\n"
    "from IPython.core.error import UsageError\n"
    "ip = InteractiveShell.instance()\n"
    "ip.run_line_magic('load_ext', 'ipyws')\n"
)


def test_connect_send_close_magics(with_ipython: PyodideSession, wpt: TestServer) -> None:
    """%ws connect binds a socket, %ws send goes out once it is open, %ws close closes it."""
    result = with_ipython.json(
        SHELL + f"ip.run_line_magic('ws', 'connect {wpt.url('/echo')} --as feed --no-display')\n"
        "feed = ip.user_ns['feed']\n"
        "await feed.opened\n"
        "ip.run_line_magic('ws', 'send feed hello')\n"
        "echo = (await feed.next_message(timeout=10)).data\n"
        "ip.run_line_magic('ws', 'close feed 4000 bye')\n"
        "close = await feed.closed\n"
        "json.dumps([type(feed).__name__, echo, close.code, close.reason])"
    )
    assert result == ["WebSocket", "hello", 4000, "bye"]


def test_demo_explains_how_to_run_the_server(with_ipython: PyodideSession) -> None:
    """%ws demo echo says no server can start in the browser and how to start it locally."""
    message = with_ipython.run(
        SHELL + "try:\n"
        "    ip.run_line_magic('ws', 'demo echo')\n"
        "except UsageError as exc:\n"
        "    message = str(exc)\n"
        "message"
    )
    assert message is not None
    assert "cannot start inside the browser" in message
    assert "python -m ipyws.demo echo --port 8765" in message
    assert "%ws connect ws://127.0.0.1:8765/ --as echo" in message


def test_panel_follows_the_socket(with_ipython: PyodideSession, wpt: TestServer) -> None:
    """The panel's traits turn OPEN and count the echo, updated from Pyodide's loop."""
    result = with_ipython.json(
        "import asyncio, json, ipyws\n"
        "from ipyws.widgets import panel\n"
        f"ws = ipyws.WebSocket({wpt.url('/echo')!r})\n"
        "view = panel(ws)\n"
        "await ws.opened\n"
        "ws.send('ping')\n"
        "await ws.next_message(timeout=10)\n"
        "for _ in range(200):\n"
        "    if view.state == 'OPEN' and view.messages_in == 1:\n"
        "        break\n"
        "    await asyncio.sleep(0.05)\n"
        "seen = [view.state, view.messages_in, view.messages_out]\n"
        "ws.close()\n"
        "await ws.closed\n"
        "for _ in range(200):\n"
        "    if view.state == 'CLOSED':\n"
        "        break\n"
        "    await asyncio.sleep(0.05)\n"
        "json.dumps(seen + [view.state, view.close_code])"
    )
    assert result == ["OPEN", 1, 1, "CLOSED", 1005]
