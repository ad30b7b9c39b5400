"""Demo WebSocket servers that run on loopback, with no network access.

Four servers show what a notebook can do with a live socket; [`SERVERS`][ipyws.demo.SERVERS] lists
them:

``echo``
    Sends every message back as it came: text as text, binary as binary. A client's Close
    is answered with the same code and reason (an empty Close with an empty one).
``ticker``
    A JSON price feed, ``rate`` messages per second (default 10) spread over the symbols
    ACME, GLOBEX and INITECH, each a random walk::

        {"type": "tick", "symbol": "ACME", "price": 101.23, "seq": 17, "time": 1764150000.123456}

    ``seq`` numbers the server's ticks from 1, so gaps show what a client missed. A client gets
    every symbol until it sends ``{"op": "subscribe", "symbol": "ACME"}``; from then on only the
    symbols it subscribed to. ``{"op": "unsubscribe", "symbol": "ACME"}`` removes one. Both are
    acknowledged with ``{"type": "subscribed", "symbols": [...]}``; anything else gets
    ``{"type": "error", "message": "..."}``.
``chat``
    A chat room. Each text message is broadcast to every client, the sender included, as
    ``{"type": "message", "from": "user-1", "text": "...", "time": ...}``; arrivals and
    departures as ``{"type": "join"|"leave", "from": "user-1", "users": 2}``. A client is
    ``user-N`` unless its URL names it (``?name=Ada``). A message may also be a JSON object,
    as in MDN's chat example: ``{"type": "message", "text": "..."}`` relays its ``text``, and
    a ``name`` in it renames the sender from then on.
``binary``
    Binary frames of one 16-byte record each, ``rate`` per second (default 10): the sequence
    number as a big-endian unsigned 64-bit integer, then a big-endian float64 sample of a sine
    wave (``struct`` format [`RECORD_FORMAT`][ipyws.demo.RECORD_FORMAT]).

Each server runs on its own asyncio loop in a daemon thread, listens on 127.0.0.1 and
negotiates permessage-deflate::

    from ipyws import demo

    with demo.start("ticker", rate=100) as server:
        print(server.url)  # ws://127.0.0.1:PORT/

From a shell, ``python -m ipyws.demo ticker --rate 100`` prints the URL and serves until
Ctrl-C. Any server can also speak subprotocols: ``demo.start("echo", subprotocols=["v2",
"v1"])``, or ``python -m ipyws.demo echo --subprotocol v2 --subprotocol v1``.

The feeds are built for benchmarks: they produce ticks in batches on a clock rather than
sleeping between messages, so they reach tens of thousands of messages per second. A client
that cannot keep up misses ticks (a gap in ``seq``) instead of making the server buffer
without limit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import random
import struct
import sys
import threading
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from types import MappingProxyType, TracebackType
from typing import Any, ClassVar

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from ._text import type_name
from ._validation import check_seconds

__all__ = ["RECORD_FORMAT", "SERVERS", "DemoServer", "main", "start"]

logger = logging.getLogger(__name__)

RECORD_FORMAT = ">Qd"
"""The ``struct`` format of one ``binary`` record: sequence number, then value."""

_RECORD = struct.Struct(RECORD_FORMAT)

# Demo clients are on the same machine: one that has not answered a Close within this
# many seconds is stuck, and waiting longer would only make stop() slow.
_CLOSE_TIMEOUT = 2.0

# A client whose socket already holds this many unsent bytes misses ticks until it catches
# up; this bounds the server's memory and the client's lag (about half a second of a
# 20 000 msg/s ticker).
_MAX_BACKLOG = 1 << 20
#: The fastest a feed produces, in messages per second: each batch holds a tenth of a second's
#: worth, so a rate without bound would allocate without bound.
MAX_RATE = 1_000_000

# How long start() waits for the thread to be listening, and stop() for it to finish.
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = _CLOSE_TIMEOUT + 5.0


def _json(message: Mapping[str, Any]) -> str:
    """Serialize one outgoing message."""
    return json.dumps(message, ensure_ascii=False)


def _error(message: str) -> str:
    """Serialize an ``error`` message telling the client what was wrong."""
    return _json({"type": "error", "message": message})


class _Service:
    """The behaviour of one demo server: a connection handler and optional background work."""

    description: ClassVar[str]
    options: ClassVar[tuple[str, ...]] = ()

    async def handle(self, connection: ServerConnection) -> None:
        """Serve one client until it disconnects."""
        raise NotImplementedError

    async def run(self) -> None:
        """Do the server's background work until cancelled."""


class _Echo(_Service):
    """Echo every message."""

    description = "echoes each message (text as text, binary as binary) and the client's Close"

    async def handle(self, connection: ServerConnection) -> None:
        """Send each message back with its type; websockets itself echoes the Close frame."""
        with contextlib.suppress(ConnectionClosed):
            async for message in connection:
                await connection.send(message)


class _Chat(_Service):
    """Relay text messages to everyone in the room."""

    description = "a chat room: each text message is broadcast to every client as JSON"

    def __init__(self) -> None:
        self._users: dict[ServerConnection, str] = {}
        self._joined = 0

    def _broadcast(self, message: Mapping[str, Any]) -> None:
        """Send a message to every client still open."""
        broadcast(self._users, _json(message))

    async def handle(self, connection: ServerConnection) -> None:
        """Announce the client, relay its messages, announce its departure."""
        self._joined += 1
        query = urllib.parse.urlsplit(connection.request.path if connection.request else "").query
        user = urllib.parse.parse_qs(query).get("name", [f"user-{self._joined}"])[0]
        self._users[connection] = user
        self._broadcast({"type": "join", "from": user, "users": len(self._users)})
        try:
            async for message in connection:
                if not isinstance(message, str):
                    await connection.send(_error("the chat relays text messages only"))
                    continue
                text, name = _chat_text(message)
                user = self._users[connection] = name or user
                self._broadcast(
                    {"type": "message", "from": user, "text": text, "time": round(time.time(), 3)}
                )
        except ConnectionClosed:
            pass
        finally:
            del self._users[connection]
            self._broadcast({"type": "leave", "from": user, "users": len(self._users)})


def _chat_text(message: str) -> tuple[str, str | None]:
    """Return the text a chat message carries and the sender's new name, if it gives one.

    Plain text is the text. A JSON object shaped like MDN's chat messages
    (``{"type": "message", "text": ..., "name": ...}``) gives its ``text`` and ``name``.
    """
    try:
        value = json.loads(message)
    except ValueError:
        return message, None
    if not isinstance(value, dict) or not isinstance(value.get("text"), str):
        return message, None
    name = value.get("name")
    return value["text"], name if isinstance(name, str) and name else None


class _Feed(_Service):
    """Produce messages on a clock and push each to the clients that want it.

    Subclasses make the messages (``_produce``) and say whether they are text. Every
    message has a topic; a client gets either every topic or the set it chose.
    """

    text: ClassVar[bool]

    def __init__(self, rate: float) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)):
            raise TypeError(f"rate must be a number of messages per second, not {type_name(rate)}")
        if not (math.isfinite(rate) and 0 < rate <= MAX_RATE):
            raise ValueError(
                f"rate must be above 0 and at most {MAX_RATE:,} messages per second, not {rate!r}"
            )
        self.rate = float(rate)
        self._seq = 0
        # None means every topic: the default until the client picks some.
        self._clients: dict[ServerConnection, frozenset[str] | None] = {}

    def _produce(self, count: int) -> list[tuple[str, bytes]]:
        """Make the next ``count`` messages as ``(topic, payload)`` pairs."""
        raise NotImplementedError

    async def run(self) -> None:
        """Produce ``rate`` messages per second, in batches, for as long as the server runs."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        produced = 0
        # At high rates one loop iteration carries many messages. Capping a batch at a tenth
        # of a second's worth means a loop that fell behind (a busy CPU, a paused thread)
        # skips ahead instead of flooding its clients with the backlog.
        max_batch = max(1, int(self.rate / 10))
        while True:
            due = int((loop.time() - start) * self.rate) + 1 - produced
            if due > max_batch:
                produced += due - max_batch
                due = max_batch
            if due > 0:
                # With nobody listening the feed stands still rather than burn CPU.
                if self._clients:
                    self._deliver(self._produce(due))
                produced += due
            await asyncio.sleep(max(0.0, start + produced / self.rate - loop.time()))

    def _deliver(self, batch: list[tuple[str, bytes]]) -> None:
        """Send each client the messages of the batch it subscribed to."""
        for connection, topics in list(self._clients.items()):
            if connection.transport.get_write_buffer_size() > _MAX_BACKLOG:
                continue
            payloads = [p for topic, p in batch if topics is None or topic in topics]
            if payloads:
                self._write(connection, payloads)

    def _write(self, connection: ServerConnection, payloads: list[bytes]) -> None:
        """Frame the payloads and hand them to the socket in one write.

        ``connection.send()`` awaits flow control and writes once per frame; the feed must not
        wait on one slow client, and at 20 000 msg/s one system call per batch instead of per
        message is what keeps the server from being the bottleneck.
        """
        protocol = connection.protocol
        if protocol.state is not State.OPEN:
            return
        send = protocol.send_text if self.text else protocol.send_binary
        for payload in payloads:
            send(payload)
        # In the OPEN state sending frames never queues the end-of-stream marker (b""),
        # which only closing produces, so every chunk is frame bytes.
        connection.transport.writelines(protocol.data_to_send())


class _Ticker(_Feed):
    """A JSON price feed with per-client symbol subscriptions."""

    description = "a JSON price ticker (ACME, GLOBEX, INITECH); subscribe to filter symbols"
    options = ("rate", "symbols", "seed")
    text = True

    _START_PRICES: ClassVar[Mapping[str, float]] = {
        "ACME": 101.0,
        "GLOBEX": 250.0,
        "INITECH": 42.0,
    }

    def __init__(
        self,
        *,
        rate: float = 10.0,
        symbols: Sequence[str] = ("ACME", "GLOBEX", "INITECH"),
        seed: int | None = None,
    ) -> None:
        super().__init__(rate)
        if (
            isinstance(symbols, str)
            or not symbols
            or not all(isinstance(s, str) and s for s in symbols)
        ):
            raise ValueError(f"symbols must be a non-empty list of names, not {symbols!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"seed must be an int or None, not {type_name(seed)}")
        self.symbols = tuple(dict.fromkeys(symbols))
        self._random = random.Random(seed)
        self._prices = {s: self._START_PRICES.get(s, 100.0) for s in self.symbols}
        # Everything before the price is the same for every tick of a symbol.
        self._prefixes = {
            s: '{"type": "tick", "symbol": ' + json.dumps(s) + ', "price": ' for s in self.symbols
        }

    def _produce(self, count: int) -> list[tuple[str, bytes]]:
        """Move ``count`` random prices one step each and encode the ticks."""
        now = time.time()
        choice, gauss = self._random.choice, self._random.gauss
        batch = []
        for _ in range(count):
            self._seq += 1
            symbol = choice(self.symbols)
            price = max(0.01, self._prices[symbol] * (1.0 + gauss(0.0, 0.002)))
            self._prices[symbol] = price
            text = f'{self._prefixes[symbol]}{price:.2f}, "seq": {self._seq}, "time": {now:.6f}}}'
            batch.append((symbol, text.encode()))
        return batch

    async def handle(self, connection: ServerConnection) -> None:
        """Stream ticks to the client and answer its subscription commands."""
        self._clients[connection] = None
        try:
            async for message in connection:
                # The reply goes out the way ticks do, so it keeps its place among them and
                # is never held up by a client that is behind.
                self._write(connection, [self._command(connection, message).encode()])
        except ConnectionClosed:
            pass
        finally:
            del self._clients[connection]

    def _command(self, connection: ServerConnection, message: str | bytes) -> str:
        """Apply one client command and return the reply."""
        if not isinstance(message, str):
            return _error("commands are JSON text messages, not binary")
        try:
            command = json.loads(message)
        except ValueError as exc:
            return _error(f"invalid JSON: {exc}")
        if not isinstance(command, dict):
            return _error('expected a JSON object like {"op": "subscribe", "symbol": "ACME"}')
        op, symbol = command.get("op"), command.get("symbol")
        if op not in ("subscribe", "unsubscribe"):
            return _error(f'unknown op {op!r}; expected "subscribe" or "unsubscribe"')
        if not isinstance(symbol, str) or symbol not in self._prices:
            return _error(f"unknown symbol {symbol!r}; expected one of {', '.join(self.symbols)}")
        current = self._clients[connection]
        if op == "subscribe":
            chosen = (current or frozenset()) | {symbol}
        else:
            chosen = (frozenset(self.symbols) if current is None else current) - {symbol}
        self._clients[connection] = chosen
        return _json({"type": "subscribed", "symbols": [s for s in self.symbols if s in chosen]})


class _BinaryFeed(_Feed):
    """A feed of fixed-size binary records."""

    description = "a binary feed of 16-byte records: big-endian uint64 sequence, float64 value"
    options = ("rate",)
    text = False

    def __init__(self, *, rate: float = 10.0) -> None:
        super().__init__(rate)

    def _produce(self, count: int) -> list[tuple[str, bytes]]:
        """Pack the next ``count`` records: a sine wave with a period of 100 samples."""
        batch = []
        for _ in range(count):
            self._seq += 1
            batch.append(("", _RECORD.pack(self._seq, math.sin(self._seq * math.tau / 100))))
        return batch

    async def handle(self, connection: ServerConnection) -> None:
        """Stream records to the client; its own messages are read and ignored."""
        self._clients[connection] = None
        try:
            # Reading keeps frames flowing, so the client's Close is seen and answered.
            async for _ in connection:
                pass
        except ConnectionClosed:
            pass
        finally:
            del self._clients[connection]


_SERVICES: Mapping[str, type[_Service]] = {
    "binary": _BinaryFeed,
    "chat": _Chat,
    "echo": _Echo,
    "ticker": _Ticker,
}

SERVERS: Mapping[str, str] = MappingProxyType(
    {name: service.description for name, service in _SERVICES.items()}
)
"""The demo servers [`start`][ipyws.demo.start] knows, each name with a one-line description."""


async def _stop_accepting(server: Server) -> None:
    """Stop accepting, then let connections already being accepted finish attaching.

    asyncio (3.11) fails to attach a connection accepted just as its server closes and
    leaks that socket, so its client would hang in CONNECTING; closing only after the
    pending accepts have attached lets the server close them like any other client.
    """
    loop = asyncio.get_running_loop()
    for sock in server.sockets:
        loop.remove_reader(sock.fileno())
    for _ in range(3):  # the accept callback, then the task it creates
        await asyncio.sleep(0)


class DemoServer:
    """A demo WebSocket server running on its own asyncio loop in a daemon thread.

    Make one with [`start`][ipyws.demo.start], which returns once the server is listening. Use it as
    a context manager, or call [`stop`][ipyws.demo.DemoServer.stop], to shut it down.
    """

    def __init__(
        self,
        name: str,
        service: _Service,
        host: str,
        port: int,
        serve_options: Mapping[str, Any],
    ) -> None:
        self.name = name
        """The server's name, a key of [`SERVERS`][ipyws.demo.SERVERS]."""
        self.host = host
        """The address the server listens on."""
        self.port = port
        """The TCP port the server listens on (the real one when 0 was asked for)."""
        self._service = service
        self._serve_options = dict(serve_options)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name=f"ipyws-demo-{name}", daemon=True)

    @property
    def url(self) -> str:
        """The ``ws://`` URL clients connect to, for example ``ws://127.0.0.1:8765/``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}/"

    @property
    def running(self) -> bool:
        """Whether the server thread is still running."""
        return self._thread.is_alive()

    def _start(self, timeout: float = _START_TIMEOUT) -> None:
        """Start the thread and wait until the server listens, or raise why it could not."""
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise TimeoutError(f"demo server {self.name!r} did not start within {timeout} s")
        if self._error is not None:
            self._thread.join(timeout)
            raise self._error

    def _run(self) -> None:
        """Run the server's event loop; the thread's target."""
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # start() re-raises it in the caller's thread
            if self._ready.is_set():
                logger.exception("demo server %r failed", self.name)
            else:
                self._error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        """Listen, serve until [`stop`][ipyws.demo.DemoServer.stop], then close clients (1001)."""
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        async with serve(
            self._service.handle, self.host, self.port, **self._serve_options
        ) as server:
            self.port = server.sockets[0].getsockname()[1]
            background = asyncio.create_task(self._service.run())
            background.add_done_callback(self._report_failure)
            self._ready.set()
            try:
                await self._stopping.wait()
            finally:
                background.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await background
                await _stop_accepting(server)
        # Leaving the block closed the server: clients got 1001 and every handler returned.

    def _report_failure(self, task: asyncio.Task[None]) -> None:
        """Log a crash of the background work, which nothing else would see."""
        if not task.cancelled() and task.exception() is not None:
            logger.error("demo server %r stopped producing", self.name, exc_info=task.exception())

    def stop(self, timeout: float = _STOP_TIMEOUT) -> None:
        """Close every client with code 1001, stop listening and wait for the thread to end.

        Calling it again, or after a failed start, does nothing. Raises ``TimeoutError``
        if the thread is still running after ``timeout`` seconds.
        """
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            # The loop is gone once the thread has finished: nothing left to stop.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        if threading.current_thread() is self._thread or not self._thread.is_alive():
            return
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"demo server {self.name!r} did not stop within {timeout} s")

    def __enter__(self) -> DemoServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<DemoServer {self.name!r} {self.url} {state}>"


def start(
    name: str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    compression: str | None = "deflate",
    ping_interval: float | None = 20.0,
    ping_timeout: float | None = 20.0,
    subprotocols: Sequence[str] = (),
    **options: Any,
) -> DemoServer:
    """Start the demo server ``name`` in a background thread and return it once it listens.

    ``port=0`` picks a free port; read it from [`DemoServer.port`][ipyws.demo.DemoServer.port] or
    [`DemoServer.url`][ipyws.demo.DemoServer.url]. ``compression`` (``"deflate"`` or ``None``),
    ``ping_interval`` and ``ping_timeout`` (seconds, ``None`` to disable) are passed to websockets.
    ``subprotocols`` are the ones the server speaks, preferred first: it selects the first of
    them that a client offers and refuses, with HTTP 400, a client that offers none of them.
    ``options`` go to the server itself: ``ticker`` takes ``rate`` (messages per second, default
    10), ``symbols`` and ``seed`` (for a repeatable random walk); ``binary`` takes ``rate``.

    Raises ``ValueError`` for an unknown name or a value out of range (``rate`` is at most
    `MAX_RATE`), ``TypeError`` for an option the server does not take or a value of the wrong
    type, and ``OSError`` if the port is unavailable.
    """
    if not isinstance(host, str) or not host:
        raise TypeError(f"host must be a non-empty str, not {host!r}")
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port must be an int, not {type_name(port)}")
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be 0 (any free port) to 65535, not {port}")
    if compression not in ("deflate", None):
        raise ValueError(f"compression must be 'deflate' or None, not {compression!r}")
    check_seconds("ping_interval", ping_interval)
    check_seconds("ping_timeout", ping_timeout)
    if isinstance(subprotocols, str) or not all(isinstance(p, str) for p in subprotocols):
        raise TypeError(f"subprotocols must be a sequence of str, not {subprotocols!r}")
    try:
        service_class = _SERVICES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown demo server {name!r}; valid names: {', '.join(sorted(_SERVICES))}"
        ) from None
    unknown = sorted(set(options) - set(service_class.options))
    if unknown:
        accepted = ", ".join(service_class.options) or "none"
        raise TypeError(
            f"demo server {name!r} got unexpected option(s) {', '.join(unknown)};"
            f" it accepts: {accepted}"
        )
    server = DemoServer(
        name,
        service_class(**options),
        host,
        port,
        {
            "compression": compression,
            "ping_interval": ping_interval,
            "ping_timeout": ping_timeout,
            "close_timeout": _CLOSE_TIMEOUT,
            "subprotocols": list(subprotocols) or None,
        },
    )
    server._start()
    return server


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m ipyws.demo``: start one server, print its URL, serve until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m ipyws.demo",
        description="Run an ipyws demo WebSocket server on this machine.",
        epilog="servers: " + "; ".join(f"{n}: {d}" for n, d in sorted(SERVERS.items())),
    )
    parser.add_argument("name", choices=sorted(SERVERS), help="which server to run")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=8765, help="TCP port, 0 for any free one (default: %(default)s)"
    )
    parser.add_argument(
        "--rate", type=float, help="messages per second, for ticker and binary (default: 10)"
    )
    parser.add_argument(
        "--subprotocol",
        action="append",
        default=[],
        metavar="NAME",
        help="a subprotocol to speak; repeat it, preferred first (default: none)",
    )
    args = parser.parse_args(argv)
    options: dict[str, Any] = {}
    if args.rate is not None:
        if "rate" not in _SERVICES[args.name].options:
            parser.error(f"--rate applies to ticker and binary, not {args.name}")
        options["rate"] = args.rate
    try:
        server = start(
            args.name, host=args.host, port=args.port, subprotocols=args.subprotocol, **options
        )
    except (OSError, ValueError) as exc:
        parser.exit(1, f"{parser.prog}: error: {exc}\n")
    # The URL alone on stdout, so scripts can read it; the hint goes to stderr.
    print(server.url, flush=True)
    print(f"{args.name}: {SERVERS[args.name]}. Press Ctrl-C to stop.", file=sys.stderr, flush=True)
    try:
        # Joining in short steps keeps the main thread responsive to Ctrl-C everywhere.
        while server.running:
            server._thread.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
