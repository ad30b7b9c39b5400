"""A loopback WebSocket server that reproduces the WPT handler paths, for tests.

The web-platform-tests run their WebSocket tests against pywebsocket handlers; a path picks a
handler (see ``shared/research/wpt-websockets.md`` section 0.3). :class:`TestServer` is one
``websockets`` server that dispatches on the request path and behaves like those handlers,
on 127.0.0.1, on a free port, in a background thread::

    with TestServer() as srv:
        url = srv.url("/echo")  # ws://127.0.0.1:PORT/echo

Unless a path says otherwise the server negotiates permessage-deflate, sends no keepalive
pings, answers a client's Close with the same code and reason (an empty Close with an empty
one), and closes with 1000 and no reason when its handler is done ("then closes").

Opening handshake:

``/handshake_no_extensions``
    Accepts without extensions (no permessage-deflate), then closes.
``/handshake_no_protocol``
    Never answers ``Sec-WebSocket-Protocol``, whatever was requested; then echoes.
``/handshake_protocol``
    Always answers ``Sec-WebSocket-Protocol: foobar``; then echoes.
``/handshake_sleep_2``, ``/sleep_10_v13``
    Wait 2 s (10 s) before the 101 response, or ``?delay=SECONDS``; then echo.
``/invalid``
    Answers the line ``FOO BAR BAZ`` instead of an HTTP response and closes TCP.
``/wrong_accept_key``
    101 with a wrong ``Sec-WebSocket-Accept``; then sends ``test`` and waits for the close.
``/simple_handshake``
    The 101 response and a Close frame (1001, ``PASS``) in one TCP write; waits for the
    client's Close, then drops TCP.
``/basic_auth``
    HTTP 401 with ``WWW-Authenticate: Basic realm="camelot"`` unless the request has
    ``Authorization: Basic Zm9vOmJhcg==`` (foo:bar); then closes.
``/redirect``
    HTTP 301 to ``/echo`` on this server, or ``?location=URL``.
``/404`` and every unknown path, ``/`` included
    HTTP 404.
``/set-cookie?X``
    ``Set-Cookie: X`` in the 101 response; then waits for the close.

Replies, each one text message and then a close:

``/origin``
    The ``Origin`` header, or an empty string.
``/protocol``
    Selects exactly the requested ``Sec-WebSocket-Protocol`` value and sends it.
``/protocol_array``
    Selects the first requested protocol and sends it.
``/echo-query``, ``/echo-query_v13``
    The raw query string (after ``?``), empty if none.
``/referrer``
    The ``Referer`` header, or ``MISSING AS PER FETCH``.
``/echo-cookie``
    The ``Cookie`` header, or ``(none)``.
``/headers``
    The request headers as a JSON object, names as sent, repeated ones joined with ``", "``.
``/big?size=N``
    One text message of N bytes (default 1 MiB); ``&binary=1`` for a binary one.

Messages and closing:

``/echo``
    Selects subprotocol ``echo`` if offered. Echoes text as text and binary as binary; after
    echoing ``Goodbye`` it closes.
``/echo_raw``
    Writes each received message's bytes straight onto the TCP stream, so a client can inject
    raw frames; closes on ``exit``.
``/echo_exit``, ``/echo_close_data``
    Never echo; close on ``Goodbye``.
``/empty-message``
    Reads one message, sends ``pass`` if it was the empty string and ``fail`` otherwise, closes.
``/delayed-passive-close``
    Answers the client's Close after 1 s (or ``?delay=SECONDS``) with the same code and reason.
``/passive-close-abort``
    Answers the client's Close by dropping TCP, without a Close frame.
``/remote-close?code=N&reason=R``
    Starts the closing handshake with code N and reason R (any N, even one a client must
    reject); with no ``code`` the Close frame has no body. ``?abrupt=1`` sends a ping and
    drops TCP instead.
``/ping-timeout``
    Stops reading the socket once open, so the client's pings go unanswered; its receive
    buffer is small, so what the client sends soon stays queued on the client's side.
``/invalid-utf8``
    Sends a text frame that is not valid UTF-8, then waits for the close.
``/burst?n=N``
    Not WPT: N text messages ``0`` ... ``N-1`` (default 500) in one write, so they arrive in
    one read; then waits for the close.
``/reserved-opcode``
    Sends a text frame ``test`` then a frame with reserved opcode 3 (payload ``LOL``), in one
    write, like WPT ``events/015``; then waits for the close.
``/flood?size=S&n=N``
    Not WPT: text messages as fast as the client reads them (websockets' flow control),
    each ``S`` characters long (default 100) and starting with its number (``0``, ``1``,
    ...) and a space; ``N`` of them (default: until the client closes), then waits for the
    close. :attr:`TestServer.flood_sent` counts the messages handed to the network.

Any path with ``?hold=1`` (``&hold=1``) never answers the client's Close and never closes
TCP: a server that went away without telling, after doing what its path says (with
``/remote-close`` the closing handshake is then never completed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
import urllib.parse
import weakref
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.sync.server import ServerConnection as SyncServerConnection
from websockets.sync.server import serve as sync_serve
from websockets.typing import Subprotocol

__all__ = ["TestServer"]

# Seconds a handshake waits on paths that sleep before the 101, unless ?delay= says otherwise.
_HANDSHAKE_DELAYS = {"/handshake_sleep_2": 2.0, "/sleep_10_v13": 10.0}

# How long stop() lets clients finish their closing handshakes before dropping them.
_STOP_GRACE = 2.0


@dataclass(frozen=True)
class _Route:
    """Where a request goes: its path, raw query string and parsed query parameters."""

    path: str
    query: str
    params: dict[str, str]

    @classmethod
    def of(cls, request: Request) -> _Route:
        """Split a request's target into path and query."""
        path, _, query = request.path.partition("?")
        return cls(path, query, dict(urllib.parse.parse_qsl(query, keep_blank_values=True)))


def _frame(opcode: int, payload: bytes) -> bytes:
    """Encode one unmasked, final server frame, without the checks websockets would apply."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, length)
    return header + payload


def _close_payload(code: int | None, reason: str = "") -> bytes:
    """Encode a Close frame body; no code means an empty body."""
    return b"" if code is None else struct.pack("!H", code) + reason.encode()


def _mark_close_sent(connection: ServerConnection, code: int | None, reason: str = "") -> None:
    """Tell websockets that a Close frame we wrote ourselves went out.

    It then treats the client's Close as the reply (rather than echoing one back) and
    finishes the closing handshake as if it had sent the frame.
    """
    protocol = connection.protocol
    protocol.close_sent = Close(1005 if code is None else code, reason)
    protocol.state = State.CLOSING


def _on_close_frame(connection: ServerConnection, hook: Callable[[Frame], None]) -> None:
    """Give the client's Close frame to ``hook`` instead of answering it at once.

    websockets answers a Close inside its frame parser; wrapping the parser's per-frame
    method is the one place to hold that answer back. ``hook`` may later call
    :func:`_answer_close` to let websockets answer after all.
    """
    protocol = connection.protocol
    recv_frame = protocol.recv_frame

    def intercept(frame: Frame) -> None:
        if frame.opcode is Opcode.CLOSE and protocol.state is State.OPEN:
            hook(frame)
        else:
            recv_frame(frame)

    protocol.recv_frame = intercept  # type: ignore[method-assign]


def _answer_close(connection: ServerConnection, frame: Frame) -> None:
    """Let websockets answer a Close frame held back by :func:`_on_close_frame`."""
    protocol = connection.protocol
    if protocol.state is not State.OPEN:  # the client gave up waiting and dropped TCP
        return
    type(protocol).recv_frame(protocol, frame)
    connection.send_data()
    for event in protocol.events_received():
        connection.process_event(event)


def _joined(headers: Headers, name: str, separator: str = ", ") -> str:
    """All values of a request header in one string, empty if absent."""
    return separator.join(headers.get_all(name))


def _requested_protocols(request: Request) -> list[str]:
    """The subprotocols the client offered, in order."""
    offered = _joined(request.headers, "Sec-WebSocket-Protocol").split(",")
    return [p.strip() for p in offered if p.strip()]


def _replace_header(headers: Headers, name: str, value: str | None) -> None:
    """Set a response header to one value, or remove it when ``value`` is None."""
    if name in headers:
        del headers[name]
    if value is not None:
        headers[name] = value


def _headers_json(request: Request) -> str:
    """The request headers as a JSON object, names as sent, repeated ones joined."""
    headers: dict[str, str] = {}
    for name, value in request.headers.raw_items():
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return json.dumps(headers)


def _big(route: _Route) -> str | bytes:
    """A message of ``?size=N`` bytes, binary with ``?binary=1``."""
    size = int(route.params.get("size", 1 << 20))
    return b"x" * size if route.params.get("binary") == "1" else "x" * size


# Paths whose handler sends one text message computed from the request, then closes.
_REPLIES: dict[str, Callable[[Request, _Route], str | bytes]] = {
    "/origin": lambda request, _: _joined(request.headers, "Origin"),
    "/protocol": lambda request, _: _joined(request.headers, "Sec-WebSocket-Protocol"),
    "/protocol_array": lambda request, _: next(iter(_requested_protocols(request)), ""),
    "/echo-query": lambda _, route: route.query,
    "/echo-query_v13": lambda _, route: route.query,
    "/referrer": lambda request, _: _joined(request.headers, "Referer") or "MISSING AS PER FETCH",
    "/echo-cookie": lambda request, _: _joined(request.headers, "Cookie", "; ") or "(none)",
    "/headers": lambda request, _: _headers_json(request),
    "/big": lambda _, route: _big(route),
}

_Handler = Callable[[ServerConnection, _Route], Awaitable[None]]


async def _drain(connection: ServerConnection) -> None:
    """Read and drop messages until the connection closes."""
    async for _ in connection:
        pass


async def _echo(connection: ServerConnection, route: _Route) -> None:
    """Echo each message with its type; stop after echoing ``Goodbye``."""
    async for message in connection:
        await connection.send(message)
        if message == "Goodbye":
            return


async def _echo_raw(connection: ServerConnection, route: _Route) -> None:
    """Write each message's bytes onto the TCP stream; stop on ``exit``."""
    async for message in connection:
        if message == "exit":
            return
        connection.transport.write(message.encode() if isinstance(message, str) else message)


async def _echo_exit(connection: ServerConnection, route: _Route) -> None:
    """Read without echoing; stop on ``Goodbye``."""
    async for message in connection:
        if message == "Goodbye":
            return


async def _empty_message(connection: ServerConnection, route: _Route) -> None:
    """Say whether the first message was the empty string."""
    message = await connection.recv()
    await connection.send("pass" if message == "" else "fail")


async def _close_at_once(connection: ServerConnection, route: _Route) -> None:
    """Do nothing, so the server closes with 1000."""


async def _wrong_accept_key(connection: ServerConnection, route: _Route) -> None:
    """Send ``test`` (which a correct client never sees) and wait for the close."""
    await connection.send("test")
    await _drain(connection)


async def _simple_handshake(connection: ServerConnection, route: _Route) -> None:
    """Account for the Close sent with the 101; websockets then waits for the client's."""
    # Nothing has run on this connection since the 101 went out, so the client's Close
    # cannot have been parsed yet.
    _mark_close_sent(connection, 1001, "PASS")


async def _delayed_passive_close(connection: ServerConnection, route: _Route) -> None:
    """Answer the client's Close only after a delay."""
    delay = float(route.params.get("delay", 1.0))
    loop = asyncio.get_running_loop()

    def answer_later(frame: Frame) -> None:
        loop.call_later(delay, _answer_close, connection, frame)

    _on_close_frame(connection, answer_later)
    await _drain(connection)


async def _passive_close_abort(connection: ServerConnection, route: _Route) -> None:
    """Answer the client's Close by dropping TCP."""
    _on_close_frame(connection, lambda frame: connection.transport.abort())
    await _drain(connection)


async def _remote_close(connection: ServerConnection, route: _Route) -> None:
    """Close first, with the query's code and reason, or drop TCP after a ping."""
    if route.params.get("abrupt") == "1":
        await connection.ping()
        connection.transport.abort()
        return
    code = int(route.params["code"]) if "code" in route.params else None
    reason = route.params.get("reason", "")
    # Written by hand so that any code can be sent, including ones websockets refuses.
    connection.transport.write(_frame(Opcode.CLOSE, _close_payload(code, reason)))
    if route.params.get("hold") != "1":  # else the client's Close is swallowed (_handle)
        _mark_close_sent(connection, code, reason)


async def _invalid_utf8(connection: ServerConnection, route: _Route) -> None:
    """Send a text frame that is not UTF-8 and wait for the client to fail."""
    await connection.send(b"invalid \xff utf-8", text=True)
    await _drain(connection)


async def _reserved_opcode(connection: ServerConnection, route: _Route) -> None:
    """Send ``test``, then a frame with reserved opcode 3, in one write."""
    connection.transport.write(_frame(Opcode.TEXT, b"test") + _frame(3, b"LOL"))
    await _drain(connection)


async def _burst(connection: ServerConnection, route: _Route) -> None:
    """Send ``n`` numbered text messages in one write."""
    count = int(route.params.get("n", "500"))
    connection.transport.write(b"".join(_frame(Opcode.TEXT, b"%d" % i) for i in range(count)))
    await _drain(connection)


async def _drain_handler(connection: ServerConnection, route: _Route) -> None:
    """Wait for the client to close."""
    await _drain(connection)


async def _reply(connection: ServerConnection, route: _Route) -> None:
    """Send the path's one reply, computed from the request."""
    assert connection.request is not None
    await connection.send(_REPLIES[route.path](connection.request, route))


class TestServer:
    """A WebSocket server on 127.0.0.1 that plays the WPT handlers, one path each.

    The module docstring lists the paths. Start it with ``with TestServer() as srv:`` (or
    :meth:`start` and :meth:`stop`); it runs its own asyncio loop in a daemon thread on a
    free port. Every opening-handshake request, including rejected ones, is appended to
    :attr:`requests`.
    """

    # Keeps pytest from collecting this class when a test module imports it.
    __test__ = False

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        """The address the server listens on."""
        self.port = 0
        """The TCP port, known once started."""
        self.requests: list[Request] = []
        """Every opening-handshake request received, in order."""
        self._handlers: dict[str, _Handler] = {
            "/echo": _echo,
            "/echo_raw": _echo_raw,
            "/echo_exit": _echo_exit,
            "/echo_close_data": _echo_exit,
            "/empty-message": _empty_message,
            "/handshake_no_extensions": _close_at_once,
            "/handshake_no_protocol": _echo,
            "/handshake_protocol": _echo,
            "/handshake_sleep_2": _echo,
            "/sleep_10_v13": _echo,
            "/invalid": _close_at_once,
            "/wrong_accept_key": _wrong_accept_key,
            "/simple_handshake": _simple_handshake,
            "/basic_auth": _close_at_once,
            "/redirect": _close_at_once,
            "/set-cookie": _drain_handler,
            "/delayed-passive-close": _delayed_passive_close,
            "/passive-close-abort": _passive_close_abort,
            "/remote-close": _remote_close,
            "/ping-timeout": self._ping_timeout,
            "/invalid-utf8": _invalid_utf8,
            "/reserved-opcode": _reserved_opcode,
            "/burst": _burst,
            "/flood": self._flood,
        }
        self._handlers.update(dict.fromkeys(_REPLIES, _reply))
        self._connections: weakref.WeakSet[ServerConnection] = weakref.WeakSet()
        self._stalled: weakref.WeakSet[ServerConnection] = weakref.WeakSet()
        self.flood_sent = 0
        """Messages the latest ``/flood`` connection has handed to the network."""
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    def url(self, path: str = "/echo") -> str:
        """The ``ws://`` URL of a path on this server, e.g. ``url("/echo-query?a=1")``."""
        return f"ws://{self._authority()}{path}"

    def http_url(self, path: str = "/") -> str:
        """The ``http://`` URL of a path on this server."""
        return f"http://{self._authority()}{path}"

    def _authority(self) -> str:
        """``host:port`` for URLs, bracketing an IPv6 address."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> TestServer:
        """Start serving in a background thread and return once listening."""
        if self._thread is not None:
            raise RuntimeError("a TestServer can be started once")
        self._thread = threading.Thread(target=self._run, name="ipyws-test-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise TimeoutError(f"test server did not start within {timeout} s")
        if self._error is not None:
            raise self._error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Close every client, stop listening and wait for the thread; idempotent."""
        loop, stopping, thread = self._loop, self._stopping, self._thread
        if loop is not None and stopping is not None:
            # The loop is gone once the thread has finished: nothing left to stop.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        if thread is None or thread is threading.current_thread():
            return
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError(f"test server did not stop within {timeout} s")

    def __enter__(self) -> TestServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        """Run the server's event loop; the thread's target."""
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # start() re-raises it in the caller's thread
            self._error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        """Listen until :meth:`stop`, then close or drop every client."""
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = await serve(
            self._handle,
            self.host,
            0,
            process_request=self._process_request,
            process_response=self._process_response,
            select_subprotocol=self._select_subprotocol,
            # The WPT server never pings; tests that need pings send them.
            ping_interval=None,
            # Big enough for the tests' largest messages (the WPT echo buffer is 8 MiB).
            max_size=64 << 20,
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stopping.wait()
        await self._shutdown(server)

    async def _shutdown(self, server: Server) -> None:
        """Close open clients with 1001; drop whoever has not finished in time."""
        for connection in list(self._connections):
            # A stalled client cannot read our Close, and a handshake still in progress
            # would only be refused with a 503: neither is worth waiting for.
            if connection in self._stalled or connection.state is State.CONNECTING:
                connection.transport.abort()
        server.close()
        try:
            await asyncio.wait_for(server.wait_closed(), _STOP_GRACE)
        except asyncio.TimeoutError:
            for connection in list(self._connections):
                connection.transport.abort()
            await server.wait_closed()

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        """Play the handshake part of each path that has one; 404 for unknown paths."""
        self.requests.append(request)
        self._connections.add(connection)
        route = _Route.of(request)
        if route.path not in self._handlers:
            return connection.respond(404, "Not Found\n")
        if route.path in _HANDSHAKE_DELAYS:
            delay = float(route.params.get("delay", _HANDSHAKE_DELAYS[route.path]))
            # Returns early if the client gives up, so no reply goes to a closed socket.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(connection.wait_closed(), delay)
        if route.path == "/invalid":
            connection.transport.write(b"FOO BAR BAZ\r\n\r\n")
            connection.transport.close()
            # Once the connection is closed websockets sends no response of its own.
            await connection.wait_closed()
        elif route.path == "/redirect":
            response = connection.respond(301, "")
            response.headers["Location"] = route.params.get("location", self.url("/echo"))
            return response
        elif route.path == "/basic_auth":
            if _joined(request.headers, "Authorization") != "Basic Zm9vOmJhcg==":
                response = connection.respond(401, "")
                response.headers["WWW-Authenticate"] = 'Basic realm="camelot"'
                return response
        elif route.path == "/handshake_no_extensions":
            # Negotiation happens after this hook; with nothing on offer, none is agreed.
            connection.protocol.available_extensions = []
        return None

    def _process_response(
        self, connection: ServerConnection, request: Request, response: Response
    ) -> Response | None:
        """Rewrite the 101 response where a path calls for it."""
        if response.status_code != 101:
            return None
        route = _Route.of(request)
        headers = response.headers
        if route.path == "/handshake_protocol":
            _replace_header(headers, "Sec-WebSocket-Protocol", "foobar")
        elif route.path == "/handshake_no_protocol":
            _replace_header(headers, "Sec-WebSocket-Protocol", None)
        elif route.path == "/protocol":
            requested = _joined(request.headers, "Sec-WebSocket-Protocol")
            _replace_header(headers, "Sec-WebSocket-Protocol", requested or None)
        elif route.path == "/wrong_accept_key":
            _replace_header(headers, "Sec-WebSocket-Accept", "thisisawrongacceptkey")
        elif route.path == "/simple_handshake":
            # Response.serialize() appends the body to the head, so the Close frame leaves
            # in the same write as the 101; the client reads it as the first frame.
            response.body = _frame(Opcode.CLOSE, _close_payload(1001, "PASS"))
        elif route.path == "/set-cookie":
            headers["Set-Cookie"] = urllib.parse.unquote(route.query)
        return None

    def _select_subprotocol(
        self, connection: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        """Pick ``echo`` on ``/echo`` and the first offer on ``/protocol_array``."""
        assert connection.request is not None
        path = _Route.of(connection.request).path
        if path == "/echo" and "echo" in offered:
            return Subprotocol("echo")
        if path == "/protocol_array" and offered:
            return offered[0]
        return None

    async def _handle(self, connection: ServerConnection) -> None:
        """Run the path's handler; a client that goes away early is no error."""
        assert connection.request is not None
        route = _Route.of(connection.request)
        if route.params.get("hold") == "1":
            self._stalled.add(connection)
            _on_close_frame(connection, lambda frame: None)
        with contextlib.suppress(ConnectionClosed):
            await self._handlers[route.path](connection, route)
            if route.params.get("hold") == "1":
                await _drain(connection)

    async def _flood(self, connection: ServerConnection, route: _Route) -> None:
        """Send numbered messages as fast as the client reads them."""
        size = int(route.params.get("size", "100"))
        count = int(route.params["n"]) if "n" in route.params else None
        self.flood_sent = 0
        sequence = 0
        while count is None or sequence < count:
            head = b"%d " % sequence
            await connection.send(head + b"x" * max(0, size - len(head)), text=True)
            sequence += 1
            self.flood_sent = sequence
            if not sequence % 100:
                # send() does not yield while the client keeps up: let the server read too.
                await asyncio.sleep(0)
        await _drain(connection)

    async def _ping_timeout(self, connection: ServerConnection, route: _Route) -> None:
        """Stop reading, so pings are never answered; stop() drops the connection."""
        self._stalled.add(connection)
        # A small receive buffer, so what a client sends soon waits on the client's side
        # (Linux lets a loopback receive buffer grow to tcp_rmem's maximum, often 32 MiB).
        sock = connection.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        connection.transport.pause_reading()
        await connection.wait_closed()


class HeldServer:
    """An echo server whose opening handshakes wait until :meth:`release`.

    A socket connecting to it stays CONNECTING, however slow or busy the machine, for as long
    as the test needs: tests hold the handshake instead of racing a delay.
    """

    __test__ = False

    def __init__(self) -> None:
        self._released = threading.Event()
        self._server = sync_serve(
            self._echo, "127.0.0.1", 0, process_request=self._hold, ping_interval=None
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="ipyws-held-server", daemon=True
        )
        #: The server's ``ws://`` URL.
        self.url = f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/"
        #: Opening handshakes received so far (each waits for release()).
        self.held = threading.Semaphore(0)

    def _hold(self, connection: SyncServerConnection, request: Request) -> None:
        self.held.release()
        if not self._released.wait(_HOLD_LIMIT):
            raise TimeoutError(f"the test never released the handshake ({_HOLD_LIMIT} s)")

    @staticmethod
    def _echo(connection: SyncServerConnection) -> None:
        for message in connection:
            connection.send(message)

    def wait_held(self, timeout: float = 10.0) -> None:
        """Wait until a handshake has arrived and is being held."""
        if not self.held.acquire(timeout=timeout):
            raise TimeoutError(f"no handshake arrived within {timeout} s")

    def release(self) -> None:
        """Answer every held handshake, and every later one at once."""
        self._released.set()

    @contextlib.contextmanager
    def running(self) -> Iterator[HeldServer]:
        """Serve for the duration of the ``with`` block; handshakes still held are released."""
        self._thread.start()
        try:
            yield self
        finally:
            self._released.set()
            self._server.shutdown()
            self._thread.join(10)


# How long a held handshake may wait before the server gives up on the test.
_HOLD_LIMIT = 60.0
