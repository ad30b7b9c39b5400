"""A feed faster than its handler, in a real kernel: cells still run, output stays bounded."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.kernel.harness import Kernel
from tests.servers import TestServer

CELL_START = 2.0
"""Seconds a trivial cell may wait to start during a flood (a fraction of one when idle; the
bound leaves room for a loaded 2-core machine, against tens of seconds when unbounded)."""


@pytest.fixture(scope="module")
def flood_server() -> Iterator[TestServer]:
    """The loopback test server (its ``/flood`` path), in the test process."""
    with TestServer() as server:
        yield server


def test_a_cell_starts_at_once_during_a_flood_into_a_slow_handler(
    kernel: Kernel, flood_server: TestServer
) -> None:
    """A 2 ms handler behind an endless flood: cells start within CELL_START, none is lost."""
    register = kernel.run_ok(
        "import time\n"
        "from ipyws import WebSocket\n"
        "seen = []\n"
        "def on_message(event):\n"
        "    seen.append(int(event.data.split(' ', 1)[0]))\n"
        "    end = time.perf_counter() + 0.002\n"
        "    while time.perf_counter() < end:\n"
        "        pass\n"
        f"ws = WebSocket({flood_server.url('/flood?size=100')!r}, onmessage=on_message)\n"
        "ws.wait_open(timeout=20)\n"
    )
    # The handler falls behind at once: 2 ms a message against tens of thousands a second.
    kernel.run_ok("while len(seen) < 500:\n    ws.wait_message(timeout=20)\n")
    delays = []
    for _ in range(5):
        sent = time.time()
        cell = kernel.run_ok("import time; print('started', time.time())", timeout=60)
        started = float(cell.stdout.split()[-1])
        delays.append(started - sent)
    check = kernel.run_ok(
        "b = ws.backlog\n"
        "print('in order', seen == list(range(len(seen))), 'handled', len(seen))\n"
        "print('paused', b.paused, 'dropped', b.dropped, 'bounded', b.messages <= 20_000)\n"
        "ws.close()\n"
    )
    assert max(delays) < CELL_START, delays
    assert "in order True" in check.stdout
    assert "dropped 0 bounded True" in check.stdout
    assert not kernel.errors_of(register.msg_id)


def test_a_handler_raising_on_every_message_prints_a_bounded_output(
    kernel: Kernel, flood_server: TestServer
) -> None:
    """Thousands of failing messages: 3 tracebacks under the cell, then counted repeats."""
    register = kernel.run_ok(
        "import ipyws._repeats\n"
        "ipyws._repeats.SUMMARY_INTERVAL = 0.5\n"
        "from ipyws import WebSocket\n"
        "def on_message(event):\n"
        "    raise ValueError('bad message ' + event.data[:8])\n"
        f"ws = WebSocket({flood_server.url('/flood?size=100&n=20000')!r},"
        " onmessage=on_message)\n"
        "ws.wait_open(timeout=20)\n"
    )
    kernel.wait_for_output(register.msg_id, "more times, the last at", timeout=60, stream="stderr")
    after = kernel.run_ok("print(ws.readyState.name)")
    assert "OPEN" in after.stdout
    errors = kernel.errors_of(register.msg_id)
    assert len(errors) == 3
    assert all(error.ename == "ValueError" for error in errors)
    assert len(kernel.stderr_of(register.msg_id)) < 10_000
