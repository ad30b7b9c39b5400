"""The picows engine: connections framed by picows (Cython), negotiated like websockets'.

picows parses and writes frames; everything above frames is here, shaped to give exactly
what the websockets engine gives: the handshake request and its checks are websockets'
own (``ClientProtocol``: the same headers, the same subprotocol and extension
negotiation), permessage-deflate is websockets' extension applied to picows frames, and
reassembly, UTF-8 checks, ``max_size``, keepalive and the closing handshake follow
websockets' rules and close codes. The socket sees no difference but speed.

picows runs on the ipyws I/O thread like any connection; see ``_transport.Connection``
for what is shared (the outbox, ``close_timeout``, the close report).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import os
import socket
import ssl as ssl_module
import struct
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from picows import WSListener, WSMsgType, WSTransport, ws_connect
from picows.common import (
    WSHandshakeError,
    WSInvalidHeaderError,
    WSInvalidStatusError,
    WSInvalidUpgradeError,
    WSProtocolError,
)
from picows.url import WSParsedURL
from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.exceptions import (
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidStatus,
    InvalidUpgrade,
    PayloadTooBig,
    ProtocolError,
)
from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import enable_client_permessage_deflate
from websockets.frames import Close, CloseCode, Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Origin, Subprotocol
from websockets.uri import parse_uri

from ._transport import (
    _CLOSE,
    Connection,
    ConnectionFailedError,
    HandshakeError,
    _failed,
    _no_verification,
    _RedactingLogger,
    wait_for_pong,
)

__all__ = ["PicowsConnection"]

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_CONT = WSMsgType.CONTINUATION
_PING = WSMsgType.PING
_PONG = WSMsgType.PONG
_CLOSE_FRAME = WSMsgType.CLOSE
_OPCODES = {_TEXT: Opcode.TEXT, _BINARY: Opcode.BINARY, _CONT: Opcode.CONT}

#: picows' frame limit when ``max_size`` is None (its parser needs a number).
_NO_LIMIT = 1 << 62

#: Headers picows writes itself into the handshake request.
_PICOWS_HEADERS = {"host", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version"}


#: Bytes a read from the socket may bring: at least READ_MIN, at most READ_MAX, and otherwise
#: what the socket's backlog has room for (see _SlicedReads).
READ_MIN = 64 * 1024
READ_MAX = 4 * 1024 * 1024


class _SlicedReads(asyncio.BufferedProtocol):
    """picows' protocol, given a read buffer sized by the socket's backlog, whose messages
    the listener hands to the socket in one call at the end of each read.

    picows parses every frame of a read before its listener can stop it, and doubles its
    read buffer whenever a read fills it: in a flood each read would fill it, and it would
    grow to the socket's receive buffer (megabytes), all parsed past a pause. Each read is
    offered what the backlog has room for before it is full (at least READ_MIN, at most
    READ_MAX): a pause comes within READ_MIN of the limits, and a fast feed is read in big
    reads, each of which costs the same system calls, wake-ups and, on loopback, the
    sender's TCP work done in the reader's recv(). Between the transport and picows only
    the size of the buffer offered changes (asyncio's public ``BufferedProtocol``
    contract), and the end of each read is told to the listener (see ``_Listener.flush``).
    """

    def __init__(self, protocol: Any, listener: _Listener, room: Callable[[], int]) -> None:
        self._get_buffer = protocol.get_buffer
        self._buffer_updated = protocol.buffer_updated
        self._listener = listener
        self._room = room
        self.connection_lost = protocol.connection_lost  # type: ignore[method-assign]
        self.eof_received = protocol.eof_received  # type: ignore[method-assign]
        self.pause_writing = protocol.pause_writing  # type: ignore[method-assign]
        self.resume_writing = protocol.resume_writing  # type: ignore[method-assign]
        listener.batch = []

    def get_buffer(self, sizehint: int) -> memoryview:
        buffer: memoryview = self._get_buffer(sizehint)
        limit = min(READ_MAX, max(READ_MIN, self._room()))
        return buffer[:limit] if len(buffer) > limit else buffer

    def buffer_updated(self, nbytes: int) -> None:
        try:
            self._buffer_updated(nbytes)
        finally:
            self._listener.flush()


class _QuietLogger(_RedactingLogger):
    """picows' connection logger, at DEBUG at most and minus credentials.

    picows logs each connection at INFO and a peer's protocol error at ERROR, which Python
    prints to stderr (under whichever cell runs) when logging is not configured. ipyws
    reports failures as error events, and websockets' client logs none of this above DEBUG.
    """

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stacklevel", 3)
        super().log(min(level, logging.DEBUG), msg, *args, **kwargs)


class _FailError(Exception):
    """Fail the connection: send a Close with ``code`` and ``reason``, report ``cause``."""

    def __init__(self, code: int, reason: str, cause: BaseException) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason
        self.cause = cause


class _Listener(WSListener):  # type: ignore[misc]
    """Receives picows' frames for one connection and turns them into ipyws reports.

    Frames are held (in order, copied) while the socket is not ready for them: before the
    open was reported (frames that came with the handshake response) and while reading is
    paused (the rest of a read that filled the backlog).
    """

    def __init__(self, connection: PicowsConnection, extensions: list[Extension]) -> None:
        super().__init__()
        self.connection = connection
        self.transport: WSTransport | None = None
        self.deliver: Callable[[str | bytes], None] | None = None
        #: The sink's reports of one message and of several (see flush).
        self.sink_message: Callable[[str | bytes], None] | None = None
        self.sink_messages: Callable[[list[str | bytes]], None] | None = None
        #: The whole messages of the read in progress, or None until reads are sliced
        #: (_SlicedReads, which calls flush() at the end of each read).
        self.batch: list[str | bytes] | None = None
        self.held: deque[tuple[Any, bytes, bool, bool, bool, bool]] | None = deque()
        #: Negotiated extensions (permessage-deflate), decoding in reverse order.
        self.extensions = extensions
        self.decoders = list(reversed(extensions))
        max_size = connection._options.max_size
        self.max_size = _NO_LIMIT if max_size is None else max_size
        # A fragmented message: its opcode (None: none is arriving), parts and size so far.
        self.opcode: Any = None
        self.parts: list[bytes] = []
        self.size = 0

    # -- picows callbacks ----------------------------------------------------------------

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: Any) -> None:
        held = self.held
        if held is not None:
            held.append(
                (
                    frame.msg_type,
                    frame.get_payload_as_bytes(),
                    frame.fin,
                    frame.rsv1,
                    frame.rsv2,
                    frame.rsv3,
                )
            )
            return
        msg_type = frame.msg_type
        deliver = self.deliver
        # The common case, without a copy or an object more than needed: a whole,
        # uncompressed message, while none is being reassembled. (picows' parser already
        # refused a frame over max_size: here the frame is the message.)
        if (
            deliver is not None
            and frame.fin
            and (msg_type is _TEXT or msg_type is _BINARY)
            and self.opcode is None
            and not (frame.rsv1 or frame.rsv2 or frame.rsv3)
        ):
            message: str | bytes
            if msg_type is _TEXT:
                try:
                    message = frame.get_payload_as_utf8_text()
                except UnicodeDecodeError as exc:
                    self.connection._fail_protocol(_invalid_utf8(exc))
                    return
            else:
                message = frame.get_payload_as_bytes()
            batch = self.batch
            if batch is not None:
                batch.append(message)
                return
            try:
                deliver(message)
            except Exception as exc:
                self.deliver = None
                self.connection._reading_failed(exc)
            return
        if self.batch:
            self.flush()  # what came before this frame goes first
        self.receive(
            msg_type, frame.get_payload_as_bytes(), frame.fin, frame.rsv1, frame.rsv2, frame.rsv3
        )

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.flush()
        self.connection._disconnected()

    def pause_writing(self) -> None:
        self.connection._write_paused = True

    def resume_writing(self) -> None:
        self.connection._write_paused = False
        self.connection._flush()

    # -- frames ----------------------------------------------------------------------------

    def flush(self) -> None:
        """Hand over the messages of the read that just ended, in one call, as deliver would."""
        batch = self.batch
        if not batch:
            return
        self.batch = []
        deliver = self.deliver
        if deliver is None:
            return
        try:
            if deliver is self.sink_message and self.sink_messages is not None:
                self.sink_messages(batch)
            else:
                for message in batch:
                    deliver(message)
        except Exception as exc:
            self.deliver = None
            self.connection._reading_failed(exc)

    def release(self) -> None:
        """Process the frames held back, in order, until done or reading is paused again."""
        held = self.held
        self.held = None
        if not held:
            return
        connection = self.connection
        while held:
            if connection._reading_paused():
                self.held = held
                return
            self.receive(*held.popleft())

    def hold(self) -> None:
        """Hold frames from now on (reading is paused: the rest of this read waits)."""
        if self.held is None:
            self.held = deque()

    def receive(
        self, msg_type: Any, data: bytes, fin: bool, rsv1: bool, rsv2: bool, rsv3: bool
    ) -> None:
        """Handle one frame the general way (the way websockets' parser and Assembler do)."""
        connection = self.connection
        try:
            if msg_type is _PING or msg_type is _PONG or msg_type is _CLOSE_FRAME:
                if rsv1 or rsv2 or rsv3:
                    raise ProtocolError("reserved bits must be 0")
                connection._control(msg_type, data)
                return
            if connection._close_rcvd is not None:
                return  # data after the peer's Close: the peer may not send any
            if msg_type is _CONT:
                if self.opcode is None:
                    raise ProtocolError("unexpected continuation frame")
            elif self.opcode is not None:
                raise ProtocolError("expected a continuation frame")
            if self.decoders:
                frame = Frame(_OPCODES[msg_type], data, fin, rsv1, rsv2, rsv3)
                for extension in self.decoders:
                    frame = extension.decode(frame, max_size=self.max_size - self.size)
                data = bytes(frame.data)
                rsv1, rsv2, rsv3 = frame.rsv1, frame.rsv2, frame.rsv3
            if rsv1 or rsv2 or rsv3:
                raise ProtocolError("reserved bits must be 0")
            size = self.size + len(data)
            if size > self.max_size:
                raise PayloadTooBig(f"over size limit ({size} > {self.max_size} bytes)")
            if not fin:
                if self.opcode is None:
                    self.opcode = msg_type
                self.parts.append(data)
                self.size = size
                return
            if self.opcode is not None:
                self.parts.append(data)
                data = b"".join(self.parts)
                msg_type = self.opcode
                self.opcode = None
                self.parts = []
                self.size = 0
            message: str | bytes = data
            if msg_type is _TEXT:
                try:
                    message = data.decode()
                except UnicodeDecodeError as exc:
                    raise _invalid_utf8(exc) from None
        except PayloadTooBig as exc:
            connection._fail_protocol(_FailError(CloseCode.MESSAGE_TOO_BIG, str(exc), exc))
            return
        except ProtocolError as exc:
            connection._fail_protocol(_FailError(CloseCode.PROTOCOL_ERROR, str(exc), exc))
            return
        except _FailError as failure:
            connection._fail_protocol(failure)
            return
        deliver = self.deliver
        if deliver is None:
            return
        try:
            deliver(message)
        except Exception as exc:
            self.deliver = None
            connection._reading_failed(exc)


def _invalid_utf8(exc: UnicodeDecodeError) -> _FailError:
    """The failure websockets reports for invalid UTF-8 in a text message (1007)."""
    return _FailError(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}", exc)


def _close_payload(code: int | None, reason: str) -> bytes:
    """Serialize a Close frame's payload (empty when there is no code)."""
    if code is None:
        return b""
    return struct.pack("!H", code) + reason.encode()


def _parse_close(data: bytes) -> Close:
    """Read a Close frame's payload (picows' parser has checked code and UTF-8 already)."""
    if len(data) >= 2:
        (code,) = struct.unpack("!H", data[:2])
        return Close(code, data[2:].decode())
    return Close(CloseCode.NO_STATUS_RCVD, "")


class PicowsConnection(Connection):
    """One WebSocket connection carried by picows; the same interface and reports as websockets'."""

    engine = "picows"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ws: WSTransport | None = None
        self._listener: _Listener | None = None
        self._write_paused = False
        self._close_sent: Close | None = None
        self._close_rcvd: Close | None = None
        #: The closing handshake was started by a failure on this side (reported at once).
        self._failure: _FailError | None = None
        #: Pings awaiting their Pong: called with the round trip, or None if none will come.
        self._pending_pings: dict[bytes, tuple[Callable[[float | None], None], float]] = {}
        self._keepalive: asyncio.Task[None] | None = None
        self._done: asyncio.Future[None] | None = None
        self._socket: socket.socket | None = None  # TCP, only while the handshake runs
        self.delivers_directly = True

    # -- the Connection interface ----------------------------------------------------------

    @property
    def _connected(self) -> bool:
        return self._ws is not None

    def pause_reading(self) -> None:
        """Stop reading from the network (the socket's backlog is full); on the I/O thread."""
        self._paused = True
        ws, listener = self._ws, self._listener
        if ws is not None and listener is not None and not self._closing:
            listener.hold()
            with contextlib.suppress(Exception):
                ws.underlying_transport.pause_reading()

    def resume_reading(self) -> None:
        """Read from the network again after ``pause_reading()``; on the I/O thread."""
        self._paused = False
        ws, listener = self._ws, self._listener
        if ws is None or listener is None:
            return
        listener.release()
        if self._paused:  # what was held back filled the backlog again
            return
        with contextlib.suppress(Exception):
            ws.underlying_transport.resume_reading()

    # -- on the I/O thread -------------------------------------------------------------------

    def _wake_writer(self) -> None:
        self._flush()

    def _flush(self) -> None:
        """Write what is queued, in order, until done or the transport's buffer is full."""
        self._write_pending = False
        ws = self._ws
        if ws is None or (self._sink is None and self._close_sent is not None):
            return
        outbox = self._outbox
        written = self._written
        encoders = self._listener.extensions if self._listener is not None else []
        while outbox and not self._write_paused:
            payload, arg = outbox.popleft()
            if payload is _CLOSE:
                self._close_args = arg
                self._report_written(written)
                self._send_close(*arg)
                outbox.clear()
                return
            if self._close_sent is not None or self._close_rcvd is not None:
                outbox.clear()  # closing: what is left is never sent (websockets' send raises)
                break
            msg_type = _TEXT if arg else _BINARY
            if encoders:
                frame = Frame(Opcode.TEXT if arg else Opcode.BINARY, payload)
                for extension in encoders:
                    frame = extension.encode(frame)
                ws.send(msg_type, frame.data, True, frame.rsv1)
            else:
                ws.send(msg_type, payload)
            written += len(payload)
        self._report_written(written)

    def _send_close(self, code: int | None, reason: str) -> None:
        """Send our Close (once) and bound the closing handshake."""
        ws = self._ws
        if ws is None or self._close_sent is not None:
            return
        self._close_sent = (
            Close(code, reason) if code is not None else Close(CloseCode.NO_STATUS_RCVD, "")
        )
        ws.send(_CLOSE_FRAME, _close_payload(code, reason))
        self._closing_started()

    def _ping(self, future: concurrent.futures.Future[float]) -> None:
        if not self._can_ping():
            future.set_exception(ConnectionError("the connection is not open"))
            return

        def answered(rtt: float | None) -> None:
            if future.done():
                return
            if rtt is None:
                future.set_exception(ConnectionError("the connection closed"))
            else:
                future.set_result(rtt)

        self._send_ping(answered)

    def _can_ping(self) -> bool:
        return (
            self._ws is not None
            and self._sink is not None
            and self._close_sent is None
            and self._close_rcvd is None
        )

    def _send_ping(self, answered: Callable[[float | None], None]) -> None:
        ws = self._ws
        assert ws is not None
        data = os.urandom(4)
        while data in self._pending_pings:
            data = os.urandom(4)
        self._pending_pings[data] = (answered, time.monotonic())
        ws.send_ping(data)
        sink = self._sink
        if self._options.log_pings and sink is not None:
            sink.control("ping", "sent", len(data), None)

    def _control(self, msg_type: Any, data: bytes) -> None:
        """A Ping, Pong or Close frame arrived (in order with the messages)."""
        ws = self._ws
        sink = self._sink
        log = self._options.log_pings and sink is not None
        if msg_type is _PING:
            if ws is not None and self._close_sent is None:
                ws.send_pong(data)
            if log:
                assert sink is not None
                sink.control("ping", "received", len(data), None)
                sink.control("pong", "sent", len(data), None)
        elif msg_type is _PONG:
            self._pong(data, sink if log else None)
        else:
            self._close_received(_parse_close(data))

    def _pong(self, data: bytes, log: Any) -> None:
        pending = self._pending_pings
        if data not in pending:
            if log is not None:
                log.control("pong", "received", len(data), None)
            return
        now = time.monotonic()
        # Like websockets: a Pong acknowledges its Ping and every Ping sent before it.
        latency = 0.0
        for key in list(pending):
            answered, sent_at = pending.pop(key)
            answered(now - sent_at)
            if key == data:
                latency = now - sent_at
                break
        if log is not None:
            log.control("pong", "received", len(data), latency)
        sink = self._sink
        if sink is not None:
            sink.rtt(latency)

    def _close_received(self, close: Close) -> None:
        if self._close_rcvd is not None:
            return
        self._close_rcvd = close
        listener = self._listener
        if listener is not None and listener.deliver is not None:
            listener.deliver = None  # nothing after a Close is a message
        if self._close_sent is None:
            # Echo it, as websockets does; the socket is CLOSING at once (as in Chromium).
            ws = self._ws
            assert ws is not None
            self._close_sent = close
            code = None if close.code == CloseCode.NO_STATUS_RCVD else close.code
            ws.send(_CLOSE_FRAME, _close_payload(code, close.reason))
            self._closing_started()
            sink = self._sink
            if sink is not None and self._close_args is None and self._failure is None:
                sink.closing()

    def _fail_protocol(self, failure: _FailError) -> None:
        """Fail the connection as websockets does: send a Close, report error + close now."""
        if self._failure is not None or self._close_sent is not None:
            return
        self._failure = failure
        listener = self._listener
        if listener is not None:
            listener.deliver = None
        ws = self._ws
        self._close_sent = Close(failure.code, failure.reason)
        if ws is not None:
            ws.send(_CLOSE_FRAME, _close_payload(failure.code, failure.reason))
        self._closing_started()
        if self._close_args is None and self._sink is not None:
            self._report_closed(*_failed(self._close_sent, failure.cause))

    def _close_requested(self) -> None:
        self._closing_started()
        listener = self._listener
        if listener is not None and listener.deliver is not None:
            listener.deliver = _discard

    def _abort(self) -> None:
        """Drop the TCP connection (or stop connecting) at once, whatever is queued."""
        self._outbox.clear()
        if self._ws is not None:
            self._ws.disconnect(False)
        elif self._task is not None:
            self._task.cancel()

    def _disconnected(self) -> None:
        """picows reports the TCP connection closed."""
        pending = list(self._pending_pings.values())
        self._pending_pings.clear()
        for answered, _ in pending:
            answered(None)
        done = self._done
        if done is not None and not done.done():
            done.set_result(None)

    async def _keepalive_loop(self) -> None:
        """Ping every ``ping_interval``; fail (1011) when no Pong comes within ``ping_timeout``.

        As in the websockets engine, the wait is prolonged while there is progress the Pong
        may be queued behind: ipyws paused reading, or the write buffer shrank.
        """
        interval = self._options.ping_interval
        timeout = self._options.ping_timeout
        assert interval is not None
        loop = asyncio.get_running_loop()
        latency = 0.0
        while self._can_ping():
            await asyncio.sleep(max(0.0, interval - latency))
            if not self._can_ping():
                return
            pong: asyncio.Future[float] = loop.create_future()

            def answered(rtt: float | None, pong: asyncio.Future[float] = pong) -> None:
                if not pong.done():
                    pong.set_result(-1.0 if rtt is None else rtt)

            self._send_ping(answered)
            if timeout is None:
                continue
            ws = self._ws
            assert ws is not None
            latency = await wait_for_pong(
                pong, timeout, ws.underlying_transport, self._reading_paused
            )
            if not pong.done():
                if self._can_ping():
                    self._fail_protocol(
                        _FailError(
                            CloseCode.INTERNAL_ERROR,
                            "keepalive ping timeout",
                            TimeoutError("keepalive ping timeout"),
                        )
                    )
                return
            if latency < 0:
                return

    def _ssl_context(self) -> ssl_module.SSLContext | None:
        if not self._url.secure:
            return None
        ssl = self._options.ssl
        if ssl is False:
            return _no_verification()
        if isinstance(ssl, ssl_module.SSLContext):
            return ssl
        return None

    async def _connect_socket(self, url: WSParsedURL) -> socket.socket:
        """Connect a TCP socket to the target, kept so a canceled handshake can drop it.

        Does what ``loop.create_connection`` does for a host and port (each address in
        turn, its errors combined the same way), which picows would otherwise call.
        """
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(url.host, url.port, type=socket.SOCK_STREAM)
        if not infos:
            raise OSError("getaddrinfo() returned empty list")
        errors: list[OSError] = []
        for family, kind, proto, _, address in infos:
            sock = socket.socket(family, kind, proto)
            try:
                sock.setblocking(False)
                await loop.sock_connect(sock, address)
            except OSError as exc:
                sock.close()
                errors.append(exc)
                continue
            except BaseException:
                sock.close()
                raise
            self._socket = sock
            return sock
        if len(errors) == 1 or all(str(exc) == str(errors[0]) for exc in errors):
            raise errors[0]
        raise OSError(f"Multiple exceptions: {', '.join(str(exc) for exc in errors)}")

    async def _open_picows(self) -> tuple[WSTransport, _Listener, ClientProtocol]:
        """Open the connection, one CONNECTING connection per host at a time (RFC 6455 4.1)."""
        opts = self._options
        handshake = ClientProtocol(
            parse_uri(self._url.href),
            origin=Origin(opts.origin) if opts.origin is not None else None,
            extensions=enable_client_permessage_deflate(None) if opts.compression else None,
            subprotocols=[Subprotocol(p) for p in self._protocols] or None,
        )
        request = handshake.connect()
        headers = [
            (name, value)
            for name, value in request.headers.raw_items()
            if name.lower() not in _PICOWS_HEADERS
        ]
        headers.extend(opts.headers)
        names = {name.lower() for name, _ in headers}
        if opts.user_agent is not None and "user-agent" not in names:
            headers.append(("User-Agent", opts.user_agent))
        host = next((v for n, v in opts.headers if n.lower() == "host"), None)
        if host is None:
            host = request.headers["Host"]
        headers.insert(0, ("Host", host))

        def listener_factory(_request: Any, response: Any) -> _Listener:
            # websockets' own checks of the response's extensions and subprotocol.
            received = Headers(list(response.headers.items()))
            try:
                handshake.extensions = handshake.process_extensions(received)
                handshake.subprotocol = handshake.process_subprotocol(received)
            except InvalidHandshake as exc:
                raise _HandshakeRefusedError(exc) from None
            if self._protocols and not handshake.subprotocol:
                # The WHATWG standard fails a connection whose server ignored its protocols.
                raise _HandshakeRefusedError(
                    HandshakeError(
                        "The server did not select any of the requested subprotocols "
                        f"({', '.join(self._protocols)}): no Sec-WebSocket-Protocol in its "
                        "response."
                    )
                )
            return _Listener(self, list(handshake.extensions))

        max_size = opts.max_size
        # Made inside the host lock: a coroutine made before it and then canceled while
        # waiting for the lock would be garbage that was never awaited.
        connect = functools.partial(
            ws_connect,
            listener_factory,
            _without_credentials(self._url.href),
            ssl_context=self._ssl_context(),
            websocket_handshake_timeout=None,
            logger_name=_QuietLogger(logging.getLogger("picows.client"), self._redact),
            enable_auto_pong=False,
            max_frame_size=_NO_LIMIT if max_size is None else max_size,
            extra_headers=headers,
            max_redirects=0,
            socket_factory=self._connect_socket,
            read_buffer_init_size=READ_MIN,  # picows doubles it as reads fill it
        )
        async with self._io.host_lock(self._url.host_key):
            try:
                try:
                    if opts.open_timeout is None:
                        ws, listener = await connect()
                    else:
                        ws, listener = await asyncio.wait_for(connect(), opts.open_timeout)
                except BaseException:
                    # picows leaves the TCP connection open when canceled during the
                    # handshake (close() or open_timeout): drop it, as a browser does.
                    if self._socket is not None:
                        with contextlib.suppress(OSError):
                            self._socket.shutdown(socket.SHUT_RDWR)
                    raise
                finally:
                    self._socket = None
            except asyncio.TimeoutError:
                raise TimeoutError("timed out during opening handshake") from None
            except _HandshakeRefusedError as exc:
                raise exc.error from None
            except WSHandshakeError as exc:
                raise _as_websockets_error(exc) from exc
        if self._fail_reason is not None:
            ws.disconnect(False)
            raise ConnectionFailedError(self._fail_reason)
        assert isinstance(listener, _Listener)
        return ws, listener, handshake

    async def _run(self) -> None:
        try:
            ws, listener, handshake = await self._open_picows()
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                exc = ConnectionFailedError(self._fail_reason or "the connection was canceled")
            self._report_closed(CloseCode.ABNORMAL_CLOSURE, "", False, exc)
            return
        self._done = asyncio.get_running_loop().create_future()
        transport = ws.underlying_transport
        protocol = transport.get_protocol()
        self._ws = ws
        self._listener = listener
        if ws.is_disconnected:
            self._done.set_result(None)
        sink = self._sink
        if sink is None:
            ws.disconnect(False)
            return
        if protocol is not None and not transport.is_closing():
            transport.set_protocol(_SlicedReads(protocol, listener, sink.room))
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        sink.opened(handshake.subprotocol or "", extensions, _handshake(ws))
        listener.deliver = listener.sink_message = sink.message
        listener.sink_messages = sink.messages
        if self._close_args is not None or self._closing:
            listener.deliver = _discard
        listener.release()  # what came with the handshake's response
        if self._paused:  # the backlog filled up (during the handshake, or just now)
            self.pause_reading()
        self._flush()
        if self._options.ping_interval is not None:
            self._keepalive = asyncio.get_running_loop().create_task(self._keepalive_loop())
        error: BaseException | None = None
        await self._done
        try:
            await ws.wait_disconnected()
        except WSProtocolError as exc:
            error = exc
        except Exception as exc:  # picows failed the connection over an exception
            error = exc
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keepalive
        listener.deliver = None
        self._report_closed(*self._close_outcome_picows(ws, error))

    def _close_outcome_picows(
        self, ws: WSTransport, error: BaseException | None
    ) -> tuple[int, str, bool, BaseException | None]:
        """How the connection ended, in the websockets engine's terms."""
        if self._fail_reason is not None:
            return CloseCode.ABNORMAL_CLOSURE, "", False, ConnectionFailedError(self._fail_reason)
        if self._failure is not None:
            return _failed(Close(self._failure.code, self._failure.reason), self._failure.cause)
        if isinstance(error, WSProtocolError):
            # picows' parser failed the connection (a protocol error, a frame over max_size)
            # and sent its Close itself.
            code = int(error.args[0])
            reason = str(error.args[1]) if len(error.args) > 1 else ""
            too_big = code == CloseCode.MESSAGE_TOO_BIG
            cause = PayloadTooBig(reason) if too_big else ProtocolError(reason)
            return _failed(Close(code, reason), cause)
        if error is not None:
            return CloseCode.ABNORMAL_CLOSURE, "", False, error
        rcvd = self._close_rcvd
        if rcvd is None:
            return CloseCode.ABNORMAL_CLOSURE, "", False, None
        return rcvd.code, rcvd.reason, self._close_sent is not None, None


class _HandshakeRefusedError(Exception):
    """Carries a handshake check's failure out of picows' listener factory."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _as_websockets_error(exc: WSHandshakeError) -> InvalidHandshake:
    """The error websockets raises where picows raised ``exc`` (the same causes either way)."""
    response = exc.response
    if isinstance(exc, WSInvalidStatusError) and response is not None:
        status = response.status
        headers = Headers(list(response.headers.items()))
        return InvalidStatus(
            Response(int(status), getattr(status, "phrase", ""), headers, exc.raw_body or b"")
        )
    if isinstance(exc, WSInvalidUpgradeError):
        return InvalidUpgrade(exc.name, exc.value)
    if isinstance(exc, WSInvalidHeaderError):
        if exc.value is None:
            return InvalidHeader(exc.name)
        return InvalidHeaderValue(exc.name, exc.value)
    return InvalidMessage(str(exc))


def _discard(data: str | bytes) -> None:
    """Drop a message that arrived after close() was called."""


def _without_credentials(href: str) -> str:
    """``href`` minus ``user:password@`` (websockets' request sends them as Authorization)."""
    scheme, sep, rest = href.partition("://")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = authority.rpartition("@")[2]
    return f"{scheme}{sep}{authority}{slash}{path}"


def _handshake(ws: WSTransport) -> dict[str, Any]:
    """Describe the opening handshake: the request and the server's response."""
    request, response = ws.request, ws.response
    status = response.status
    return {
        "request": {
            "path": request.path.decode(errors="replace"),
            "headers": list(request.headers.items()),
        },
        "response": {
            "status": int(status),
            "reason": getattr(status, "phrase", ""),
            "headers": list(response.headers.items()),
        },
    }
