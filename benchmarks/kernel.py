"""The kernel benchmarks: a real ipykernel, started through jupyter_client, with ipyws in it.

``python -m benchmarks.kernel BASE_URL [--cells K] [--rate R] [--sockets S] [--per-socket M]``
prints one JSON line with:

* ``idle``: the time from ``execute_request`` to its reply (and idle status) of a trivial
  cell (``x = 1``), p50 and p95 over K cells, with nothing else running;
* ``feed``: the same while a socket in the kernel receives R messages/s (100 B) with an
  ``onmessage`` handler and the live panel displayed, plus the messages the handler got per
  second and the panel's comm messages (frontend updates) per second over that window;
* ``sockets``: S sockets opened at once from one cell, each receiving M messages at a pace
  that keeps them all open together: whether every message was delivered, the time it took,
  the ipyws I/O threads and the kernel's OS threads with one socket and with S open.

The kernel is the test suite's hermetic one (``tests/kernel/harness.py``: private kernelspec,
config and runtime directories).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["main", "run"]

REPO = Path(__file__).resolve().parents[1]
_TRIVIAL = "x = 1"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _trivial_cells(kernel: Any, count: int, gap: float) -> list[float]:
    """Run ``count`` trivial cells one after another; return their latencies in ms."""
    latencies = []
    for _ in range(count):
        cell = kernel.execute(_TRIVIAL, timeout=60)
        cell.assert_ok()
        latencies.append(cell.elapsed * 1000.0)
        time.sleep(gap)  # spread the cells over the feed's batches and the panel's ticks
    return latencies


def _summary(latencies: list[float]) -> dict[str, Any]:
    return {
        "cells": len(latencies),
        "p50_ms": statistics.median(latencies),
        "p95_ms": _percentile(latencies, 0.95),
        "max_ms": max(latencies),
    }


def _value(kernel: Any, expression: str) -> Any:
    """Evaluate ``expression`` in the kernel and return it (it must print as JSON)."""
    cell = kernel.run_ok(f"import json as _json; print(_json.dumps({expression}))")
    return json.loads(cell.stdout.strip().splitlines()[-1])


_FEED_SETUP = """
import time
import ipyws
from IPython.display import display

count = 0

def on_message(event):
    global count
    count += 1

ws = ipyws.WebSocket({url!r}, onmessage=on_message)
ws.wait_open(30)
try:
    from ipyws import widgets
except ImportError:
    view = None
else:
    view = widgets.panel(ws) if hasattr(widgets, "panel") else widgets.WebSocketPanel(ws)
    display(view)
"""

_SOCKETS = """
import asyncio, os, threading, time
import ipyws

def _threads():
    return {{
        "io": sum(t.name == "ipyws-io" for t in threading.enumerate()),
        "python": threading.active_count(),
        "os": len(os.listdir("/proc/self/task")),
    }}

_counts = [0] * {sockets}
_open_now = 0
_open_most = 0

def _handler(i):
    def on_message(event):
        _counts[i] += 1
    return on_message

def _opened(event):
    global _open_now, _open_most
    _open_now += 1
    _open_most = max(_open_most, _open_now)

def _closed(event):
    global _open_now
    _open_now -= 1

_one = ipyws.WebSocket({one!r})
await _one.opened
_with_one = _threads()
await _one.closed
_start = time.perf_counter()
_sockets = [
    ipyws.WebSocket({url!r}, onopen=_opened, onmessage=_handler(i), onclose=_closed)
    for i in range({sockets})
]
await asyncio.gather(*(s.opened for s in _sockets))
_with_all = _threads()
await asyncio.wait_for(asyncio.gather(*(s.closed for s in _sockets)), 300)
_elapsed = time.perf_counter() - _start
_result = {{
    "sockets": {sockets},
    "expected": {sockets} * {per_socket},
    "delivered": sum(_counts),
    "all_delivered": all(c == {per_socket} for c in _counts),
    "open_together": _open_most,
    "clean": sum(s._close_event.wasClean for s in _sockets),
    "seconds": _elapsed,
    "threads_one_socket": _with_one,
    "threads_all_sockets": _with_all,
}}
"""


def run(
    base: str,
    cells: int = 100,
    rate: int = 20_000,
    sockets: int = 200,
    per_socket: int = 1000,
    socket_seconds: float = 10.0,
) -> dict[str, Any]:
    """Run the kernel benchmarks against the server at ``base``; return their results."""
    from tests.kernel import harness  # the test suite's hermetic kernel (run from a checkout)

    base = base.rstrip("/")
    result: dict[str, Any] = {"client": "kernel", "workload": "kernel"}
    with harness.start_kernel() as kernel:
        kernel.run_ok("import ipyws")
        _trivial_cells(kernel, 5, 0.0)  # warm-up
        result["idle"] = _summary(_trivial_cells(kernel, cells, 0.01))

        # Enough messages for the whole window; the socket is closed at its end.
        seconds = 60 + cells * 0.2
        url = f"{base}/rate?rate={rate}&seconds={seconds}&size=100"
        kernel.run_ok(_FEED_SETUP.format(url=url))
        time.sleep(1.0)  # the feed reaches its pace, the panel its first updates
        before = _value(kernel, "[count, time.monotonic()]")
        window_start = time.monotonic()
        comm_before = len(kernel.comm_msgs(msg_types=("comm_msg",)))
        latencies = _trivial_cells(kernel, cells, 0.01)
        comm_after = len(kernel.comm_msgs(msg_types=("comm_msg",)))
        window = time.monotonic() - window_start
        after = _value(kernel, "[count, time.monotonic()]")
        has_panel = _value(kernel, "view is not None")
        kernel.run_ok("ws.close(); ws.wait_closed(30)")
        result["feed"] = {
            **_summary(latencies),
            "rate_requested": rate,
            "handler_msg_s": (after[0] - before[0]) / (after[1] - before[1]),
            "panel": has_panel,
            "updates_s": (comm_after - comm_before) / window if has_panel else None,
        }

        # Paced so that every socket is still receiving when the last one opens.
        pace = max(1, int(per_socket / socket_seconds))
        url = f"{base}/rate?rate={pace}&n={per_socket}&size=100"
        one = f"{base}/rate?rate=10&n=5&size=100"
        kernel.run_ok(
            _SOCKETS.format(sockets=sockets, per_socket=per_socket, url=url, one=one), timeout=600
        )
        result["sockets"] = _value(kernel, "_result")
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the kernel benchmarks and print their result as a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="the benchmark server's URL, ws://127.0.0.1:PORT")
    parser.add_argument("--cells", type=int, default=100)
    parser.add_argument("--rate", type=int, default=20_000)
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--per-socket", type=int, default=1000)
    parser.add_argument("--socket-seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    result = run(
        args.base, args.cells, args.rate, args.sockets, args.per_socket, args.socket_seconds
    )
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
