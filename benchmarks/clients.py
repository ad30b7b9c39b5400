"""The benchmark clients: one measurement per process, its result as one JSON line on stdout.

``python -m benchmarks.clients CLIENT WORKLOAD URL N`` where URL is the server's base URL
(``ws://127.0.0.1:PORT``) and WORKLOAD one of:

``feed100`` / ``feed4k``
    Receive N text messages of 100 B / 4 KiB. The clock starts before connecting (handshake
    included) and stops when the Nth message reaches the handler (``count += 1``).
``big``
    Receive N binary messages of 1 MiB; the handler adds up their sizes.
``echo``
    200 untimed warm-up round trips, then N sequential round trips of a 32-byte text, each
    timed from ``send`` to the handler that receives the answer (which sends the next one).
``memory``
    Receive N text messages of 100 B; report the RSS when the 10,000th (or, for a small N,
    the N/10th) and the Nth reach the handler.
``fragmented``
    Receive N text messages of 100 B, each in 3 frames; the handler adds up their lengths.
    Not a benchmark: the smoke test checks with it that a client joins fragments.

Clients: ``ws-async`` (websockets' asyncio client, ``async for``), ``wsc-app`` (websocket-client's
``WebSocketApp``), ``ipyws`` (plain Python: handlers on the ipyws-dispatch thread),
``ipyws-asyncio`` (handlers on the program's asyncio loop, as in a kernel), and the same two
with ``+panel`` (the live panel attached; its frontend updates are counted) or on one engine,
``ipyws[ENGINE]`` / ``ipyws-asyncio[ENGINE]`` (``engine=ENGINE``).

The candidate engines, measured as their own benchmarks use them: ``aiohttp``
(``ClientSession().ws_connect()``, ``async for``), ``picows`` (the bare engine: a
``WSListener`` that joins fragments and decodes text; ``picows-uvloop`` the same on uvloop),
``picows-compat`` (``picows.websockets.connect``, picows' websockets-compatible client,
``async for``) and ``ws-sansio`` (websockets' Sans-IO ``ClientProtocol`` driven by a bare
asyncio ``Protocol``: websockets' parser without its tasks and queues).

Every client uses its library's defaults except that compression is off and the message size
limit lifted, as the baselines in ``research/perf-anchors.md`` did; the server declines
compression anyway.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["CLIENTS", "ECHO_WARMUP", "WORKLOADS", "main", "path_for"]

ECHO_WARMUP = 200
ECHO_PAYLOAD = "x" * 32
MEMORY_EARLY = 10_000
TIMEOUT = 300.0

#: Workload name -> (server path template, what the handler accumulates).
WORKLOADS: dict[str, str] = {
    "feed100": "/feed?n={n}&size=100",
    "feed4k": "/feed?n={n}&size=4096",
    "big": "/big?n={n}&size=1048576",
    "echo": "/echo",
    "memory": "/feed?n={n}&size=100",
    "fragmented": "/feed?n={n}&size=100&fragments=3",
}


def path_for(workload: str, n: int) -> str:
    """Return the server path that serves ``workload`` with ``n`` messages."""
    if workload == "echo":
        return "/echo"
    return WORKLOADS[workload].format(n=n)


def _rss() -> int:
    """Return the resident set size of this process now, in bytes."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Meter:
    """Counts what a handler receives and stops the clock at the Nth message."""

    def __init__(self, workload: str, n: int) -> None:
        self.workload = workload
        self.n = n
        self.count = 0
        self.nbytes = 0
        self.samples: list[int] = []
        self.start = time.perf_counter()
        self.cpu_start = _cpu()
        self.elapsed = 0.0
        self.cpu = 0.0
        self.rss_early = 0
        self.rss_end = 0
        self.early = min(MEMORY_EARLY, max(1, n // 10))

    def restart(self) -> None:
        """Start the clock now (after the imports and set-up of the client)."""
        self.start = time.perf_counter()
        self.cpu_start = _cpu()

    def finish(self) -> None:
        """Stop the clock: the Nth message has reached the handler."""
        self.elapsed = time.perf_counter() - self.start
        self.cpu = _cpu() - self.cpu_start

    def result(self, **extra: Any) -> dict[str, Any]:
        """Return this measurement as a JSON-ready dict."""
        out: dict[str, Any] = {
            "workload": self.workload,
            "n": self.n,
            "count": self.count,
            "seconds": self.elapsed,
            "cpu_s": self.cpu,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
        if self.workload == "echo":
            samples = sorted(self.samples)
            out["p50_us"] = samples[len(samples) // 2] / 1000 if samples else None
            out["p99_us"] = (
                samples[min(len(samples) - 1, len(samples) * 99 // 100)] / 1000 if samples else None
            )
        elif self.elapsed:
            out["msg_s"] = self.count / self.elapsed
            # CPU time (all threads) per message: steadier than msg/s on a shared machine.
            out["cpu_us_msg"] = self.cpu / self.count * 1e6 if self.count else None
            if self.workload in ("big", "fragmented"):
                out["mib_s"] = self.nbytes / self.elapsed / (1 << 20)
                out["bytes"] = self.nbytes
        if self.workload == "memory":
            out["early"] = self.early
            out["rss_early_mib"] = self.rss_early / (1 << 20)
            out["rss_end_mib"] = self.rss_end / (1 << 20)
            out["growth_mib"] = (self.rss_end - self.rss_early) / (1 << 20)
        out.update(extra)
        return out


def _counting_handler(
    meter: Meter, on_done: Callable[[], None], size_of: Callable[[Any], int] = len
) -> Callable[[Any], None]:
    """Return the handler of a throughput workload: ``count += 1`` and the Nth-message check."""
    n = meter.n
    workload = meter.workload
    if workload in ("big", "fragmented"):

        def on_big(message: Any) -> None:
            meter.count += 1
            meter.nbytes += size_of(message)
            if meter.count == n:
                meter.finish()
                on_done()

        return on_big
    if workload == "memory":

        def on_memory(message: Any) -> None:
            meter.count += 1
            if meter.count == meter.early:
                meter.rss_early = _rss()
            if meter.count == n:
                meter.finish()
                meter.rss_end = _rss()
                on_done()

        return on_memory

    def on_feed(message: Any) -> None:
        meter.count += 1
        if meter.count == n:
            meter.finish()
            on_done()

    return on_feed


# -- websockets asyncio -------------------------------------------------------------------------


async def _echo_round_trips(
    meter: Meter, send: Callable[[str], Awaitable[Any]], receive: Callable[[], Awaitable[Any]]
) -> None:
    """Run the echo workload over an awaitable ``send`` / ``receive`` pair."""
    meter.restart()
    for i in range(ECHO_WARMUP + meter.n):
        t0 = time.perf_counter_ns()
        await send(ECHO_PAYLOAD)
        await receive()
        if i >= ECHO_WARMUP:
            meter.samples.append(time.perf_counter_ns() - t0)
            meter.count += 1
    meter.finish()


async def _ws_async(meter: Meter, url: str, connect: Any) -> None:
    """Measure a websockets-style ``connect`` (websockets' own or picows' compatible one)."""
    if meter.workload == "echo":
        async with connect(url, compression=None, max_size=None) as ws:
            await _echo_round_trips(meter, ws.send, ws.recv)
        return
    handler = _counting_handler(meter, lambda: None)
    meter.restart()
    async with connect(url, compression=None, max_size=None) as ws:
        async for message in ws:
            handler(message)


def run_ws_async(meter: Meter, url: str) -> dict[str, Any]:
    """Measure websockets' asyncio client."""
    from websockets.asyncio.client import connect

    asyncio.run(_ws_async(meter, url, connect))
    return meter.result()


# -- websocket-client ---------------------------------------------------------------------------


class _Echo:
    """The echo workload for callback clients: warm-up round trips, then ``meter.n`` timed ones."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.replies = 0
        self.sent_at = 0

    def start(self, send: Callable[[str], Any]) -> None:
        """Start the clock and send the first message (from the open callback)."""
        self.meter.restart()
        self.send(send)

    def send(self, send: Callable[[str], Any]) -> None:
        """Send the next message and note when."""
        self.sent_at = time.perf_counter_ns()
        send(ECHO_PAYLOAD)

    def replied(self) -> bool:
        """Count a reply (timed after the warm-up); return True once the last one is in."""
        now = time.perf_counter_ns()
        meter = self.meter
        if self.replies >= ECHO_WARMUP:
            meter.samples.append(now - self.sent_at)
            meter.count += 1
        self.replies += 1
        if self.replies == ECHO_WARMUP + meter.n:
            meter.finish()
            return True
        return False


def run_wsc_app(meter: Meter, url: str) -> dict[str, Any]:
    """Measure websocket-client's ``WebSocketApp`` (callbacks on its ``run_forever`` thread)."""
    import websocket

    if meter.workload == "echo":
        echo = _Echo(meter)

        def on_open(app: Any) -> None:
            echo.start(app.send)

        def on_echo(app: Any, message: Any) -> None:
            if echo.replied():
                app.close()
            else:
                echo.send(app.send)

        app = websocket.WebSocketApp(url, on_open=on_open, on_message=on_echo)
    else:
        handler = _counting_handler(meter, lambda: None)
        app = websocket.WebSocketApp(url, on_message=lambda _app, message: handler(message))
        meter.restart()
    app.run_forever()
    return meter.result()


# -- websockets' Sans-IO core on a bare asyncio Protocol ----------------------------------------


async def _ws_sansio(meter: Meter, url: str) -> None:
    """Drive websockets' Sans-IO ``ClientProtocol`` from ``data_received``: its parser, no tasks."""
    from websockets.client import ClientProtocol
    from websockets.frames import Frame, Opcode
    from websockets.uri import parse_uri

    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    echo = _Echo(meter) if meter.workload == "echo" else None
    handler = _counting_handler(meter, lambda: None)
    uri = parse_uri(url)

    class Client(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.transport = transport
            self.ws = ClientProtocol(uri, max_size=None)
            self.ws.send_request(self.ws.connect())
            self.flush()
            self.parts: list[bytes] = []

        def flush(self) -> None:
            for data in self.ws.data_to_send():
                if data:
                    self.transport.write(data)
                else:
                    self.transport.write_eof()

        def send(self, text: str) -> None:
            self.ws.send_text(text.encode())
            self.flush()

        def data_received(self, data: bytes) -> None:
            self.ws.receive_data(data)
            for event in self.ws.events_received():
                if not isinstance(event, Frame):  # the handshake's Response
                    if echo is not None:
                        echo.start(self.send)
                elif event.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
                    if event.opcode != Opcode.CONT:
                        self.first = event.opcode
                    self.parts.append(bytes(event.data))
                    if not event.fin:
                        continue
                    data = b"".join(self.parts) if len(self.parts) > 1 else self.parts[0]
                    self.parts = []
                    message = data.decode() if self.first == Opcode.TEXT else data
                    if echo is None:
                        handler(message)
                    elif echo.replied():
                        self.ws.send_close(1000)
                    else:
                        echo.send(self.send)
            self.flush()

        def eof_received(self) -> bool | None:
            self.ws.receive_eof()
            self.flush()
            return None

        def connection_lost(self, exc: Exception | None) -> None:
            if not done.done():
                done.set_result(None)

    meter.restart()
    await loop.create_connection(Client, uri.host, uri.port)
    await asyncio.wait_for(done, TIMEOUT)


def run_ws_sansio(meter: Meter, url: str) -> dict[str, Any]:
    """Measure websockets' Sans-IO protocol driven by a bare asyncio ``Protocol``."""
    asyncio.run(_ws_sansio(meter, url))
    return meter.result()


# -- aiohttp ------------------------------------------------------------------------------------


async def _aiohttp(meter: Meter, url: str) -> None:
    import aiohttp

    handler = _counting_handler(meter, lambda: None)
    async with aiohttp.ClientSession() as session:
        if meter.workload == "echo":
            async with session.ws_connect(url, compress=0, max_msg_size=0) as ws:
                await _echo_round_trips(meter, ws.send_str, ws.receive)
            return
        meter.restart()
        async with session.ws_connect(url, compress=0, max_msg_size=0) as ws:
            async for message in ws:
                handler(message.data)


def run_aiohttp(meter: Meter, url: str) -> dict[str, Any]:
    """Measure aiohttp's client: ``ClientSession().ws_connect()``, ``async for``."""
    asyncio.run(_aiohttp(meter, url))
    return meter.result()


# -- picows -------------------------------------------------------------------------------------


async def _picows(meter: Meter, url: str) -> None:
    """Receive with a bare picows ``WSListener``: frames in, fragments joined, text decoded."""
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    echo = _Echo(meter) if meter.workload == "echo" else None
    handler = _counting_handler(meter, lambda: None)

    class Listener(WSListener):  # type: ignore[misc]
        def on_ws_connected(self, transport: WSTransport) -> None:
            self.parts: list[bytes] = []
            self.first = WSMsgType.TEXT
            if echo is not None:
                echo.start(lambda text: transport.send(WSMsgType.TEXT, text.encode()))

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            kind = frame.msg_type
            if kind == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()
                return
            if kind not in (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION):
                return  # picows answers pings itself
            if frame.fin and not self.parts:  # the usual case: a whole message in one frame
                message: Any = (
                    frame.get_payload_as_utf8_text()
                    if kind == WSMsgType.TEXT
                    else frame.get_payload_as_bytes()
                )
            else:
                if kind != WSMsgType.CONTINUATION:
                    self.first = kind
                self.parts.append(frame.get_payload_as_bytes())
                if not frame.fin:
                    return
                data = b"".join(self.parts)
                self.parts = []
                message = data.decode() if self.first == WSMsgType.TEXT else data
            if echo is None:
                handler(message)
            elif echo.replied():
                transport.send_close()
                transport.disconnect()
            else:
                echo.send(lambda text: transport.send(WSMsgType.TEXT, text.encode()))

    meter.restart()
    transport, _ = await ws_connect(Listener, url, max_frame_size=1 << 30)
    await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)


def run_picows(meter: Meter, url: str) -> dict[str, Any]:
    """Measure picows' frame API on asyncio's default loop."""
    asyncio.run(_picows(meter, url))
    return meter.result()


def run_picows_uvloop(meter: Meter, url: str) -> dict[str, Any]:
    """Measure picows' frame API on uvloop."""
    import uvloop

    uvloop.run(_picows(meter, url))
    return meter.result()


def run_picows_compat(meter: Meter, url: str) -> dict[str, Any]:
    """Measure ``picows.websockets``, picows' websockets-compatible asyncio client."""
    from picows.websockets import connect

    asyncio.run(_ws_async(meter, url, connect))
    return meter.result()


# -- ipyws --------------------------------------------------------------------------------------


def _attach_panel(ws: Any) -> Any:
    """Attach the live panel to ``ws`` and count the comm messages it sends to the frontend."""
    from ipyws import widgets

    view = widgets.panel(ws) if hasattr(widgets, "panel") else widgets.WebSocketPanel(ws)
    comm = view.comm
    counter = {"updates": 0}
    send = comm.send

    def counting_send(*args: Any, **kwargs: Any) -> Any:
        counter["updates"] += 1
        return send(*args, **kwargs)

    comm.send = counting_send
    view._ipyws_bench_counter = counter
    return view


def _ipyws_socket(
    meter: Meter, url: str, on_done: Callable[[], None], panel: bool, engine: str | None
) -> tuple[Any, Any]:
    """Open an ipyws socket whose handlers measure ``meter``'s workload; return it and its panel.

    ``on_done`` is also called if the socket closes first (see :func:`_check_complete`).
    ``engine`` chooses the protocol engine (``engine=``); None leaves ipyws's default.
    """
    import importlib

    from ipyws import WebSocket
    from ipyws._engines import default_engine

    options: dict[str, Any] = {} if engine is None else {"engine": engine}
    # Imported before the clock starts, as every baseline imports its library: the first
    # socket of a session imports its engine (picows: about 25 ms), later ones do not.
    importlib.import_module(f"ipyws._engine_{engine or default_engine()}")

    if panel:
        # Imported before the clock starts, as in a session that displays many sockets:
        # ipywidgets and anywidget take about half a second to import.
        import ipyws.widgets  # noqa: F401

    if meter.workload == "echo":
        echo = _Echo(meter)

        def on_open(event: Any) -> None:
            echo.start(event.target.send)

        def on_echo(event: Any) -> None:
            if echo.replied():
                event.target.close()
                on_done()
            else:
                echo.send(event.target.send)

        ws = WebSocket(
            url, onopen=on_open, onmessage=on_echo, onclose=lambda _: on_done(), **options
        )
    else:
        # The handler takes the event; binary data arrives as a Blob (the default binaryType).
        on_message = _counting_handler(meter, on_done, lambda event: event.data.size)
        meter.restart()
        ws = WebSocket(url, onmessage=on_message, onclose=lambda _: on_done(), **options)
    view = _attach_panel(ws) if panel else None
    return ws, view


def _thread_cpu(name: str) -> float | None:
    """Return the CPU time, in seconds, used so far by the thread called ``name`` (Linux)."""
    thread = next((t for t in threading.enumerate() if t.name == name), None)
    if thread is None or thread.native_id is None:
        return None
    try:  # schedstat's first field: nanoseconds on a CPU (stat's utime counts clock ticks)
        with open(f"/proc/self/task/{thread.native_id}/schedstat") as fh:
            return int(fh.read().split()[0]) / 1e9
    except OSError:  # not Linux
        return None


def _ipyws_extra(meter: Meter, ws: Any, view: Any) -> dict[str, Any]:
    """Return what an ipyws measurement adds: the engine that carried it, the I/O thread's CPU
    time per message (handshake included), the panel's updates."""
    extra: dict[str, Any] = {"engine": ws.stats.engine}
    io_cpu = _thread_cpu("ipyws-io")
    if io_cpu is not None and meter.count and meter.workload != "echo":
        extra["io_us_msg"] = io_cpu / meter.count * 1e6
    if view is not None:
        updates = view._ipyws_bench_counter["updates"]
        extra.update(updates=updates, updates_s=updates / meter.elapsed if meter.elapsed else None)
    return extra


def _check_complete(meter: Meter, ws: Any) -> None:
    """Raise if the socket closed before the measurement was complete."""
    if not meter.elapsed:
        raise ConnectionError(
            f"{ws.url}: the connection closed after {meter.count} of {meter.n} messages "
            f"(readyState {ws.readyState}); is the benchmark server running?"
        )


def run_ipyws(
    meter: Meter, url: str, panel: bool = False, engine: str | None = None
) -> dict[str, Any]:
    """Measure ipyws in plain Python: handlers run on the ipyws-dispatch thread."""
    done = threading.Event()
    ws, view = _ipyws_socket(meter, url, done.set, panel, engine)
    if not done.wait(TIMEOUT):
        raise TimeoutError(f"only {meter.count} of {meter.n} messages in {TIMEOUT} s")
    _check_complete(meter, ws)
    extra = _ipyws_extra(meter, ws, view)
    ws.wait_closed(timeout=30)
    return meter.result(**extra)


async def _ipyws_asyncio(meter: Meter, url: str, panel: bool, engine: str | None) -> dict[str, Any]:
    done = asyncio.Event()
    ws, view = _ipyws_socket(meter, url, done.set, panel, engine)
    await asyncio.wait_for(done.wait(), TIMEOUT)
    _check_complete(meter, ws)
    extra = _ipyws_extra(meter, ws, view)
    await asyncio.wait_for(ws.closed, 30)
    return meter.result(**extra)


def run_ipyws_asyncio(
    meter: Meter, url: str, panel: bool = False, engine: str | None = None
) -> dict[str, Any]:
    """Measure ipyws in an asyncio program: handlers run on the program's loop."""
    return asyncio.run(_ipyws_asyncio(meter, url, panel, engine))


CLIENTS: dict[str, Callable[[Meter, str], dict[str, Any]]] = {
    "ws-async": run_ws_async,
    "wsc-app": run_wsc_app,
    "ws-sansio": run_ws_sansio,
    "aiohttp": run_aiohttp,
    "picows": run_picows,
    "picows-uvloop": run_picows_uvloop,
    "picows-compat": run_picows_compat,
    "ipyws": run_ipyws,
    "ipyws-asyncio": run_ipyws_asyncio,
    "ipyws+panel": lambda meter, url: run_ipyws(meter, url, panel=True),
    "ipyws-asyncio+panel": lambda meter, url: run_ipyws_asyncio(meter, url, panel=True),
}


def client_runner(name: str) -> Callable[[Meter, str], dict[str, Any]]:
    """Return the measurement called ``name``: a key of CLIENTS, or ``ipyws[ENGINE]`` and
    ``ipyws-asyncio[ENGINE]`` for ipyws on the protocol engine ENGINE."""
    base, bracket, engine = name.partition("[")
    if not bracket:
        return CLIENTS[name]
    runner = {"ipyws": run_ipyws, "ipyws-asyncio": run_ipyws_asyncio}[base]
    return lambda meter, url: runner(meter, url, engine=engine.removesuffix("]"))


def main(argv: list[str] | None = None) -> int:
    """Run one measurement and print its result as a JSON line."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 4:
        print("usage: python -m benchmarks.clients CLIENT WORKLOAD BASE_URL N", file=sys.stderr)
        return 2
    client, workload, base, count = args
    n = int(count)
    meter = Meter(workload, n)
    url = base.rstrip("/") + path_for(workload, n)
    result = client_runner(client)(meter, url)
    result["client"] = client
    print(json.dumps(result), flush=True)
    if result["count"] != n:
        print(f"{client}: {result['count']} of {n} messages", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
