"""The transport: every connection runs on one ipyws I/O thread with its own asyncio loop.

A socket on the kernel's own loop dies when a cell blocks longer than the peer's ping timeout
(it cannot answer pings); on this thread it survives. The transport speaks to its socket only
through the ``Sink`` callbacks, always on the I/O thread, and knows nothing of IPython.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import contextvars
import functools
import ipaddress
import logging
import random
import selectors
import ssl as ssl_module
import struct
import sys
import threading
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import BINARY, CONT, PING, PONG, TEXT, Close, CloseCode, Frame
from websockets.protocol import Event as ProtocolEvent
from websockets.protocol import State
from websockets.proxy import get_proxy
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from ._options import DEFAULT_MAX_SIZE, DEFAULT_USER_AGENT, Options
from ._text import MASK, SECRET_HEADERS, Redactor
from ._url import WebSocketURL, redact_url
from ._wakeup import LoopWaker

# Defined with the others; importable from here as before.
from .exceptions import ConnectionFailedError, HandshakeError, ProxyError

__all__ = [
    "DEFAULT_MAX_SIZE",
    "DEFAULT_USER_AGENT",
    "Connection",
    "ConnectionFailedError",
    "HandshakeError",
    "Options",
    "ProxyError",
    "Sink",
    "io_thread",
    "is_loopback",
    "resolve_proxy",
]


def is_loopback(host: str) -> bool:
    """Tell whether ``host`` is this machine: ``localhost``, ``*.localhost``, 127/8 or ::1."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_proxy(url: WebSocketURL, proxy: str | bool | None) -> str | None:
    """Return the proxy a connection to ``url`` goes through, or None to connect directly.

    ``proxy=True`` reads the system settings (``*_proxy`` variables, ``no_proxy``), except
    for loopback hosts, which always connect directly, as in Chromium: a corporate
    ``http_proxy`` must not capture ``ws://127.0.0.1``. A proxy URL given explicitly applies
    to every host.
    """
    if proxy is None or proxy is False:
        return None
    if proxy is True:
        if is_loopback(url.host):
            return None
        return get_proxy(parse_uri(url.href))
    return proxy


class _RedactingLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """websockets' connection logger, minus credentials: its debug lines show each header."""

    def __init__(self, logger: logging.Logger, redact: Redactor) -> None:
        super().__init__(logger, {})
        self._redact = redact

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        if len(args) == 2 and isinstance(args[0], str) and args[0].lower() in SECRET_HEADERS:
            args = (args[0], MASK)  # "> Authorization: ..." and "< Set-Cookie: ..."
        text = str(msg) % args if args else str(msg)
        kwargs.setdefault("stacklevel", 2)
        self.logger.log(level, "%s", self._redact(text), **kwargs)


def _no_verification() -> ssl_module.SSLContext:
    context = ssl_module.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl_module.CERT_NONE
    return context


def _raised_in(exc: BaseException, names: set[str]) -> bool:
    """Tell whether ``exc`` was raised inside a function named in ``names``."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name in names:
            return True
        tb = tb.tb_next
    return False


# websockets' functions that speak to the proxy itself (17.x), before any tunnel exists.
_PROXY_STEPS = {"connect_http_proxy", "connect_socks_proxy", "read_connect_response"}


def proxy_error(exc: BaseException, proxy: str, redact: Redactor) -> ProxyError:
    """Wrap ``exc``, raised while connecting through ``proxy``, in an error naming the proxy."""
    shown = redact_url(proxy)
    what = redact(str(exc)) or type(exc).__name__
    if _raised_in(exc, _PROXY_STEPS):
        hint = ""
        if isinstance(exc, ssl_module.SSLError):
            hint = "; to trust a private CA for the proxy, pass proxy_ssl=ssl_context"
        message = f"{what} (through proxy {shown}, while talking to the proxy itself{hint})"
    else:
        message = f"{what} (through proxy {shown})"
    error = ProxyError(message)
    error.__cause__ = exc
    return error


class Sink(Protocol):
    """What a connection reports to its socket; every call happens on the I/O thread."""

    def opened(self, protocol: str, extensions: str, handshake: dict[str, Any]) -> None:
        """The opening handshake completed: the subprotocol, extensions and headers."""

    def message(self, data: str | bytes) -> None:
        """A whole message arrived (text as str, binary as bytes)."""

    def written(self, total: int) -> None:
        """``total`` payload bytes have been written to the network so far."""

    def rtt(self, seconds: float) -> None:
        """A ping was answered after ``seconds``."""

    def control(self, kind: str, direction: str, size: int, rtt: float | None) -> None:
        """A Ping or Pong frame was sent or received (with ``log_pings`` only)."""

    def closed(self, code: int, reason: str, was_clean: bool, error: BaseException | None) -> None:
        """The connection ended: close code, reason, whether cleanly, and why if it failed."""

    def closing(self) -> None:
        """The server started the closing handshake (its Close arrived): the socket is CLOSING."""


class _NoRedirects(connect):
    """websockets' connect, minus redirects: the browser treats a 3xx answer as a failure."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        return exc


#: Bytes of a read parsed at once (see _DirectConnection.data_received).
READ_SLICE = 16 * 1024


class _DirectConnection(ClientConnection):
    """websockets' client connection, handing each whole message to ipyws as it is parsed.

    websockets queues every frame in an Assembler that a reader coroutine drains one
    ``await`` per message, pausing and resuming reads every 16 frames. ipyws only forwards
    each message to its socket, and that trip through the loop was a quarter of the I/O
    thread's time on a feed of small messages. Once ``deliver`` is set, an unfragmented
    text or binary frame is handed over from ``process_event``, while ``data_received``
    parses the read. Everything else (fragments, invalid UTF-8, frames arriving while the
    Assembler still holds some) takes websockets' own path, so reassembly, size limits,
    errors and message order stay websockets'.
    """

    deliver: Callable[[str | bytes], None] | None = None
    #: Called with the round trip of each answered ping (keepalive or not), in seconds.
    on_pong: Callable[[float], None] | None = None
    #: Called for each Ping and Pong frame sent and received (``log_pings``):
    #: ``(kind, direction, payload size, round trip or None)``.
    on_control: Callable[[str, str, int, float | None], None] | None = None
    #: Set with ``deliver``: called with what ``deliver`` raised (a failure inside ipyws).
    deliver_failed: Callable[[Exception], None] | None = None
    #: Called once, on the first write after the closing handshake started (either side's
    #: Close, or a failure: keepalive timeout, 1009, 1007, protocol error).
    on_closing: Callable[[], None] | None = None
    #: Tells whether ipyws paused reading (its backlog is full): a pong cannot be read then.
    reading_paused: Callable[[], bool] = staticmethod(lambda: False)
    _mid_message = False  # a fragmented message is arriving through the Assembler
    #: What was read but not parsed yet because ipyws paused reading (see data_received).
    _held: bytes = b""
    #: The Assembler's queue of frames (its ``frames.queue``, set with ``deliver``): while
    #: it holds any, later messages take the same path, behind them.
    _assembling: deque[Frame] | tuple[()] = ()

    def process_event(self, event: ProtocolEvent) -> None:
        if type(event) is Frame:
            opcode = event.opcode
            if opcode is TEXT or opcode is BINARY:
                deliver = self.deliver
                if (
                    deliver is not None
                    and event.fin
                    and not self._mid_message
                    and not self._assembling
                ):
                    # The parser's bytearray: decoded as it is (a copy fewer for text),
                    # made immutable for binary.
                    data = event.data
                    message: str | bytes
                    if opcode is BINARY:
                        message = data if type(data) is bytes else bytes(data)
                    else:
                        try:
                            message = str(data, "utf-8")
                        except UnicodeDecodeError:
                            super().process_event(event)  # websockets fails it with 1007
                            return
                    try:
                        deliver(message)
                    except Exception as exc:
                        self.deliver = None
                        if self.deliver_failed is not None:
                            self.deliver_failed(exc)
                    return
                self._mid_message = not event.fin
            elif opcode is CONT:
                self._mid_message = not event.fin
            elif (opcode is PING or opcode is PONG) and self.on_control is not None:
                self._report_control(event, opcode is PING)
        super().process_event(event)

    def connection_lost(self, exc: Exception | None) -> None:
        if not hasattr(self, "recv_messages"):
            # connection_made never ran: the TLS upgrade of a tunnel through a proxy failed
            # (an untrusted certificate, say). websockets (17.x) would raise AttributeError
            # here, out of asyncio's callback; the connection simply never was. The failure
            # itself reaches the socket through the handshake: error, then close 1006.
            self.protocol.receive_eof()
            self.set_connection_exc(exc)
            if not self.connection_lost_waiter.done():
                self.connection_lost_waiter.set_result(None)
            return
        super().connection_lost(exc)

    def _report_control(self, frame: Frame, is_ping: bool) -> None:
        on_control = self.on_control
        assert on_control is not None
        size = len(frame.data)
        if is_ping:
            # websockets answers a Ping with a Pong carrying the same data, at once.
            on_control("ping", "received", size, None)
            on_control("pong", "sent", size, None)
        elif bytes(frame.data) not in self.pending_pings:
            on_control("pong", "received", size, None)  # unsolicited: no round trip
        # A solicited Pong is reported by acknowledge_pings, with its round trip.

    def acknowledge_pings(self, data: bytes) -> None:
        solicited = data in self.pending_pings
        super().acknowledge_pings(data)
        if solicited:
            if self.on_control is not None:
                self.on_control("pong", "received", len(data), self.latency)
            if self.on_pong is not None:
                self.on_pong(self.latency)

    async def ping(self, data: Any = None) -> Awaitable[float]:
        pong_received = await super().ping(data)
        self._report_ping_sent()
        return pong_received

    def _report_ping_sent(self) -> None:
        if self.on_control is not None:
            payload = next(reversed(self.pending_pings), b"")  # the ping just sent
            self.on_control("ping", "sent", len(payload), None)

    def data_received(self, data: bytes) -> None:
        """Parse ``data`` a slice at a time, holding the rest back once reading is paused.

        Pausing the transport stops the next read, not the one in progress: a read of up to
        256 KiB, many more messages than that once decompressed. So the read is parsed in
        slices of READ_SLICE bytes, and what follows the slice that filled the backlog waits
        here until ``resume_parsing()``.
        """
        if self._held:
            data = self._held + data
            self._held = b""
        size = len(data)
        if size <= READ_SLICE:
            super().data_received(data)
            return
        view = memoryview(data)
        offset = 0
        while offset < size:
            if self.reading_paused():
                self._held = bytes(view[offset:])
                return
            super().data_received(bytes(view[offset : offset + READ_SLICE]))
            offset += READ_SLICE

    def resume_parsing(self) -> None:
        """Parse what ``data_received()`` held back; return once done or paused again."""
        if self._held:
            held, self._held = self._held, b""
            self.data_received(held)

    def eof_received(self) -> None:
        held, self._held = self._held, b""
        if held:  # the end of the stream: no more pausing, everything goes to the parser
            for offset in range(0, len(held), READ_SLICE):
                super().data_received(held[offset : offset + READ_SLICE])
        super().eof_received()

    def send_data(self) -> None:
        super().send_data()
        if self.on_closing is not None and self.protocol.state is State.CLOSING:
            on_closing, self.on_closing = self.on_closing, None
            on_closing()

    def _ping_now(self) -> asyncio.Future[float]:
        """Send a keepalive Ping at once, without waiting for the write buffer to drain."""
        data = None
        while data is None or data in self.pending_pings:
            data = struct.pack("!I", random.getrandbits(32))
        pong_received: asyncio.Future[float] = self.loop.create_future()
        self.pending_pings[data] = (pong_received, self.loop.time())
        self.protocol.send_ping(data)
        self.send_data()
        self._report_ping_sent()
        return pong_received

    async def keepalive(self) -> None:
        """Ping every ``ping_interval``; fail the connection when the peer stops answering.

        websockets' own keepalive waits for the write buffer to drain before each ping and
        before failing, so a peer that stopped reading (a full buffer that never drains) was
        never detected. Here the ping goes out at once and the wait for its pong is
        ``ping_timeout``, prolonged only while there is progress the pong may be queued
        behind: ipyws itself paused reading (its backlog is full), or the write buffer
        shrank (a slow peer still reading a big upload). A buffer that stays full fails the
        connection (1011 "keepalive ping timeout"): error, then close 1006.
        """
        assert self.ping_interval is not None
        latency = 0.0
        try:
            while self.protocol.state is State.OPEN:
                await asyncio.sleep(max(0.0, self.ping_interval - latency))
                if self.protocol.state is not State.OPEN:
                    return
                pong_received = self._ping_now()
                if self.ping_timeout is None:
                    continue
                latency = await wait_for_pong(
                    pong_received, self.ping_timeout, self.transport, self.reading_paused
                )
                if not pong_received.done():
                    if self.protocol.state is State.OPEN:
                        self.protocol.fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
                        self.send_data()
                    return
        except ConnectionClosed:
            pass


async def wait_for_pong(
    pong: asyncio.Future[float],
    timeout: float,
    transport: asyncio.WriteTransport,
    reading_paused: Callable[[], bool],
) -> float:
    """Wait for a keepalive Pong: its round trip, or the last one (0.0) if it did not come.

    The wait is ``timeout``, prolonged only while there is progress the Pong may be queued
    behind: ipyws paused reading, or the write buffer shrank (a slow peer still reading a
    big upload). Whether it came: ``pong.done()``.
    """
    buffered = transport.get_write_buffer_size()
    while True:
        try:
            return await asyncio.wait_for(asyncio.shield(pong), timeout)
        except asyncio.TimeoutError:
            now_buffered = transport.get_write_buffer_size()
            progress = 0 < now_buffered < buffered
            buffered = now_buffered
            if not (progress or reading_paused()):
                return 0.0


def assembler_queue(conn: ClientConnection) -> deque[Frame] | None:
    """Return the frames websockets' Assembler holds for ``conn``, or None if it has no queue.

    The receive shortcut (``_DirectConnection``) reads this websockets internal (17.x);
    where a release differs, every message simply takes websockets' own path. A test pins
    that the shortcut is active on the installed release.
    """
    queue = getattr(getattr(getattr(conn, "recv_messages", None), "frames", None), "queue", None)
    return queue if isinstance(queue, deque) else None


logger = logging.getLogger("ipyws")

_CLOSE = object()  # outbox marker: start the closing handshake after everything queued before


class Connection:
    """One WebSocket connection on the I/O thread; its methods may be called from any thread.

    This class is the websockets engine; ``_engine_picows.PicowsConnection`` is the picows
    one, sharing the outbox, ``close_timeout`` and the close report from here.
    """

    #: The protocol engine carrying the connection (see ``ipyws._engines``).
    engine = "websockets"

    def __init__(
        self,
        sink: Sink,
        url: WebSocketURL,
        protocols: list[str],
        options: Options,
        redact: Redactor | None = None,
    ) -> None:
        self._sink: Sink | None = sink  # strong until closed: an open socket must not vanish
        self._url = url
        #: Masks the socket's secrets in what this connection logs and in its errors.
        self._redact = redact or Redactor()
        self._protocols = protocols
        self._options = options
        self._outbox: deque[Any] = deque()
        self._write_pending = False
        self._writer_idle = False  # the writer task waits for work: a write may happen inline
        self._io = io_thread()
        self._written = 0
        self._close_args: tuple[int | None, str] | None = None
        self._fail_reason: str | None = None
        #: The proxy the connection goes through (None: direct), once it is connecting.
        self._proxy: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._conn: ClientConnection | None = None
        self._write_event: asyncio.Event | None = None
        #: Whether unfragmented messages reach the socket straight from websockets' parser
        #: (set once open, see ``assembler_queue``).
        self.delivers_directly = False
        # On the I/O thread: reading paused for the socket's backlog; the closing handshake
        # asked for or started (reading is never paused from then on); its time limit.
        self._paused = False
        self._closing = False
        self._close_timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Start connecting on the I/O thread.

        Separate from ``__init__`` so the socket holds its connection before any event can
        fire: an ``onopen`` given to the constructor may call ``send()`` or ``close()``.
        The connection runs in a copy of the caller's context, so what the I/O thread logs
        about it lands where the socket was created (a notebook cell).
        """
        self._io.call(contextvars.copy_context().run, self._start)

    # -- called from the socket's thread ------------------------------------------------

    def send(self, payload: bytes, text: bool) -> None:
        """Queue one message; it goes out after everything queued before it."""
        self._outbox.append((payload, text))
        if not self._write_pending:
            self._write_pending = True
            self._io.call(self._wake_writer)

    def close(self, code: int | None, reason: str) -> None:
        """Start the closing handshake once every queued message is written.

        ``close_timeout`` bounds it from now on, even while queued messages cannot be
        written (a peer that stopped reading): then the TCP connection is dropped (1006).
        """
        self._outbox.append((_CLOSE, (code, reason)))
        self._io.call(self._close_requested)
        if not self._write_pending:
            self._write_pending = True
            self._io.call(self._wake_writer)

    def fail(self, reason: str) -> None:
        """Fail the connection: drop it without a closing handshake (error + close 1006)."""
        self._io.call(self._fail, reason)

    def ping(self) -> concurrent.futures.Future[float]:
        """Send a Ping now; the future gets the round trip in seconds when its Pong arrives.

        It fails with ConnectionError when the connection is not open or closes first.
        """
        future: concurrent.futures.Future[float] = concurrent.futures.Future()
        self._io.call(self._ping, future)
        return future

    def pause_reading(self) -> None:
        """Stop reading from the network (the socket's backlog is full); on the I/O thread.

        Nothing is read until ``resume_reading()``, so TCP slows the server down. Once the
        closing handshake started, reading goes on: the peer's Close must be read.
        """
        self._paused = True
        conn = self._conn
        if conn is not None and not self._closing:
            conn.transport.pause_reading()

    def resume_reading(self) -> None:
        """Read from the network again after ``pause_reading()``; on the I/O thread."""
        self._paused = False
        conn = self._conn
        if conn is None:
            return
        if isinstance(conn, _DirectConnection):
            conn.resume_parsing()
            if self._paused:  # what was held back filled the backlog again
                return
        # websockets' Assembler pauses reading too, while fragments wait for its reader.
        if not getattr(conn.recv_messages, "paused", False):
            conn.transport.resume_reading()

    def _reading_paused(self) -> bool:
        return self._paused and not self._closing

    def _resume_for_assembler(self, transport: asyncio.Transport) -> None:
        if not self._reading_paused():
            transport.resume_reading()

    @property
    def is_open(self) -> bool:
        """Tell whether the connection is open (read on the I/O thread)."""
        return self._conn is not None and self._sink is not None

    # -- on the I/O thread ----------------------------------------------------------------

    def _start(self) -> None:
        self._write_event = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._task.add_done_callback(self._task_done)
        self._io.connections.add(self)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._io.connections.discard(self)
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        # A task canceled before its first step (close() right after the constructor) never
        # enters _run's try block: report the failure here, or no close event would ever fire.
        if self._sink is not None:
            error = ConnectionFailedError(self._fail_reason or "the connection was canceled")
            self._report_closed(CloseCode.ABNORMAL_CLOSURE, "", False, error)

    def _wake_writer(self) -> None:
        conn = self._conn
        if conn is not None and self._writer_idle and self._write_now(conn):
            return
        if self._write_event is not None:
            self._write_event.set()

    def _write_now(self, conn: ClientConnection) -> bool:
        """Write queued messages at once when websockets' send() would; return True if all went.

        Waking the writer task costs a loop iteration and the trip through send()'s async
        context, about a tenth of an echo's round trip. When the connection is OPEN and the
        transport holds no unsent data, send() would frame the message and write it at once,
        so this does the same through the Sans-I/O protocol. Anything else (a close, a full
        buffer, a closing connection) is left, in order, to the writer task.
        """
        outbox = self._outbox
        protocol = conn.protocol
        transport = conn.transport
        self._write_pending = False
        written = self._written
        while outbox:
            payload, text = outbox[0]
            if (
                payload is _CLOSE
                or protocol.state is not State.OPEN
                or transport.is_closing()
                or transport.get_write_buffer_size()
            ):
                break
            outbox.popleft()
            if text:
                protocol.send_text(payload)
            else:
                protocol.send_binary(payload)
            for data in protocol.data_to_send():
                transport.write(data)
            written += len(payload)
        if written != self._written:
            self._written = written
            sink = self._sink
            if sink is not None:
                sink.written(written)
        return not outbox

    def _ping(self, future: concurrent.futures.Future[float]) -> None:
        conn = self._conn
        if conn is None or self._sink is None or conn.protocol.state is not State.OPEN:
            future.set_exception(ConnectionError("the connection is not open"))
            return

        async def round_trip() -> None:
            try:
                pong_received = await conn.ping()
                future.set_result(await pong_received)
            except ConnectionClosed as exc:
                future.set_exception(ConnectionError(f"the connection closed: {exc}"))
            except Exception as exc:  # handed to whoever waits for the round trip
                future.set_exception(exc)

        asyncio.get_running_loop().create_task(round_trip())

    def _fail(self, reason: str) -> None:
        if self._fail_reason is not None:
            return
        self._fail_reason = reason
        self._abort()

    def _abort(self) -> None:
        """Drop the TCP connection (or stop connecting) at once, whatever is queued."""
        self._outbox.clear()
        if self._conn is not None:
            self._conn.transport.abort()
        elif self._task is not None:
            self._task.cancel()

    def _close_requested(self) -> None:
        """close() was called: bound the handshake, and stop handing messages on.

        The socket drops what arrives after close() (as the browser does); dropping it here
        keeps a flood that goes on until the server reads the Close from filling the inbox.
        """
        self._closing_started()
        conn = self._conn
        if isinstance(conn, _DirectConnection) and conn.deliver is not None:
            conn.deliver = _discard

    def _closing_started(self) -> None:
        """The closing handshake was asked for or has started: bound it by ``close_timeout``.

        On the I/O thread. Reading resumes (the peer's Close must be read), and once
        ``close_timeout`` has passed the TCP connection is dropped, however much is still
        queued to send: the close is then 1006, as RFC 6455 7.1.1 lets a client do.
        """
        if self._closing:
            return
        self._closing = True
        if self._paused:
            self.resume_reading()
        timeout = self._options.close_timeout
        if timeout is not None and self._task is not None and not self._task.done():
            self._close_timer = asyncio.get_running_loop().call_later(timeout, self._abort)

    async def _announce_closing(self, conn: ClientConnection, failed: bool) -> None:
        """Report a failure, or tell the socket the server started closing, after the messages.

        Messages that took websockets' own path (see _DirectConnection) may still wait in
        its Assembler for the reader task: they came first, so they are reported first.
        """
        frames = assembler_queue(conn)
        while frames and self._sink is not None:
            await asyncio.sleep(0)
        if self._sink is None:
            return
        if failed:
            # Still CLOSING: what websockets will say once closed, from what it holds now.
            protocol = conn.protocol
            assert protocol.close_sent is not None
            self._report_closed(
                *_failed(protocol.close_sent, protocol.parser_exc or conn.connection_exc)
            )
        else:
            self._sink.closing()

    def _handshake_started(self, conn: ClientConnection) -> None:
        """websockets wrote the first bytes after the closing handshake started (on_closing).

        A failure (keepalive timeout, 1009, 1007, protocol error) is reported at once; the
        handshake goes on in the background, bounded by ``close_timeout``. A Close from the
        server turns the socket CLOSING at once (as in Chromium); its close event follows
        when TCP ends, or ``close_timeout`` later if the server keeps TCP open.
        """
        self._closing_started()
        protocol = conn.protocol
        if self._close_args is not None or self._sink is None:
            return  # close() was called: the socket is CLOSING already
        failed = protocol.close_rcvd is None and protocol.close_sent is not None
        if failed or protocol.close_rcvd is not None:
            asyncio.get_running_loop().create_task(self._announce_closing(conn, failed))

    def _connect_kwargs(self, proxy: str | None) -> dict[str, Any]:
        opts = self._options
        kwargs: dict[str, Any] = {
            "origin": opts.origin,
            "subprotocols": [Subprotocol(p) for p in self._protocols] or None,
            "compression": "deflate" if opts.compression else None,
            "additional_headers": list(opts.headers) or None,
            "user_agent_header": opts.user_agent,
            "proxy": proxy,
            "open_timeout": opts.open_timeout,
            "close_timeout": opts.close_timeout,
            "ping_interval": opts.ping_interval,
            "ping_timeout": opts.ping_timeout,
            "max_size": opts.max_size,
            "create_connection": _DirectConnection,
            "logger": _RedactingLogger(logging.getLogger("websockets.client"), self._redact),
            **opts.extra,
        }
        if self._url.secure:
            if opts.ssl is False:
                kwargs["ssl"] = _no_verification()
            elif isinstance(opts.ssl, ssl_module.SSLContext):
                kwargs["ssl"] = opts.ssl
        # websockets refuses proxy_ssl with an http:// proxy, which the system may pick.
        if proxy is not None and proxy.lower().startswith("https:"):
            if opts.proxy_ssl is False:
                kwargs["proxy_ssl"] = _no_verification()
            elif isinstance(opts.proxy_ssl, ssl_module.SSLContext):
                kwargs["proxy_ssl"] = opts.proxy_ssl
        return kwargs

    async def _run(self) -> None:
        try:
            conn = await self._open()
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                exc = ConnectionFailedError(self._fail_reason or "the connection was canceled")
            self._report_closed(CloseCode.ABNORMAL_CLOSURE, "", False, exc)
            return
        self._conn = conn
        sink = self._sink
        if sink is None:
            return
        extensions = (
            conn.response.headers.get("Sec-WebSocket-Extensions", "") if conn.response else ""
        )
        sink.opened(conn.subprotocol or "", extensions, _handshake(conn))
        writer = asyncio.get_running_loop().create_task(self._write_loop(conn))
        on_message = sink.message
        assembling = assembler_queue(conn)
        if isinstance(conn, _DirectConnection) and assembling is not None:
            # Set after _io_open: no message may be reported before the open.
            self.delivers_directly = True
            conn._assembling = assembling
            conn.deliver_failed = functools.partial(self._reading_failed, conn)
            conn.deliver = on_message
        if isinstance(conn, _DirectConnection):
            conn.on_pong = sink.rtt
            if self._options.log_pings:
                conn.on_control = sink.control
            conn.on_closing = functools.partial(self._handshake_started, conn)
            conn.reading_paused = self._reading_paused
            if conn.protocol.state is State.CLOSING:  # it began in the handshake's read
                conn.on_closing = None
                self._handshake_started(conn)
        messages = getattr(conn, "recv_messages", None)
        if messages is not None and hasattr(messages, "resume"):
            messages.resume = functools.partial(self._resume_for_assembler, conn.transport)
        if self._paused:  # the backlog filled up while the handshake ran
            self.pause_reading()
        try:
            # Messages that took websockets' own path (see _DirectConnection) arrive here.
            async for message in conn:
                on_message(message)
        except ConnectionClosed:
            pass
        except Exception as exc:
            self._reading_failed(conn, exc)
        await conn.wait_closed()
        if isinstance(conn, _DirectConnection):
            conn.deliver = conn.deliver_failed = None
            conn.on_pong = conn.on_control = conn.on_closing = None
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        self._report_closed(*self._close_outcome(conn))

    def _reading_failed(self, conn: ClientConnection, exc: Exception) -> None:
        """Fail the connection over a failure inside ipyws itself, once.

        Rather than leave it open with nobody reading: the close outcome reports it as
        error + close 1006.
        """
        if self._fail_reason is not None:
            return
        logger.error("ipyws stopped reading %s", self._url.shown, exc_info=exc)
        self._fail_reason = self._redact(f"ipyws failed while reading: {exc!r}")
        conn.transport.abort()

    async def _open(self) -> ClientConnection:
        """Open the connection, one CONNECTING connection per host at a time (RFC 6455 4.1)."""
        self._proxy = proxy = resolve_proxy(self._url, self._options.proxy)
        async with self._io.host_lock(self._url.host_key):
            conn = await _NoRedirects(self._url.href, **self._connect_kwargs(proxy))
        if self._protocols and not conn.subprotocol:
            # The WHATWG standard fails a connection whose server ignored requested protocols.
            conn.transport.abort()
            raise HandshakeError(
                "The server did not select any of the requested subprotocols "
                f"({', '.join(self._protocols)}): no Sec-WebSocket-Protocol in its response."
            )
        if self._fail_reason is not None:
            conn.transport.abort()
            raise ConnectionFailedError(self._fail_reason)
        return conn

    def _close_outcome(self, conn: ClientConnection) -> tuple[int, str, bool, BaseException | None]:
        """Read how the closed connection ended from websockets' ``close_exc``."""
        if self._fail_reason is not None:
            return CloseCode.ABNORMAL_CLOSURE, "", False, ConnectionFailedError(self._fail_reason)
        # The close frames received and sent, in which order, and (as its cause) what the
        # parser raised: websockets' documented account of the closing.
        outcome = conn.protocol.close_exc
        rcvd, sent = outcome.rcvd, outcome.sent
        requested = self._close_args is not None
        # ipyws (websockets) failed the connection: protocol error, message too big, invalid
        # UTF-8, keepalive timeout. The browser fires error, then close 1006 (1009 as sent).
        if sent is not None and not requested and not outcome.rcvd_then_sent:
            failure = outcome.__cause__
            if failure is None:
                # Invalid UTF-8 is found when a message is decoded, not by the parser: the
                # connection's close_exc carries that cause. A keepalive timeout leaves none
                # (or the OSError of the dropped transport).
                failure = conn.close_exc.__cause__
            return _failed(sent, failure)
        if rcvd is None:
            return CloseCode.ABNORMAL_CLOSURE, "", False, None
        return rcvd.code, rcvd.reason, sent is not None, None

    def _report_closed(
        self, code: int, reason: str, was_clean: bool, error: BaseException | None
    ) -> None:
        """Report the end of the connection; a failure through a proxy as a `ProxyError`."""
        proxy = self._proxy
        if proxy is not None and error is not None and not isinstance(error, ConnectionFailedError):
            error = proxy_error(error, proxy, self._redact)
        # What was queued to send is released here: bufferedAmount keeps its number only.
        self._outbox.clear()
        sink, self._sink = self._sink, None
        if sink is not None:
            sink.closed(int(code), reason, was_clean, error)

    async def _write_loop(self, conn: ClientConnection) -> None:
        outbox = self._outbox
        event = self._write_event
        assert event is not None
        while True:
            self._writer_idle = True
            await event.wait()
            self._writer_idle = False
            event.clear()
            self._write_pending = False
            written = self._written
            while outbox:
                payload, arg = outbox.popleft()
                if payload is _CLOSE:
                    self._close_args = arg
                    # Report what went out before the Close: bufferedAmount must not keep it.
                    self._report_written(written)
                    with contextlib.suppress(ConnectionClosed):
                        await conn.close(*arg)
                    return
                try:
                    await conn.send(payload, text=arg)
                except ConnectionClosed:
                    outbox.clear()
                    return
                written += len(payload)
            self._report_written(written)

    def _report_written(self, written: int) -> None:
        """Tell the socket how many bytes have been written in all, if that changed."""
        if written != self._written:
            self._written = written
            sink = self._sink
            if sink is not None:
                sink.written(written)

    def _shutdown(self) -> None:
        """Close with 1001 Going Away, as a browser does when the page goes away."""
        if self._conn is None:
            self._fail("the interpreter is shutting down")
        else:
            self.close(CloseCode.GOING_AWAY, "")


def _discard(data: str | bytes) -> None:
    """Drop a message that arrived after close() was called."""


def _failed(sent: Close, failure: BaseException | None) -> tuple[int, str, bool, BaseException]:
    """Describe a connection ipyws (websockets) failed, having sent ``sent``: the close to report.

    The browser fires error, then close 1006 (1009 for a message too big). The error's
    cause is ``failure`` (what the parser raised, or invalid UTF-8 found when decoding);
    without one (a keepalive timeout, or only the OSError of the dropped transport) it is a
    TimeoutError carrying the reason sent.
    """
    if isinstance(failure, OSError):
        failure = None
    cause: BaseException = failure or TimeoutError(
        sent.reason or f"connection failed with close code {sent.code}"
    )
    code = (
        CloseCode.MESSAGE_TOO_BIG
        if sent.code == CloseCode.MESSAGE_TOO_BIG
        else CloseCode.ABNORMAL_CLOSURE
    )
    return code, "", False, cause


def _handshake(conn: ClientConnection) -> dict[str, Any]:
    """Describe the opening handshake: the request and the server's response."""
    request, response = conn.request, conn.response
    return {
        "request": {
            "path": request.path if request else "",
            "headers": list(request.headers.raw_items()) if request else [],
        },
        "response": {
            "status": response.status_code if response else 0,
            "reason": response.reason_phrase if response else "",
            "headers": list(response.headers.raw_items()) if response else [],
        },
    }


class _IdleHookSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """A selector that calls hooks each time before its loop waits for events.

    A hook may return a number of seconds: the loop then waits at most that long before
    the hooks run again (a hook holding back work until a deadline).
    """

    def __init__(self) -> None:
        super().__init__()
        self.idle_hooks: list[Callable[[], float | None]] = []

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        limit = self.run_idle_hooks()
        if limit is not None and (timeout is None or timeout > limit):
            timeout = limit
        return super().select(timeout)  # type: ignore[no-any-return]

    def run_idle_hooks(self) -> float | None:
        """Call every hook; return the shortest wait one asked for (None: no limit).

        A hook that raises is logged: the I/O thread must go on.
        """
        limit: float | None = None
        for hook in self.idle_hooks:
            try:
                wait = hook()
            except Exception:
                logger.exception("ipyws: an I/O thread idle hook failed")
                continue
            if wait is not None and (limit is None or wait < limit):
                limit = wait
        return limit


def _log_loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Log what asyncio would print to stderr from the I/O thread on the ``ipyws`` logger.

    Text written to stderr by the I/O thread lands under whichever notebook cell happens to
    be running; a log record goes where the user's logging configuration sends it.
    """
    exception = context.get("exception")
    logger.error(
        "ipyws I/O thread: %s",
        context.get("message", "unhandled exception"),
        exc_info=(type(exception), exception, exception.__traceback__)
        if isinstance(exception, BaseException)
        else None,
    )


class IOThread:
    """The one thread, with its own asyncio loop, that runs every ipyws connection."""

    def __init__(self) -> None:
        # A selector loop everywhere but on Windows, whose default (proactor) loop has no
        # selector to hook and stays as it is.
        self._selector = _IdleHookSelector() if sys.platform != "win32" else None
        self.loop: asyncio.AbstractEventLoop = (
            asyncio.SelectorEventLoop(self._selector)
            if self._selector is not None
            else asyncio.new_event_loop()
        )
        self.connections: set[Connection] = set()
        #: Set once shutdown() starts: nothing may open a new connection from then on.
        self.closing = False
        self._calls: deque[tuple[Callable[..., object], tuple[Any, ...]]] = deque()
        self._waker = LoopWaker(self.loop, self._run_calls)
        self._host_locks: weakref.WeakValueDictionary[tuple[str, int], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._thread = threading.Thread(target=self._main, name="ipyws-io", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.set_exception_handler(_log_loop_exception)
        try:
            self.loop.run_forever()
        finally:
            if self._selector is not None:
                self._selector.run_idle_hooks()
            self.loop.close()

    def call(self, fn: Callable[..., object], *args: Any) -> None:
        """Run ``fn(*args)`` on the I/O thread soon, after earlier calls; callable from any thread.

        Raises RuntimeError once the I/O thread's loop is closed (the interpreter is exiting).
        """
        self._calls.append((fn, args))
        self._waker.wake()

    def _run_calls(self) -> None:
        calls = self._calls
        while calls:
            fn, args = calls.popleft()
            try:
                fn(*args)
            except Exception:
                logger.exception("ipyws: a call on the I/O thread failed")

    def on_idle(self, hook: Callable[[], float | None]) -> bool:
        """Call ``hook`` each time the I/O thread is about to wait for events.

        If ``hook`` returns a number of seconds, the thread waits at most that long before
        calling it again. Call this on the I/O thread. Returns False, and never calls
        ``hook``, where the loop offers no such moment (Windows).
        """
        if self._selector is None:
            return False
        self._selector.idle_hooks.append(hook)
        return True

    def host_lock(self, key: tuple[str, int]) -> asyncio.Lock:
        """Return the lock that keeps one connection per host in CONNECTING."""
        lock = self._host_locks.get(key)
        if lock is None:
            lock = self._host_locks[key] = asyncio.Lock()
        return lock

    def shutdown(self, timeout: float = 2.0) -> None:
        """Close every connection (1001), wait up to ``timeout`` seconds, stop the thread.

        Connections still closing then (a peer that stopped reading) are dropped, and the
        tasks left on the loop end before it stops: exiting prints nothing.
        """
        self.closing = True
        if not self._thread.is_alive():
            return
        done = threading.Event()

        async def close_all() -> None:
            for connection in list(self.connections):
                connection._shutdown()
            # A deadline, not asyncio.timeout(): that needs Python 3.11 and ipyws supports 3.10.
            deadline = self.loop.time() + timeout
            while self.connections and self.loop.time() < deadline:
                await asyncio.sleep(0.01)
            for connection in list(self.connections):
                connection._abort()
            current = asyncio.current_task()
            left = [task for task in asyncio.all_tasks() if task is not current]
            for task in left:
                task.cancel()
            if left:
                await asyncio.wait(left, timeout=_SHUTDOWN_GRACE)
            done.set()

        with contextlib.suppress(RuntimeError):
            asyncio.run_coroutine_threadsafe(close_all(), self.loop)
            done.wait(timeout + _SHUTDOWN_GRACE + 1.0)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=1.0)


#: Seconds the I/O thread's last tasks get to end once every connection was dropped at exit.
_SHUTDOWN_GRACE = 0.5

_io: IOThread | None = None
_io_lock = threading.Lock()


def io_thread() -> IOThread:
    """Return the running I/O thread, starting it on first use."""
    global _io
    with _io_lock:
        if _io is None:
            _io = IOThread()
            atexit.register(_io.shutdown)
        return _io
