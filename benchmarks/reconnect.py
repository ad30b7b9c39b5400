"""Reconnect time: from a server restart to OPEN again, ipyws against websockets' own loop.

``python -m benchmarks.reconnect`` (about 2 minutes) or ``--quick`` (about 20 s). The
benchmark server (:mod:`benchmarks.server`) runs in its own process; each measurement opens a
client to its ``/echo`` route, kills the server with SIGKILL, keeps it down for ``--down``
seconds, starts it again on the same port and waits for the client's next open. It prints,
per client, the median (and range) over repetitions of:

* **detect**: from the kill to the client noticing the connection ended;
* **restart → OPEN**: from the restarted server listening to the client OPEN again, the
  figure a user waits for (the rest of the backoff wait, plus the handshake);
* **echo after**: one round trip on the new connection, to show it works.

Clients: ``ipyws`` (``reconnect=True``, the default policy), ``ipyws-fast`` (``Reconnect(
initial_delay=0.1, max_delay=1.0)``) and ``ws-async``, the baseline: websockets'
``async for ws in connect(url)`` with its default backoff. Nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from websockets.asyncio.client import connect

from ipyws import Reconnect, WebSocket

__all__ = ["Measurement", "main", "measure"]

WAIT = 120.0
"""Seconds any one step may take before the measurement is given up."""

CLIENTS = ("ipyws", "ipyws-fast", "ws-async")


@dataclass
class Measurement:
    """One restart as one client saw it, in seconds."""

    client: str
    detect: float
    restart_to_open: float
    echo: float


class _Server:
    """``python -m benchmarks.server`` in its own process, restartable on the same port."""

    def __init__(self) -> None:
        self.port = 0
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> float:
        """Start the server; return the monotonic time it reported listening."""
        command = [sys.executable, "-m", "benchmarks.server", "--port", str(self.port)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        ready = time.monotonic()
        if not line.startswith("READY ws://"):
            raise RuntimeError(f"the benchmark server did not start: {line!r}")
        self.port = int(line.strip().rsplit(":", 1)[1])
        return ready

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/echo"

    def kill(self) -> float:
        """SIGKILL the server; return the monotonic time of the kill."""
        assert self.process is not None
        killed = time.monotonic()
        self.process.kill()
        self.process.wait(WAIT)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None
        return killed


def _wait(event: threading.Event, what: str) -> None:
    if not event.wait(WAIT):
        raise TimeoutError(f"no {what} within {WAIT} s")


def _ipyws(server: _Server, down: float, policy: Reconnect) -> Measurement:
    opened: list[float] = []
    closed: list[float] = []
    open_event, close_event = threading.Event(), threading.Event()

    def on_open(_: object) -> None:
        opened.append(time.monotonic())
        open_event.set()

    def on_close(_: object) -> None:
        closed.append(time.monotonic())
        close_event.set()

    ws = WebSocket(server.url, reconnect=policy, onopen=on_open, onclose=on_close)
    try:
        _wait(open_event, "open")
        open_event.clear()
        killed = server.kill()
        _wait(close_event, "close")
        time.sleep(down)  # the outage itself
        ready = server.start()
        _wait(open_event, "open after the restart")
        start = time.perf_counter()
        ws.send("x")
        ws.wait_message(timeout=WAIT)
        echo = time.perf_counter() - start
        return Measurement("", closed[0] - killed, opened[-1] - ready, echo)
    finally:
        ws.close()
        ws.wait_closed(timeout=WAIT)


def _ws_async(server: _Server, down: float) -> Measurement:
    """websockets' reconnecting iterator, run on its own loop in a thread."""
    opened: list[float] = []
    closed: list[float] = []
    open_event, close_event = threading.Event(), threading.Event()
    echoes: list[float] = []
    stop: asyncio.Event | None = None
    loop_ready = threading.Event()
    loop_box: list[asyncio.AbstractEventLoop] = []

    async def client() -> None:
        nonlocal stop
        stop = asyncio.Event()
        loop_box.append(asyncio.get_running_loop())
        loop_ready.set()
        async for ws in connect(server.url, compression=None):
            opened.append(time.monotonic())
            if len(opened) > 1:
                start = time.perf_counter()
                await ws.send("x")
                await ws.recv()
                echoes.append(time.perf_counter() - start)
            open_event.set()
            waiter = asyncio.ensure_future(ws.wait_closed())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait([waiter, stopper], return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if stop.is_set():
                waiter.cancel()
                await ws.close()
                return
            closed.append(time.monotonic())
            close_event.set()

    thread = threading.Thread(target=asyncio.run, args=(client(),), daemon=True)
    thread.start()
    _wait(loop_ready, "the client's loop")
    try:
        _wait(open_event, "open")
        open_event.clear()
        killed = server.kill()
        _wait(close_event, "close")
        time.sleep(down)
        ready = server.start()
        _wait(open_event, "open after the restart")
        return Measurement("", closed[0] - killed, opened[-1] - ready, echoes[0])
    finally:
        loop = loop_box[0]
        loop.call_soon_threadsafe(lambda: stop.set() if stop is not None else None)
        thread.join(WAIT)


def measure(client: str, server: _Server, down: float) -> Measurement:
    """Measure one restart with ``client`` (one of :data:`CLIENTS`)."""
    runs: dict[str, Callable[[], Measurement]] = {
        "ipyws": lambda: _ipyws(server, down, Reconnect()),
        "ipyws-fast": lambda: _ipyws(server, down, Reconnect(initial_delay=0.1, max_delay=1.0)),
        "ws-async": lambda: _ws_async(server, down),
    }
    result = runs[client]()
    result.client = client
    return result


def _cell(values: Sequence[float], scale: float = 1.0, digits: int = 2) -> str:
    median = statistics.median(values) * scale
    if len(values) == 1:
        return f"{median:.{digits}f}"
    low, high = min(values) * scale, max(values) * scale
    return f"{median:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"


def table(results: Sequence[Measurement], down: float) -> str:
    """Format the measurements as a Markdown table, one row per client."""
    lines = [
        f"### Reconnect after a server restart ({down:g} s down)",
        "",
        "| client | detect, s | restart → OPEN, s | echo after, ms | restarts |",
        "|---|---|---|---|---|",
    ]
    for client in dict.fromkeys(r.client for r in results):
        mine = [r for r in results if r.client == client]
        lines.append(
            f"| {client} | {_cell([r.detect for r in mine], digits=3)} "
            f"| {_cell([r.restart_to_open for r in mine])} "
            f"| {_cell([r.echo for r in mine], 1000.0)} | {len(mine)} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure the clients' reconnect times and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5, help="restarts per client (default 5)")
    parser.add_argument("--down", type=float, default=2.0, help="seconds the server stays down")
    parser.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated clients")
    parser.add_argument(
        "--quick", action="store_true", help="one restart per client, at most 0.5 s down"
    )
    args = parser.parse_args(argv)
    reps, down = (1, min(0.5, args.down)) if args.quick else (args.reps, args.down)
    clients = [c for c in args.clients.split(",") if c]
    unknown = set(clients) - set(CLIENTS)
    if unknown:
        parser.error(f"unknown clients {sorted(unknown)}; choose from {', '.join(CLIENTS)}")
    server = _Server()
    server.start()
    results: list[Measurement] = []
    try:
        for rep in range(reps):
            # Rotate the order, so a slow spell of the machine hits every client.
            for client in clients[rep % len(clients) :] + clients[: rep % len(clients)]:
                results.append(measure(client, server, down))
    finally:
        if server.process is not None:
            server.kill()
    print(table(results, down))
    return 0


if __name__ == "__main__":
    sys.exit(main())
