"""The %ws / %%ws magics in a real ipykernel: re-run safety, output routing, demo + log, unload."""

from __future__ import annotations

import json

from tests.kernel.harness import Cell, Kernel

TIMEOUT = 60.0

# Helpers defined in the kernel: wait for a condition while letting the kernel loop (and so
# the socket's handlers) run, with a timeout.
SETUP = """\
%load_ext ipyws
import asyncio, threading
from ipyws import demo, sockets

async def until(predicate, timeout=30):
    async def poll():
        while not predicate():
            await asyncio.sleep(0.02)
    await asyncio.wait_for(poll(), timeout)
"""


def submit_in_cell(kernel: Kernel, code: str, cell_id: str) -> str:
    """Send an execute_request carrying the frontend's cell id, as JupyterLab and Notebook 7 do."""
    msg_id: str = kernel.submit(code, cell_id=cell_id)
    return msg_id


def run_in_cell(kernel: Kernel, code: str, cell_id: str) -> Cell:
    """Run ``code`` as the frontend cell ``cell_id`` and check it succeeded."""
    return kernel.run_ok(code, TIMEOUT, cell_id=cell_id)


def test_on_cell_run_three_times_leaves_one_handler(kernel: Kernel) -> None:
    """A %%ws on cell run three times (same cell id, edited) handles each message once."""
    kernel.run_ok(SETUP + "%ws demo echo --no-display\nawait echo.opened")
    runs = [
        run_in_cell(kernel, f"%%ws on echo message\nprint('handled', {i}, event.data)", "cell-on")
        for i in range(3)
    ]
    first = kernel.run_ok("%ws send echo one")
    kernel.wait_for_output(runs[-1].msg_id, "handled 2 one", TIMEOUT)
    # A second message: had any duplicate handler survived, it would have printed by now.
    kernel.run_ok("%ws send echo two")
    kernel.wait_for_output(runs[-1].msg_id, "handled 2 two", TIMEOUT)
    assert kernel.stdout_of(runs[-1].msg_id) == "handled 2 one\nhandled 2 two\n"
    assert [kernel.stdout_of(r.msg_id) for r in runs[:2]] == ["", ""]
    assert "handled" not in kernel.stdout_of(first.msg_id)
    count = kernel.run_ok("print(len(echo._listeners['message']))")
    assert count.stdout == "1\n"


def test_on_cell_without_cell_id_rerun_leaves_one_handler(kernel: Kernel) -> None:
    """With no cell id (console, nbclient), re-running the identical %%ws on cell still replaces."""
    kernel.run_ok(SETUP + "%ws demo echo --no-display\nawait echo.opened")
    runs = [kernel.run_ok("%%ws on echo message\nprint('got', event.data)") for _ in range(3)]
    kernel.run_ok("%ws send echo hi")
    kernel.wait_for_output(runs[-1].msg_id, "got hi", TIMEOUT)
    kernel.run_ok("%ws send echo again")
    kernel.wait_for_output(runs[-1].msg_id, "got again", TIMEOUT)
    assert kernel.stdout_of(runs[-1].msg_id) == "got hi\ngot again\n"
    assert [kernel.stdout_of(r.msg_id) for r in runs[:2]] == ["", ""]


def test_connect_rerun_leaves_one_connection(kernel: Kernel) -> None:
    """Running the same %ws connect cell three times leaves one socket, the latest, not CLOSED."""
    kernel.run_ok(SETUP + "server = demo.start('echo')\nmade = []")
    for _ in range(3):
        run_in_cell(
            kernel, "%ws connect {server.url} --as feed --no-display\nmade.append(feed)", "cell-c"
        )
    cell = kernel.run_ok(
        "await until(lambda: len(sockets()) == 1 and feed.readyState == 1)\n"
        "print(sockets() == [feed], [int(ws.readyState) for ws in made])\n"
        "print(*[ws.transcript.records()[-1].get('code') for ws in made[:2]])"
    )
    alive, codes = cell.stdout.splitlines()
    assert alive == "True [3, 3, 1]"
    # 1000 if the old socket had opened before the re-run closed it, 1006 if still connecting.
    assert set(codes.split()) <= {"1000", "1006"}, codes


def test_connect_shows_the_socket_and_returns_at_once(kernel: Kernel) -> None:
    """%ws connect displays the socket under its cell and returns; --no-display shows nothing."""
    kernel.run_ok(SETUP + "server = demo.start('echo')")
    shown = kernel.run_ok("%ws connect {server.url} --as feed\nprint(feed.readyState)")
    assert shown.stdout == "0\n"  # the cell finished before the socket opened
    # The saved snapshot (for exported copies), then the panel itself.
    saved, bundle = shown.display_data
    assert 'class="ipyws-saved-snapshot"' in saved["text/html"]
    assert "ws://127.0.0.1:" in bundle["text/plain"]
    hidden = kernel.run_ok("%ws connect {server.url} --as quiet --no-display")
    assert hidden.display_data == [] and hidden.execute_result is None


def test_handler_output_lands_under_the_on_cell(kernel: Kernel) -> None:
    """Prints and errors from a %%ws on handler appear under that cell, not the one that sent."""
    kernel.run_ok(SETUP + "%ws demo echo --no-display\nawait echo.opened")
    on = run_in_cell(
        kernel,
        "%%ws on echo message\nprint('echoed', event.data)\nif event.data == 'boom':\n    1 / 0",
        "cell-on",
    )
    other = kernel.run_ok("print('another cell ran')")
    send = kernel.run_ok("%ws send echo hello\n%ws send echo boom")
    kernel.wait_for_output(on.msg_id, "echoed boom", TIMEOUT)
    kernel.wait_until(lambda: bool(kernel.errors_of(on.msg_id)), TIMEOUT, "the handler's error")
    assert kernel.stdout_of(on.msg_id) == "echoed hello\nechoed boom\n"
    assert kernel.stdout_of(send.msg_id) == "" and kernel.errors_of(send.msg_id) == []
    assert kernel.stdout_of(other.msg_id) == "another cell ran\n"
    (error,) = kernel.errors_of(on.msg_id)
    assert error.ename == "ZeroDivisionError"
    assert "ipyws/_magics" not in error.text


def test_handler_moved_by_reconnect_still_prints_under_its_cell(kernel: Kernel) -> None:
    """After NAME is reconnected in a later cell, its %%ws on handler prints under its own cell."""
    kernel.run_ok(SETUP + "%ws demo echo --no-display\nawait echo.opened")
    on = run_in_cell(kernel, "%%ws on echo message\nprint('handled', event.data)", "cell-on")
    again = kernel.run_ok("%ws demo echo --no-display")
    kernel.run_ok("await echo.opened\n%ws send echo after reconnect")
    kernel.wait_for_output(on.msg_id, "handled after reconnect", TIMEOUT)
    assert "handled" not in kernel.stdout_of(again.msg_id)


def test_demo_ticker_then_log_shows_ticks(kernel: Kernel) -> None:
    """%ws demo ticker, then %ws log ticker, prints received JSON ticks with ms times."""
    kernel.run_ok(SETUP + "%ws demo ticker --rate 20 --no-display")
    kernel.run_ok("await until(lambda: ticker.transcript.messages_in >= 3)")
    log = kernel.run_ok("%ws log ticker -n 3")
    header, *lines = log.stdout.splitlines()
    assert header.startswith("ticker  ws://127.0.0.1:") and "(last 3 of " in header
    assert len(lines) == 3
    for line in lines:
        time_part, rest = line.split("  ", 1)
        assert len(time_part) == len("12:34:56.789") and time_part[8] == "."
        assert rest.startswith("↓ text")
        tick = json.loads(rest.split(" B  ", 1)[1])
        assert tick["type"] == "tick"


def test_unload_closes_everything(kernel: Kernel) -> None:
    """%unload_ext ipyws closes every socket the magics opened, stops demo servers, removes %ws."""
    started = kernel.run_ok(
        SETUP + "%ws demo echo --no-display\n%ws demo ticker --as feed --no-display\n"
        "await echo.opened\nawait feed.opened\n"
        "print(sorted(t.name for t in threading.enumerate() if t.name.startswith('ipyws-demo')))"
    )
    assert started.stdout.endswith("['ipyws-demo-echo', 'ipyws-demo-ticker']\n")
    kernel.run_ok("%unload_ext ipyws")
    cell = kernel.run_ok(
        "await asyncio.wait_for(asyncio.gather(echo.closed, feed.closed), 30)\n"
        "print(int(echo.readyState), int(feed.readyState), len(sockets()),\n"
        "      [t.name for t in threading.enumerate() if t.name.startswith('ipyws-demo')])"
    )
    assert cell.stdout == "3 3 0 []\n"
    gone = kernel.execute("%ws list")
    assert gone.status == "error"
    assert gone.stderr == "UsageError: Line magic function `%ws` not found.\n"


def test_usage_errors_are_one_line_without_traceback(kernel: Kernel) -> None:
    """A mistake in a %ws line fails the cell with a one-line UsageError, no traceback."""
    kernel.run_ok(SETUP)
    cell = kernel.execute("%ws send nowhere hello")
    assert cell.status == "error"
    assert cell.reply.get("ename") == "UsageError"
    assert cell.errors == []
    assert cell.stderr == (
        "UsageError: %ws send: no WebSocket named 'nowhere'; "
        "open one with %ws connect URL --as nowhere\n"
    )


def test_completion_in_the_kernel(kernel: Kernel) -> None:
    """The kernel's completer offers subcommands and socket names for %ws lines."""
    kernel.run_ok(SETUP + "%ws demo echo --no-display")
    cell = kernel.run_ok(
        "from IPython.core.completer import provisionalcompleter\n"
        "with provisionalcompleter():\n"
        "    c = get_ipython().Completer\n"
        "    print(sorted({x.text for x in c.completions('%ws c', 5)}),\n"
        "          sorted({x.text for x in c.completions('%ws send e', 10)}))"
    )
    assert cell.stdout == "['close', 'connect'] ['echo']\n"


def test_connect_and_send_in_one_cell(kernel: Kernel) -> None:
    """%ws send right after %ws connect in the same cell waits for the open, then sends."""
    kernel.run_ok(SETUP)
    cell = kernel.run_ok(
        "%ws demo echo --no-display\n%ws send echo same cell\nprint(echo.wait_message(20).data)"
    )
    assert cell.stdout.endswith("same cell\n")
