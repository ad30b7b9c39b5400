"""Reconnect in a real ipykernel: handler output under its cell, a blocking cell loses nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.server_process import ServerProcess
from tests.kernel.harness import Kernel

TIMEOUT = 30.0


@pytest.fixture
def echo_process() -> Iterator[ServerProcess]:
    """The demo echo server in its own process, to kill and restart on the same port."""
    with ServerProcess("echo") as server:
        yield server


def test_reconnect_handler_output_lands_under_its_cell(
    kernel: Kernel, echo_process: ServerProcess
) -> None:
    """onreconnect and the second onopen print under the cell that registered them."""
    register = kernel.run_ok(
        "from ipyws import Reconnect, WebSocket\n"
        f"ws = WebSocket({echo_process.url!r}, reconnect=Reconnect(initial_delay=0.1))\n"
        "ws.onreconnect = lambda e: print('reconnect attempt', e.attempt, 'after', e.code)\n"
        "ws.onopen = lambda e: print('opened')\n"
        "ws.wait_open(timeout=20)\n"
    )
    other = kernel.run_ok("print('an unrelated cell')")
    echo_process.kill()
    kernel.wait_for_output(register.msg_id, "reconnect attempt 1 after 1006", TIMEOUT)
    echo_process.start()
    kernel.wait_until(
        lambda: kernel.stdout_of(register.msg_id).count("opened") == 2,
        TIMEOUT,
        "the second open under the registering cell",
    )
    assert "reconnect" not in kernel.stdout_of(other.msg_id)
    assert "opened" not in kernel.stdout_of(other.msg_id)
    kernel.run_ok("ws.close()\nws.wait_closed(timeout=20)")


def test_a_cell_blocking_20_s_during_a_restart_does_not_lose_the_reconnect(
    kernel: Kernel, echo_process: ServerProcess
) -> None:
    """While a cell blocks 20 s the server restarts; the socket reopens during the block."""
    kernel.run_ok(
        "import time\n"
        "from ipyws import Reconnect, WebSocket\n"
        f"ws = WebSocket({echo_process.url!r}, reconnect=Reconnect(initial_delay=0.1))\n"
        "ws.wait_open(timeout=20)\n"
    )
    # The cell blocks 20 s, and longer (up to a minute) if a busy machine has not restarted
    # the server and reopened by then: it reads the transcript, which the I/O thread fills.
    blocking = kernel.submit(
        "start = time.monotonic()\n"
        "def reopened():\n"
        "    return sum(r['type'] == 'open' for r in ws.transcript.records()) >= 2\n"
        "while time.monotonic() - start < 20 or (\n"
        "    not reopened() and time.monotonic() - start < 60\n"
        "):\n"
        "    time.sleep(0.05)\n"
        "block_ended = time.time()\n"
    )
    kernel.wait_for_status(blocking, "busy", TIMEOUT)
    echo_process.kill()
    echo_process.start()
    kernel.wait(blocking, timeout=90).assert_ok()
    check = kernel.run_ok(
        "ws.wait_open(timeout=20)\n"
        "opens = [r['time'] for r in ws.transcript.records() if r['type'] == 'open']\n"
        "print('opens', len(opens), 'reopened during the block', opens[-1] < block_ended)\n"
        "ws.send('still here')\n"
        "print('echo', ws.wait_message(timeout=20).data)\n"
    )
    assert "opens 2 reopened during the block True" in check.stdout
    assert "echo still here" in check.stdout
    kernel.run_ok("ws.close()\nws.wait_closed(timeout=20)")
