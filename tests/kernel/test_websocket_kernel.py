"""The WebSocket in a real ipykernel: where handlers run, where their output goes, keepalive."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from ipyws import demo
from ipyws.demo import DemoServer
from tests.kernel.harness import Kernel


@pytest.fixture
def echo() -> Iterator[DemoServer]:
    """An echo server in the test process (not in the kernel)."""
    with demo.start("echo") as server:
        yield server


@pytest.fixture
def ticker() -> Iterator[DemoServer]:
    """A 50 msg/s JSON ticker in the test process."""
    with demo.start("ticker", rate=50) as server:
        yield server


def test_creating_cell_returns_before_open(kernel: Kernel, echo: DemoServer) -> None:
    """The cell that creates a socket ends in CONNECTING; open fires only after it."""
    cell = kernel.run_ok(
        "from ipyws import WebSocket\n"
        f"ws = WebSocket({echo.url!r})\n"
        "ws.onopen = lambda e: print('opened in state', ws.readyState.name)\n"
        "print('cell end state', ws.readyState.name)\n"
    )
    assert "cell end state CONNECTING" in cell.stdout
    kernel.wait_for_output(cell.msg_id, "opened in state OPEN", timeout=20)


def test_handlers_run_on_main_thread_between_cells(kernel: Kernel, ticker: DemoServer) -> None:
    """onmessage runs on MainThread and never while a cell runs; queued messages follow the cell."""
    kernel.run_ok(
        "import threading, time\n"
        "from ipyws import WebSocket\n"
        "busy = False\n"
        "seen = []\n"
        "def on_message(event):\n"
        "    seen.append((threading.current_thread().name, busy))\n"
        f"ws = WebSocket({ticker.url!r}, onmessage=on_message)\n"
        "ws.wait_open(timeout=20)\n"
    )
    kernel.run_ok(
        "busy = True\nbefore = len(seen)\ntime.sleep(2)\n"
        "during = len(seen) - before\nbusy = False\n"
    )
    check = kernel.run_ok(
        "ws.wait_message(timeout=20)\n"
        "print('threads', sorted({t for t, _ in seen}))\n"
        "print('delivered while busy', sum(b for _, b in seen))\n"
        "print('during', during, 'total', len(seen))\n"
    )
    assert "threads ['MainThread']" in check.stdout
    assert "delivered while busy 0" in check.stdout
    assert "during 0" in check.stdout


def test_handler_output_lands_under_registering_cell(kernel: Kernel, echo: DemoServer) -> None:
    """A handler's print goes to the cell that registered it, even after other cells ran."""
    register = kernel.run_ok(
        "from ipyws import WebSocket\n"
        f"ws = WebSocket({echo.url!r})\n"
        "ws.onmessage = lambda e: print('echoed:', e.data)\n"
        "ws.wait_open(timeout=20)\n"
    )
    other = kernel.run_ok("print('an unrelated cell')")
    sender = kernel.run_ok("ws.send('ping-1')")
    kernel.wait_for_output(register.msg_id, "echoed: ping-1", timeout=20)
    assert "echoed" not in kernel.stdout_of(other.msg_id)
    assert "echoed" not in kernel.stdout_of(sender.msg_id)


def test_raising_handler_shows_traceback_and_socket_stays_open(
    kernel: Kernel, echo: DemoServer
) -> None:
    """A handler that raises shows its traceback under its cell and the socket goes on."""
    register = kernel.run_ok(
        "from ipyws import WebSocket\n"
        f"ws = WebSocket({echo.url!r})\n"
        "def boom(event):\n"
        "    raise ValueError('handler failed on ' + event.data)\n"
        "ws.addEventListener('message', boom)\n"
        "ws.addEventListener('message', lambda e: print('second listener got', e.data))\n"
        "ws.wait_open(timeout=20)\n"
    )
    kernel.run_ok("ws.send('x1')")
    kernel.wait_for_output(register.msg_id, "second listener got x1", timeout=20)
    kernel.wait_until(lambda: bool(kernel.errors_of(register.msg_id)), timeout=20)
    error = kernel.errors_of(register.msg_id)[0]
    assert error.ename == "ValueError"
    assert "handler failed on x1" in error.evalue
    after = kernel.run_ok(
        "ws.send('x2'); print(ws.readyState.name, ws.wait_message(timeout=20).data)"
    )
    assert "OPEN x2" in after.stdout


def test_blocking_helpers_deliver_events_in_a_sync_cell(kernel: Kernel, echo: DemoServer) -> None:
    """wait_open / wait_message / wait_closed work in one sync cell and run handlers meanwhile."""
    cell = kernel.run_ok(
        "from ipyws import WebSocket\n"
        "log = []\n"
        f"ws = WebSocket({echo.url!r}, onopen=lambda e: log.append('open'))\n"
        "ws.wait_open(timeout=20)\n"
        "ws.send('hello')\n"
        "print('got', ws.wait_message(timeout=20).data)\n"
        "ws.close(4000, 'bye')\n"
        "event = ws.wait_closed(timeout=20)\n"
        "print(log, event.code, event.reason, event.wasClean)\n"
    )
    assert "got hello" in cell.stdout
    assert "['open'] 4000 bye True" in cell.stdout


def test_await_helpers_work_in_cells(kernel: Kernel, echo: DemoServer) -> None:
    """await ws.opened, await ws.next_message(), async for and await ws.closed work in cells."""
    cell = kernel.run_ok(
        "from ipyws import WebSocket\n"
        f"ws = WebSocket({echo.url!r})\n"
        "await ws.opened\n"
        "ws.send('a'); ws.send('b'); ws.send('c')\n"
        "first = await ws.next_message(timeout=20)\n"
        "rest = []\n"
        "async for event in ws:\n"
        "    rest.append(event.data)\n"
        "    if len(rest) == 2:\n"
        "        ws.close()\n"
        "closed = await ws.closed\n"
        "print(first.data, rest, closed.code)\n"
    )
    assert "a ['b', 'c'] 1005" in cell.stdout


def test_connection_survives_a_30_second_blocking_cell(kernel: Kernel) -> None:
    """A 30 s time.sleep cell does not kill a socket whose server pings every 5 s (10 s timeout)."""
    with demo.start("echo", ping_interval=5, ping_timeout=10) as server:
        kernel.run_ok(
            "from ipyws import WebSocket\n"
            f"ws = WebSocket({server.url!r}, ping_interval=None)\n"
            "closes = []\n"
            "ws.onclose = lambda e: closes.append(e.code)\n"
            "ws.wait_open(timeout=20)\n"
        )
        kernel.run_ok("import time\ntime.sleep(30)", timeout=90)
        cell = kernel.run_ok(
            "ws.send('still there?')\n"
            "print(ws.readyState.name, ws.wait_message(timeout=20).data, closes)\n"
        )
        assert "OPEN still there? []" in cell.stdout


def test_kernel_shutdown_closes_sockets_with_1001(kernel: Kernel) -> None:
    """Shutting the kernel down closes its open sockets with 1001 Going Away, without hanging."""
    import asyncio
    import threading

    from websockets.asyncio.server import ServerConnection, serve

    closed: list[int | None] = []
    done = threading.Event()
    ready = threading.Event()
    port: list[int] = []
    stop = threading.Event()

    async def handler(connection: ServerConnection) -> None:
        await connection.wait_closed()
        closed.append(connection.close_code)
        done.set()

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0) as server:
            port.append(server.sockets[0].getsockname()[1])
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        kernel.run_ok(
            "from ipyws import WebSocket\n"
            f"ws = WebSocket('ws://127.0.0.1:{port[0]}/')\n"
            "ws.wait_open(timeout=20)\n"
        )
        kernel.shutdown()
        assert done.wait(20), "the server never saw the socket close"
        assert closed == [1001]
    finally:
        stop.set()
        thread.join(10)


def test_rerunning_a_cell_replaces_its_socket_and_listeners(
    kernel: Kernel, echo: DemoServer
) -> None:
    """Re-running a cell (same cell id) replaces the socket and listeners it made, never adds."""
    cell = (
        "from ipyws import WebSocket, sockets\n"
        f"ws = WebSocket({echo.url!r})\n"
        "def on_message(event):\n"
        "    print('got', event.data)\n"
        "ws.addEventListener('message', on_message)\n"
        "ws.wait_open(timeout=20)\n"
    )
    runs = [kernel.run_ok(cell, cell_id="cell-connect") for _ in range(3)]
    listeners = "ws.addEventListener('message', lambda e: print('other cell got', e.data))\n"
    others = [kernel.run_ok(listeners, cell_id="cell-listen") for _ in range(2)]
    check = kernel.run_ok(
        "print('open sockets', sum(s.readyState == s.OPEN for s in sockets()))\n"
        "ws.send('x')\n"
        "ws.wait_message(timeout=20)\n"
    )
    assert "open sockets 1" in check.stdout
    kernel.wait_for_output(runs[-1].msg_id, "got x", timeout=20)
    kernel.wait_for_output(others[-1].msg_id, "other cell got x", timeout=20)
    assert kernel.stdout_of(runs[-1].msg_id).count("got x") == 1
    assert "got x" not in kernel.stdout_of(runs[0].msg_id)
    assert "got x" not in kernel.stdout_of(others[0].msg_id)


def test_cells_without_a_cell_id_keep_browser_semantics(kernel: Kernel, echo: DemoServer) -> None:
    """Without a frontend cell id, the same code run twice makes two sockets, as in a browser."""
    code = f"from ipyws import WebSocket, sockets\nWebSocket({echo.url!r}).wait_open(timeout=20)\n"
    kernel.run_ok(code)
    kernel.run_ok(code)
    check = kernel.run_ok("print('open sockets', len(sockets()))")
    assert "open sockets 2" in check.stdout


def test_what_a_notebook_saves_holds_no_credentials(kernel: Kernel, echo: DemoServer) -> None:
    """Display data, widget state, %ws list/log and errors mask the URL's password and tokens."""
    # Built in the kernel, so that no cell's own source (execute_input) holds the secrets.
    kernel.run_ok(
        "%load_ext ipyws\n"
        "from ipyws import WebSocket\n"
        "password, token = 'hun' + 'ter22', 'tok-' + '9f8e7d'\n"
        f"url = {echo.url!r}.replace('ws://', f'ws://user:{{password}}@')\n"
        "ws = WebSocket(url, headers={'Authorization': f'Bearer {token}'})\n"
        "ws"
    )
    cell = kernel.execute(
        "ws.wait_open(timeout=20)\n"
        "ws.send('hi')\n"
        "ws.wait_message(timeout=20)\n"
        "ws.close()\n"
        "ws.wait_closed(timeout=20)\n"
        "print('url kept:', ws.url == url)\n"
        "%ws list\n"
        "%ws log ws\n"
        "WebSocket(url.replace('127.0.0.1', 'bad host'))\n"
    )
    assert cell.error is not None and "SyntaxError" in cell.error.text  # the last line

    def panel_closed() -> bool:
        return any(
            (m.content.get("data") or {}).get("state", {}).get("state") == "CLOSED"
            for m in kernel.comm_msgs()
        )

    kernel.wait_until(panel_closed, timeout=20, what="the panel to say CLOSED")
    shown = json.dumps([m.content for m in kernel.messages()])
    assert "url kept: True" in shown
    assert "user:***@127.0.0.1" in shown  # the URL is there, masked
    assert "ws://***@bad host" in shown  # the bad URL's error, masked too
    for secret in ("hunter22", "tok-9f8e7d", "dXNlcjpodW50ZXIyMg=="):
        assert secret not in shown
