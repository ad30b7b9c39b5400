"""The websockets engine: connections carried by websockets' asyncio client.

websockets does the handshake, framing, compression, pings and the closing handshake;
this module hands its messages to the socket as they are parsed (``_DirectConnection``),
writes in the I/O thread's own callbacks when websockets would not wait, and reads the
close outcome from websockets' account of it. It is the engine every option can use:
proxies (HTTP CONNECT, SOCKS) and ``proxy_ssl`` go through it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import random
import ssl as ssl_module
import struct
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import BINARY, CONT, PING, PONG, TEXT, CloseCode, Frame
from websockets.protocol import Event as ProtocolEvent
from websockets.protocol import State
from websockets.typing import Subprotocol

from ._text import Redactor
from ._transport import (
    _CLOSE,
    Connection,
    ConnectionFailedError,
    HandshakeError,
    ProxyError,
    _discard,
    _failed,
    _no_verification,
    _RedactingLogger,
    resolve_proxy,
    wait_for_pong,
)
from ._url import redact_url

__all__ = ["READ_SLICE", "WebsocketsConnection", "assembler_queue", "proxy_error"]


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


def assembler_queue(conn: ClientConnection) -> deque[Frame] | None:
    """Return the frames websockets' Assembler holds for ``conn``, or None if it has no queue.

    The receive shortcut (``_DirectConnection``) reads this websockets internal (17.x);
    where a release differs, every message simply takes websockets' own path. A test pins
    that the shortcut is active on the installed release.
    """
    queue = getattr(getattr(getattr(conn, "recv_messages", None), "frames", None), "queue", None)
    return queue if isinstance(queue, deque) else None


class WebsocketsConnection(Connection):
    """One WebSocket connection carried by websockets (its asyncio client)."""

    engine = "websockets"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._writer_idle = False  # the writer task waits for work: a write may happen inline
        #: The proxy the connection goes through (None: direct), once it is connecting.
        self._proxy: str | None = None
        self._conn: ClientConnection | None = None
        self._write_event: asyncio.Event | None = None

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

    def _resume_for_assembler(self, transport: asyncio.Transport) -> None:
        if not self._reading_paused():
            transport.resume_reading()

    @property
    def _connected(self) -> bool:
        return self._conn is not None

    def _start(self) -> None:
        self._write_event = asyncio.Event()
        super()._start()

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
            conn.deliver_failed = self._reading_failed
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
            self._reading_failed(exc)
        await conn.wait_closed()
        if isinstance(conn, _DirectConnection):
            conn.deliver = conn.deliver_failed = None
            conn.on_pong = conn.on_control = conn.on_closing = None
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        self._report_closed(*self._close_outcome(conn))

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
        super()._report_closed(code, reason, was_clean, error)

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
