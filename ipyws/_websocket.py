"""The spec object: the browser's ``WebSocket``, attribute for attribute, in Python.

State lives here and changes only on the socket's dispatcher thread, inside the task that
fires the matching event, so a handler or a cell never sees ``readyState`` change under it
(the browser's run-to-completion rule). The transport reports from the I/O thread through
the ``_io_*`` methods, which only record and post tasks.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import enum
import functools
import inspect
import threading
import time
import types
import warnings
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from ._blob import Blob
from ._cells import CellRun, current_run
from ._dispatch import (
    RUN_COUNT,
    Dispatcher,
    current_dispatcher,
    defer_wakeups,
    held,
    report_exception,
)
from ._display import mimebundle
from ._events import (
    CloseEvent,
    Event,
    EventHandler,
    EventTarget,
    MessageEvent,
    ReconnectEvent,
)
from ._flow import DEFAULT_MAX_BACKLOG, DEFAULT_MAX_BACKLOG_BYTES, Backlog, Flow
from ._options import DEFAULT_MAX_SIZE, DEFAULT_USER_AGENT, Engine, Options
from ._platform import (
    PYODIDE,
    Connection,
    check_blocking,
    check_options,
    io_thread,
    new_connection,
)
from ._reconnect import Reconnect, policy_of
from ._stats import SocketStats
from ._text import SECRET_HEADERS, Redactor, escape_controls, to_usv, type_name
from ._transcript import DEFAULT_DATA_LIMIT, DEFAULT_LOG_SIZE, Transcript
from ._url import WebSocketURL, parse_websocket_url, url_credentials
from ._validation import (
    check_count,
    check_engine,
    check_flag,
    check_headers,
    check_optional_str,
    check_seconds,
    check_ssl,
)
from ._waiting import Waiter, WebSocketClosedError
from .exceptions import (
    ConnectionFailedError,
    DOMSyntaxError,
    InvalidAccessError,
    InvalidStateError,
)

if TYPE_CHECKING:
    import ssl as ssl_module  # not importable under Pyodide until loaded

__all__ = ["ReadyState", "WebSocket", "sockets"]

# RFC 2616 separators; a subprotocol is a token of U+0021-U+007E without them.
_SEPARATORS = frozenset('()<>@,;:\\"/[]?={} \t')

# What to write instead of a blocking helper where nothing may block (Pyodide).
_AWAIT_FORMS = {
    "open": "await ws.opened",
    "message": "await ws.next_message()",
    "close": "await ws.closed",
}

# How far back a waiter may pick up messages it missed (see WebSocket._recent).
_RECENT_COUNT = 256
_RECENT_BYTES = 1 << 20

_monotonic = time.monotonic

_open_sockets: set[WebSocket] = set()
_registry_lock = threading.Lock()
_io_deferring = False


def _defer_io_wakeups() -> None:
    """Have the I/O thread wake each dispatcher once per loop iteration (see defer_wakeups)."""
    global _io_deferring
    with _registry_lock:
        if _io_deferring:
            return
        _io_deferring = True
    io = io_thread()
    io.call(defer_wakeups, io.on_idle)


@functools.cache
def _option_defaults() -> dict[str, Any]:
    """The defaults of WebSocket's keyword options, written once: in its signature."""
    parameters = inspect.signature(WebSocket.__init__).parameters
    return {name: parameter.default for name, parameter in parameters.items()}


class ReadyState(enum.IntEnum):
    """The four values of ``readyState``; they compare equal to the browser's numbers."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


# Enum attribute access (ReadyState.OPEN) costs ~100 ns in Python 3.11: the per-message and
# per-send paths compare against these instead.
_CONNECTING = ReadyState.CONNECTING
_OPEN = ReadyState.OPEN


class _Constant:
    """A read-only constant visible on the class and on instances (``WebSocket.OPEN``)."""

    def __init__(self, value: ReadyState) -> None:
        self.value = value

    def __get__(self, obj: object, objtype: type | None = None) -> ReadyState:
        return self.value

    def __set__(self, obj: object, value: object) -> None:
        raise AttributeError("WebSocket constants are read-only")


def _redacted(handshake: dict[str, Any]) -> dict[str, Any]:
    """The handshake as the transcript keeps it: credential headers masked (SECRET_HEADERS)."""
    return {
        side: {
            **info,
            "headers": [
                (name, "(redacted)" if name.lower() in SECRET_HEADERS else value)
                for name, value in info.get("headers", ())
            ],
        }
        for side, info in handshake.items()
    }


_T = TypeVar("_T")


def _expect(expected: type[_T], result: object) -> _T:
    """Return what a wait resolved with, as the type its kind of wait always gives."""
    if not isinstance(result, expected):
        raise AssertionError(f"a wait gave {result!r}, not a {expected.__name__}")
    return result


def _nothing(_: object) -> None:
    """A task that does nothing: posting it wakes whoever waits for the dispatcher."""


def sockets() -> list[WebSocket]:
    """Return the sockets that are not yet CLOSED, oldest first."""
    with _registry_lock:
        return sorted(_open_sockets, key=lambda ws: ws._serial)


def _validate_protocols(protocols: str | Iterable[str] | None) -> list[str]:
    if protocols is None:
        return []
    items = [protocols] if isinstance(protocols, str) else list(protocols)
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, str):
            raise TypeError(
                f"protocols must be a str or a list of str, not a list holding {type_name(item)}"
            )
        bad = [c for c in item if not "\x21" <= c <= "\x7e" or c in _SEPARATORS]
        if not item or bad:
            what = "is empty" if not item else f"contains {bad[0]!r}"
            raise DOMSyntaxError(
                f"The subprotocol {item!r} {what}: a subprotocol must be a non-empty token of "
                'printable ASCII without spaces or separators ()<>@,;:\\"/[]?={}.'
            )
        # WPT expects duplicates to be found case-insensitively ("echo", "eCho").
        key = item.lower()
        if key in seen:
            raise DOMSyntaxError(f"The subprotocol {item!r} is given more than once.")
        seen.add(key)
    return items


def _check_proxy(proxy: object) -> str | bool | None:
    if proxy is None or isinstance(proxy, (bool, str)):
        return proxy
    raise TypeError(f"proxy must be True, False, None or a proxy URL, not {type_name(proxy)}")


def _redactor(
    url: WebSocketURL, headers: Iterable[tuple[str, str]], proxy: str | bool | None
) -> Redactor:
    """Return what masks this socket's secrets: URL and proxy credentials, secret headers."""
    secrets = url_credentials(url.href)
    for name, value in headers:
        if name.lower() in SECRET_HEADERS:
            # The whole value, and the credentials after a scheme ("Bearer TOKEN").
            secrets.extend((value, value.partition(" ")[2].strip()))
    if isinstance(proxy, str):
        secrets.extend(url_credentials(proxy))
    return Redactor(secrets)


class _SocketSink:
    """A socket's end of its connections (the transport's ``Sink``): the reports of the I/O
    thread, bound to the socket's ``_io_*`` methods, which record and post but never touch
    the socket's state."""

    __slots__ = (
        "closed",
        "closing",
        "control",
        "message",
        "messages",
        "opened",
        "room",
        "rtt",
        "socket",
        "written",
    )

    def __init__(self, socket: WebSocket) -> None:
        self.socket = socket
        # Bound once: the I/O thread calls message() for every message of a feed.
        self.opened = socket._io_open
        self.message = socket._io_message
        self.messages = socket._io_messages
        self.room = socket._io_room
        self.written = socket._io_written
        self.rtt = socket._io_rtt
        self.control = socket._io_control
        self.closed = socket._io_closed
        self.closing = socket._io_closing


class WebSocket(EventTarget):
    """The browser's WebSocket: ``WebSocket(url, protocols)`` connects in the background.

    The constructor returns at once in CONNECTING state; events ``open``, ``message``*,
    ``error``? and ``close`` follow, delivered to handlers on the loop (or thread) where the
    socket was created. Options the browser does not offer are keyword-only; their defaults
    are the signature's, written only there (the ``%ws connect`` help reads them from it):

    Args:
        url: ``ws://``, ``wss://``, ``http://`` or ``https://`` URL (no fragment).
        protocols: one subprotocol or a list of them, offered in order.
        headers: extra handshake headers (a mapping or ``(name, value)`` pairs).
        origin: value of the ``Origin`` header (none by default).
        ssl: an ``ssl.SSLContext`` for ``wss://`` (certificates are verified by
            default); ``False`` disables verification, for self-signed test servers. With a
            ``ws://`` URL a context is ignored, with a warning: the connection is not
            encrypted.
        proxy: ``True`` (default) uses the system proxy settings (never for loopback
            hosts, as in Chromium), ``None``/``False`` connects directly, a URL uses that
            proxy for every host.
        proxy_ssl: an `ssl.SSLContext` for TLS with an ``https://`` proxy (to trust
            a private CA); ``False`` disables its verification. Ignored for other proxies.
        compression: offer permessage-deflate, like browsers.
        max_size: largest incoming message in bytes; None for no limit. A bigger one fails
            the connection with close code 1009.
        open_timeout: seconds allowed for the opening handshake; None for no limit.
        close_timeout: seconds to wait for the closing handshake; None for no limit.
        ping_interval: seconds between keepalive pings; None to disable them.
        ping_timeout: seconds to wait for a pong before failing; None to wait forever.
        user_agent: the ``User-Agent`` header; None to omit it.
        log_size: records kept in the [`transcript`][ipyws.Transcript].
        reconnect: ``True`` or a [`Reconnect`][ipyws.Reconnect] policy to connect again, on this
            same object, whenever a connection ends without [`close`][ipyws.WebSocket.close] having
            been called (see [`reconnect`][ipyws.WebSocket.reconnect]); default None, the browser's
            behaviour.
        log_pings: record each Ping and Pong frame in the [`transcript`][ipyws.Transcript]
            (default False).
        engine: the protocol engine, ``"picows"`` (faster) or ``"websockets"``; None
            (default) for picows. Options only websockets honours (a proxy)
            make the socket use it whatever is asked; [`stats`][ipyws.WebSocket.stats]
            shows the engine in use.
        max_backlog: received messages that may wait for their handlers; None for no limit.
            Past it the socket stops reading until the handlers have caught up to half of
            it, so TCP slows the server and nothing is lost (see
            [`backlog`][ipyws.WebSocket.backlog]).
        max_backlog_bytes: the same limit in payload bytes; None for no limit.
        drop_oldest: at those limits keep reading and drop the oldest unhandled messages
            instead, counted in [`backlog`][ipyws.WebSocket.backlog]; by default nothing is
            ever dropped.
        onopen: the ``open`` handler; as a keyword it is set before anything can fire.
        onmessage: the ``message`` handler, set before the first message.
        onerror: the ``error`` handler.
        onclose: the ``close`` handler.
        onreconnect: the non-standard ``reconnect`` handler.
    """

    CONNECTING: ClassVar[ReadyState] = _Constant(ReadyState.CONNECTING)  # type: ignore[assignment]
    OPEN: ClassVar[ReadyState] = _Constant(ReadyState.OPEN)  # type: ignore[assignment]
    CLOSING: ClassVar[ReadyState] = _Constant(ReadyState.CLOSING)  # type: ignore[assignment]
    CLOSED: ClassVar[ReadyState] = _Constant(ReadyState.CLOSED)  # type: ignore[assignment]

    onopen = EventHandler("open")
    onmessage = EventHandler("message")
    onerror = EventHandler("error")
    onclose = EventHandler("close")
    #: Non-standard: the ``reconnect`` event handler (see [`ReconnectEvent`][ipyws.ReconnectEvent]).
    onreconnect = EventHandler("reconnect")

    _serial_counter: ClassVar[int] = 0

    def __init__(
        self,
        url: str,
        protocols: str | Iterable[str] | None = None,
        *,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        origin: str | None = None,
        ssl: ssl_module.SSLContext | bool | None = None,
        proxy: str | bool | None = True,
        proxy_ssl: ssl_module.SSLContext | bool | None = None,
        compression: bool = True,
        max_size: int | None = DEFAULT_MAX_SIZE,
        open_timeout: float | None = 30.0,
        close_timeout: float | None = 10.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        user_agent: str | None = DEFAULT_USER_AGENT,
        log_size: int = DEFAULT_LOG_SIZE,
        reconnect: bool | Reconnect | None = None,
        log_pings: bool = False,
        engine: Engine | None = None,
        max_backlog: int | None = DEFAULT_MAX_BACKLOG,
        max_backlog_bytes: int | None = DEFAULT_MAX_BACKLOG_BYTES,
        drop_oldest: bool = False,
        onopen: Callable[[Event], Any] | None = None,
        onmessage: Callable[[MessageEvent], Any] | None = None,
        onerror: Callable[[Event], Any] | None = None,
        onclose: Callable[[CloseEvent], Any] | None = None,
        onreconnect: Callable[[ReconnectEvent], Any] | None = None,
    ) -> None:
        parsed = parse_websocket_url(url)
        protocol_list = _validate_protocols(protocols)
        policy = policy_of(reconnect)
        flow = Flow(max_backlog, max_backlog_bytes, check_flag("drop_oldest", drop_oldest))
        options = Options(
            headers=check_headers(headers),
            origin=check_optional_str("origin", origin, "Origin"),
            ssl=check_ssl("ssl", ssl),
            proxy=_check_proxy(proxy),
            proxy_ssl=check_ssl("proxy_ssl", proxy_ssl, allow_true=False),
            compression=check_flag("compression", compression),
            max_size=None if max_size is None else check_count("max_size", max_size, none=True),
            open_timeout=check_seconds("open_timeout", open_timeout),
            close_timeout=check_seconds("close_timeout", close_timeout, zero=True),
            ping_interval=check_seconds("ping_interval", ping_interval),
            ping_timeout=check_seconds("ping_timeout", ping_timeout),
            user_agent=check_optional_str("user_agent", user_agent, "User-Agent"),
            log_pings=check_flag("log_pings", log_pings),
            engine=check_engine(engine),
        )
        log_size = check_count("log_size", log_size)
        if ssl is not None and ssl is not False and not parsed.secure:
            # websockets ignores it and connects in plaintext: a user who meant wss:// must
            # know. (False only relaxes checks, so there is nothing to warn about.)
            warnings.warn(
                f"ssl={ssl!r} is ignored for the ws:// URL {parsed.shown}: the connection is "
                "not encrypted; use a wss:// URL for TLS",
                UserWarning,
                stacklevel=2,
            )
        check_options(options, _option_defaults())
        super().__init__()
        self._url = parsed.href
        #: The URL as shown and exported: its credentials masked.
        self._shown_url = parsed.shown
        self._redact = _redactor(parsed, options.headers, options.proxy)
        self._origin = parsed.origin
        self._protocols = protocol_list
        self._options = options
        self._ready_state = ReadyState.CONNECTING
        self._binary_type: Literal["blob", "arraybuffer"] = "blob"
        self._protocol = ""
        self._extensions = ""
        self._handshake: dict[str, Any] = {}
        self._close_event: CloseEvent | None = None
        self._opened = False
        self._error: BaseException | None = None
        self._queued_bytes = 0  # bytes counted by send(), on the dispatcher's thread
        self._written_bytes = 0  # bytes written, as last reported by the I/O thread
        self._written_seen = 0  # the written count as of the current task
        self._sync_posted = False  # a _task_sync is queued (set on the I/O thread)
        self._waiters: list[Waiter] = []
        # Waits start on any thread and resolve on the dispatcher's: one lock makes the
        # state check and the registration atomic against a resolution in between.
        self._waiters_lock = threading.Lock()
        # Recent message events with their running index, so a waiter on another thread
        # (plain Python) receives consecutive messages even when a burst was dispatched
        # between two of its calls. Bounded by count and bytes (_RECENT_*): with 1 MiB
        # messages a count alone would keep hundreds of MiB alive.
        self._recent: deque[tuple[int, MessageEvent]] = deque()
        self._recent_bytes = 0
        self._inbox: deque[str | bytes] = deque()
        self._inbox_posted = False
        self._flow = flow
        self._drop_recorded = 0.0  # when the transcript last got a "drop" record
        self._dispatched = 0
        self._cursor = 0
        self._cursor_kept = False
        self._cursor_generation = 0
        self._dispatcher: Dispatcher = current_dispatcher()
        # Reconnecting. On the socket's thread: whether close() stopped it, and the close
        # of the previous connection (self._close_event is only ever the final close).
        self._policy = policy
        self._reconnect_stopped = False
        self._last_close: CloseEvent | None = None
        self._attempt = 0  # the attempt of the latest reconnect event
        self._reconnected_by_hand = False  # reconnect() was called: close() stops it too
        self._revive = False  # reconnect() was called and its reconnect event has not run yet
        self._rtt: float | None = None
        # On the I/O thread only: the live connection, the backoff timer, the count of
        # attempts in a row, when the live connection opened, a reconnect() to do at once,
        # and whether the final close was reported.
        self._parsed = parsed
        self._context = contextvars.copy_context()
        self._io_connection: Connection | None = None
        self._io_timer: asyncio.TimerHandle | None = None
        self._io_retry_at: float | None = None  # when _io_timer fires (seconds since the epoch)
        self._io_attempts = 0
        self._io_opened_at: float | None = None
        self._io_now = False
        self._io_final = False
        #: The bounded record of this socket's traffic (see [`ipyws.Transcript`][ipyws.Transcript]).
        self.transcript = Transcript(log_size, DEFAULT_DATA_LIMIT)
        for name, handler in (
            ("open", onopen),
            ("message", onmessage),
            ("error", onerror),
            ("close", onclose),
            ("reconnect", onreconnect),
        ):
            if handler is not None:
                self._set_handler(name, handler)
        #: The notebook cell run that created the socket, or None.
        self._cell = current_run()
        if self._cell is not None:
            self._replace_rerun_sockets(self._cell)
        with _registry_lock:
            WebSocket._serial_counter += 1
            self._serial = WebSocket._serial_counter
            _open_sockets.add(self)
        #: What the I/O thread reports to (one per socket, across its connections).
        self._sink = _SocketSink(self)
        _defer_io_wakeups()
        self._connection = new_connection(self._sink, parsed, protocol_list, options, self._redact)
        self._io_connection = self._connection
        # In plain Python the dispatch thread could fire onopen before this returns.
        with held(self._dispatcher):
            self._connection.start()

    def _replace_rerun_sockets(self, cell: CellRun) -> None:
        """Close the sockets an earlier run of this notebook cell opened to the same URL.

        Re-running a cell must not leave its previous connection open beside the new one;
        within one run, and without a frontend cell id, nothing is closed.
        """
        for old in sockets():
            if cell.reruns(old._cell) and old._url == self._url:
                old.close(1000, "replaced: its notebook cell ran again")

    # -- browser attributes -------------------------------------------------------------

    @property
    def url(self) -> str:
        """The URL, serialized by the URL standard (``http`` shown as ``ws``)."""
        return self._url

    @property
    def readyState(self) -> ReadyState:  # noqa: N802
        """The state: CONNECTING (0), OPEN (1), CLOSING (2) or CLOSED (3)."""
        return self._ready_state

    @property
    def bufferedAmount(self) -> int:  # noqa: N802
        """Bytes passed to [`send`][ipyws.WebSocket.send] and not yet written to the network.

        As in the browser it only drops between tasks (handlers, cells), never while one runs.
        """
        return self._queued_bytes - self._written_seen

    @property
    def protocol(self) -> str:
        """The subprotocol the server selected ("" before open or when none)."""
        return self._protocol

    @property
    def extensions(self) -> str:
        """The extensions the server accepted, as in its ``Sec-WebSocket-Extensions`` header."""
        return self._extensions

    @property
    def binaryType(self) -> str:  # noqa: N802
        """How binary messages arrive: ``"blob"`` as [`Blob`][ipyws.Blob], else bytes."""
        return self._binary_type

    @binaryType.setter
    def binaryType(self, value: str) -> None:  # noqa: N802
        if value in ("blob", "arraybuffer"):
            self._binary_type = value  # type: ignore[assignment]
        else:
            # The browser ignores an invalid value silently; we keep the value but say why.
            warnings.warn(
                f"binaryType must be 'blob' or 'arraybuffer'; {value!r} was ignored "
                f"(it stays {self._binary_type!r})",
                UserWarning,
                stacklevel=2,
            )

    # -- methods ------------------------------------------------------------------------

    def send(self, data: str | bytes | bytearray | memoryview | Blob) -> None:
        """Send a message: ``str`` as a text frame; bytes-like or [`Blob`][ipyws.Blob] as binary.

        Raises [`InvalidStateError`][ipyws.InvalidStateError] while CONNECTING. After
        [`close`][ipyws.WebSocket.close] it sends nothing and raises nothing (``bufferedAmount``
        still grows), as in the browser.
        """
        if isinstance(data, str):
            try:
                payload = data.encode("utf-8")
            except UnicodeEncodeError:
                # Lone surrogates: the transcript must hold the text that went out (U+FFFD),
                # or exporting it to JSON lines or the panel fails on the surrogate.
                data = to_usv(data)
                payload = data.encode("utf-8")
            text = True
        elif isinstance(data, (bytes, bytearray, memoryview, Blob)):
            payload = bytes(data)
            text = False
        else:
            raise TypeError(
                f"send() takes str, bytes, bytearray, memoryview or Blob, not {type_name(data)}; "
                "use json.dumps(value) to send a Python object as JSON text"
            )
        state = self._ready_state
        if state == _CONNECTING:
            again = f" (reconnecting, attempt {self._attempt})" if self._last_close else ""
            raise InvalidStateError(
                f"Still in CONNECTING state{again}: wait for the open event "
                "(onopen, await ws.opened or ws.wait_open()) before calling send()."
            )
        self._queued_bytes += len(payload)
        if state != _OPEN:
            return
        self.transcript.sent(data if isinstance(data, str) else payload, len(payload))
        self._connection.send(payload, text)

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Start closing: ``code`` is 1000 or 3000-4999, ``reason`` at most 123 UTF-8 bytes.

        With no arguments an empty Close frame is sent (the peer's echo reports 1005).
        While CONNECTING the connection is failed: ``error`` then ``close`` (1006) follow.
        On a socket that reconnects it also stops reconnecting, at once, in any state: during
        a backoff wait (``error`` and ``close`` 1006 follow) and from an ``onclose`` handler
        (that close event then is the last).
        """
        if code is not None:
            if isinstance(code, bool) or not isinstance(code, int):
                raise TypeError(f"close() code must be an int, not {type_name(code)}")
            if code != 1000 and not 3000 <= code <= 4999:
                raise InvalidAccessError(
                    f"The close code must be 1000 or in 3000-4999; {code} is reserved for the "
                    "protocol (use 1000 for a normal close, 4000-4999 for your application)."
                )
        if reason is not None:
            if not isinstance(reason, str):
                raise TypeError(f"close() reason must be a str, not {type_name(reason)}")
            reason = to_usv(reason)
            size = len(reason.encode("utf-8"))
            if size > 123:
                raise DOMSyntaxError(
                    f"The close reason is {size} bytes long in UTF-8; the limit is 123 bytes."
                )
        state = self._ready_state
        if self._may_reconnect:
            self._stop_reconnecting(state, code, reason)
            return
        if state in (ReadyState.CLOSING, ReadyState.CLOSED):
            return
        self._ready_state = ReadyState.CLOSING
        if state == ReadyState.CONNECTING:
            self._connection.fail("close() was called before the connection was established")
            return
        if code is None and reason:
            code = 1000  # a reason needs a code; the WebSocketStream text picks 1000
        self._connection.close(code, reason or "")

    # -- flow control (non-standard) ----------------------------------------------------

    @property
    def backlog(self) -> Backlog:
        """Non-standard: received messages whose handlers have not run yet.

        A [`Backlog`][ipyws.Backlog] of ``messages`` and ``bytes`` waiting, whether reading is
        ``paused`` (the backlog passed ``max_backlog`` or ``max_backlog_bytes``) and how many
        messages ``drop_oldest`` has ``dropped``. Read live: it changes while a cell runs.
        """
        return self._flow.snapshot(self._inbox)

    # -- reconnecting (non-standard) ----------------------------------------------------

    @property
    def _may_reconnect(self) -> bool:
        return self._policy is not None or self._reconnected_by_hand

    def _stop_reconnecting(self, state: ReadyState, code: int | None, reason: str | None) -> None:
        """close() on a socket that reconnects: no further attempt, whatever the I/O side does."""
        self._reconnect_stopped = True
        self._revive = False
        io = io_thread()
        if state == ReadyState.CLOSED:
            if self._close_event is None and self._last_close is not None:
                # From an onclose handler, or before the reconnect event: that close is final.
                self._finish(self._last_close)
                io.call(self._io_stop, "quiet", None, None, "")
            return
        if state == ReadyState.CLOSING:
            return
        self._ready_state = ReadyState.CLOSING
        if code is None and reason:
            code = 1000
        mode = "close" if state == ReadyState.OPEN else "fail"
        io.call(self._io_stop, mode, self._connection, code, reason or "")

    def reconnect(self) -> None:
        """Non-standard: end the current connection and connect again at once, on this object.

        What the panel's Reconnect button does, with or without ``reconnect=``: an open
        connection is closed (1000, ``"reconnect"``), a connecting one failed, a backoff wait
        cut short, and a CLOSED socket comes back to CONNECTING. Handlers, listeners,
        transcript and panel stay; events follow as for any reconnect: ``close`` (if a
        connection was live), ``reconnect`` (delay 0), then ``open`` or ``error`` and ``close``.
        """
        self._reconnect_stopped = False
        self._reconnected_by_hand = True
        self._revive = True
        self._opened = False  # a wait for open from now on waits for the new connection
        if self._close_event is not None:  # CLOSED for good until now: live again
            self._close_event = None
            with _registry_lock:
                _open_sockets.add(self)
        if self._ready_state == ReadyState.OPEN:
            self._ready_state = ReadyState.CLOSING
        io_thread().call(self._io_reconnect_now)

    @property
    def reconnect_attempt(self) -> int:
        """Non-standard: the attempt of the latest ``reconnect`` event (0 before any)."""
        return self._attempt

    # -- liveness (non-standard) ----------------------------------------------------------

    @property
    def rtt(self) -> float | None:
        """Non-standard: the round trip of the latest answered ping, in seconds (None before).

        Keepalive pings (``ping_interval``) and [`ping`][ipyws.WebSocket.ping] update it; it is a
        measurement read live from the I/O thread, not state that changes only between tasks.
        """
        return self._rtt

    def _ping_future(self) -> Any:
        if self._ready_state != _OPEN:
            raise InvalidStateError(
                f"ping needs an OPEN socket; readyState is {self._ready_state.name}"
            )
        future = self._connection.ping()
        dispatcher = self._dispatcher
        # A posted task wakes a blocking wait_until, inline or on another thread.
        future.add_done_callback(lambda _: dispatcher.post(_nothing, None))
        return future

    async def ping(self, timeout: float | None = 10.0) -> float:
        """Non-standard: send a Ping now and return the round trip in seconds once its Pong came.

        Raises [`InvalidStateError`][ipyws.InvalidStateError] unless OPEN, ``TimeoutError`` after
        ``timeout`` seconds and ``ConnectionError`` if the connection closes first.
        """
        future = asyncio.wrap_future(self._ping_future())
        try:
            return float(await asyncio.wait_for(future, timeout))
        except asyncio.TimeoutError:
            raise TimeoutError(f"no pong within {timeout} s") from None

    def wait_ping(self, timeout: float | None = 10.0) -> float:
        """Non-standard: send a Ping now, block until its Pong, return the round trip in seconds.

        Handlers run meanwhile; raises as [`ping`][ipyws.WebSocket.ping] does.
        """
        check_blocking("wait_ping()", "await ws.ping()")
        future = self._ping_future()
        if not self._dispatcher.wait_until(future.done, timeout):
            raise TimeoutError(f"no pong within {timeout} s")
        return float(future.result())

    # -- I/O thread side: record and post, never touch state ------------------------------

    def _io_open(self, protocol: str, extensions: str, handshake: dict[str, Any]) -> None:
        self.transcript.event(
            "open", protocol=protocol, extensions=extensions, **_redacted(handshake)
        )
        if self._inbox_posted or self._inbox:
            # An earlier connection's messages still wait for their task: this connection's
            # go to a new inbox, dispatched only after that connection's close event.
            self._flow.earlier = self._inbox
            self._inbox = deque()
            self._inbox_posted = False
        self._io_opened_at = time.monotonic()
        self._flow.paused = False  # a new connection reads until its backlog fills up
        self._dispatcher.post(
            self._task_open, (protocol, extensions, handshake, self._io_connection)
        )

    def _io_message(self, data: str | bytes) -> None:
        self._io_messages([data])

    def _io_messages(self, batch: list[str | bytes]) -> None:
        """Record and queue the messages of one read (an engine hands over a read at once)."""
        self.transcript.received_batch(batch)
        inbox = self._inbox
        inbox.extend(batch)
        flow = self._flow
        # Flow.over() inlined: this runs for every read of a feed.
        received = flow.received_bytes + sum(map(len, batch))
        flow.received_bytes = received
        flow.received_messages += len(batch)
        if (
            len(inbox) > flow.high_messages
            or received - flow.handled_bytes - flow.dropped_bytes > flow.high_bytes
        ):
            self._io_backlog_full()
        if not self._inbox_posted:
            self._inbox_posted = True
            self._dispatcher.post(self._task_messages, self._inbox)

    def _io_room(self) -> int:
        return self._flow.room(self._inbox)

    def _io_backlog_full(self) -> None:
        """Past a high-water mark: drop the oldest (``drop_oldest``) or pause reading."""
        flow = self._flow
        if flow.drop_oldest:
            if flow.drop_from(self._inbox):
                now = time.monotonic()
                # One record a second at most: a dropping feed must not flush the transcript.
                if now - self._drop_recorded >= 1.0:
                    self._drop_recorded = now
                    self.transcript.event("drop", dropped=flow.dropped)
            return
        # Under Pyodide the browser reads every message as it comes: nothing can pause.
        if not flow.paused and self._io_connection is not None and not PYODIDE:
            flow.paused = True
            self._io_connection.pause_reading()

    def _io_resume(self) -> None:
        """The handlers caught up (see _task_messages): read again if still under low water."""
        flow = self._flow
        flow.resume_asked = False
        if flow.may_resume(self._inbox):
            flow.paused = False
            if self._io_connection is not None:
                self._io_connection.resume_reading()

    def _io_closing(self) -> None:
        self._dispatcher.post(self._task_closing, None)

    def _io_written(self, total: int) -> None:
        self._written_bytes = total
        # One sync task pending at a time. _task_sync clears the flag before it reads the
        # count, so a write that finds the flag still set is read by that task.
        if not self._sync_posted:
            self._sync_posted = True
            self._dispatcher.post_lazy(self._task_sync, None)

    def _io_closed(
        self, code: int, reason: str, was_clean: bool, error: BaseException | None
    ) -> None:
        if error is not None:
            message = self._redact(str(error)) or type(error).__name__
            self.transcript.event("error", message=message, error=type(error).__name__)
        self.transcript.event("close", code=code, reason=reason, wasClean=was_clean)
        self._io_connection = None
        attempt, delay = self._io_next_attempt()
        self._dispatcher.post(self._task_close, (code, reason, was_clean, error, not attempt))
        if not attempt:
            self._io_final = True
            return
        # Set before the record, so whoever reads the record finds the wait too.
        self._io_retry_at = time.time() + delay
        self.transcript.event("reconnect", attempt=attempt, delay=delay, code=code, reason=reason)
        self._dispatcher.post(self._task_reconnect, (attempt, delay, code, reason, was_clean))
        self._io_timer = io_thread().loop.call_later(delay, self._io_attempt_now)

    def _io_rtt(self, seconds: float) -> None:
        self._rtt = seconds

    def _io_control(self, kind: str, direction: str, size: int, rtt: float | None) -> None:
        if rtt is None:
            self.transcript.control(kind, direction=direction, size=size)
        else:
            self.transcript.control(kind, direction=direction, size=size, rtt=rtt)

    def _io_next_attempt(self) -> tuple[int, float]:
        """Return the next attempt and the wait before it, or (0, 0) when this close is final."""
        opened_at, self._io_opened_at = self._io_opened_at, None
        if io_thread().closing:
            return 0, 0.0
        if self._io_now:  # reconnect() asked for it
            self._io_now = False
            self._io_attempts = 1
            return 1, 0.0
        policy = self._policy
        if policy is None or self._reconnect_stopped:
            return 0, 0.0
        if opened_at is not None and time.monotonic() - opened_at >= policy.reset_after:
            self._io_attempts = 0
        if policy.gives_up(self._io_attempts):
            return 0, 0.0
        self._io_attempts += 1
        return self._io_attempts, policy.delay(self._io_attempts)

    def _io_attempt_now(self) -> None:
        """Start the next connection (the backoff wait is over, or was cut short)."""
        self._io_timer = self._io_retry_at = None
        if self._reconnect_stopped or io_thread().closing:
            return  # close() was called: its _io_stop reports the final close
        connection = new_connection(
            self._sink, self._parsed, self._protocols, self._options, self._redact
        )
        self._io_connection = connection
        # In the creator's context, as the first connection: its log lines land there too.
        self._context.copy().run(connection.start)

    def _io_stop(
        self, mode: str, connection: Connection | None, code: int | None, reason: str
    ) -> None:
        """Stop reconnecting: cancel the wait, close or fail the live connection.

        ``mode`` is ``"close"`` (the socket was OPEN on ``connection``), ``"fail"`` (it was
        CONNECTING) or ``"quiet"`` (its final close event already fired).
        """
        self._io_now = False
        if self._io_timer is not None:
            self._io_timer.cancel()
            self._io_timer = self._io_retry_at = None
        live = self._io_connection
        if live is not None:
            if mode == "close" and live is connection and live.is_open:
                live.close(code, reason)
            else:
                live.fail("close() was called before the connection was established")
        elif mode == "quiet":
            self._io_final = True
        elif not self._io_final:
            error = ConnectionFailedError("close() was called while waiting to reconnect")
            self._io_closed(1006, "", False, error)

    def _io_reconnect_now(self) -> None:
        """reconnect(): connect again at once, after closing whatever is live."""
        if io_thread().closing:
            return
        if self._io_timer is not None:
            self._io_timer.cancel()
            self._io_now = False
            self._io_attempt_now()
            return
        live = self._io_connection
        if live is not None:
            self._io_now = True  # _io_closed reconnects at once
            if live.is_open:
                live.close(1000, "reconnect")
            else:
                live.fail("reconnect() was called while connecting")
            return
        last = self.transcript.lifecycle.get("close") or {}
        code, reason = int(last.get("code", 1006)), str(last.get("reason", ""))
        self._io_final = False
        self._io_now = False
        self._io_attempts = 1
        self.transcript.event("reconnect", attempt=1, delay=0.0, code=code, reason=reason)
        self._dispatcher.post(
            self._task_reconnect, (1, 0.0, code, reason, bool(last.get("wasClean")))
        )
        self._io_attempt_now()

    # -- dispatcher side: the tasks that change state and fire events ---------------------

    def _task_sync(self, _: None) -> None:
        self._sync_posted = False
        self._written_seen = self._written_bytes

    def _task_open(self, args: tuple[str, str, dict[str, Any], Connection | None]) -> None:
        self._written_seen = self._written_bytes
        if self._ready_state != ReadyState.CONNECTING:
            return  # close() was called meanwhile; the failure's close task follows
        self._protocol, self._extensions, self._handshake, connection = args
        if connection is not None:
            self._connection = connection
        self._ready_state = ReadyState.OPEN
        event = Event("open")
        self._dispatch(event, True)
        # Set after the listeners ran: a waiter on another thread returns only then.
        self._opened = True
        if self._waiters:
            self._resolve("open", self)

    def _task_messages(self, inbox: deque[str | bytes]) -> None:
        """Dispatch the messages in ``inbox``, in order: one task per burst, not per message.

        As between tasks, a blocking wait on this thread (``wait_message()`` in a sync cell)
        stops the run as soon as its condition holds; the rest stays queued, first in line.
        Each connection of a socket that reconnects may get its own inbox (see _io_open).
        This runs for every message of a feed: what a call per message would do is inline.
        """
        dispatcher = self._dispatcher
        stop = dispatcher.stop
        flow = self._flow
        deadline = dispatcher.deadline
        origin = self._origin
        recent = self._recent
        dispatch = self._dispatch_message
        left = RUN_COUNT
        dispatcher.batch_started(self._task_messages, inbox)
        try:
            while True:
                now = _monotonic()
                while inbox:
                    data = inbox.popleft()
                    flow.handled_bytes += len(data)
                    self._written_seen = self._written_bytes
                    # Messages that arrive after close() are dropped, as in the browser.
                    if self._ready_state == _OPEN:
                        if data.__class__ is not str and self._binary_type == "blob":
                            data = Blob._wrap(data)  # type: ignore[arg-type, assignment]
                        try:
                            event = dispatch(data, origin, now)
                            # Kept after the listeners ran: a waiter on another thread
                            # returns only then.
                            if len(recent) >= _RECENT_COUNT:
                                self._recent_bytes -= len(recent.popleft()[1].data)
                            recent.append((self._dispatched, event))
                            self._dispatched += 1
                            self._recent_bytes += len(data)
                            if self._recent_bytes > _RECENT_BYTES:
                                self._trim_recent()
                            if self._waiters:
                                self._resolve("message", event)
                        except Exception as exc:
                            report_exception(exc)
                    if flow.paused and not flow.resume_asked and flow.may_resume(self._inbox):
                        flow.resume_asked = True
                        io_thread().call(self._io_resume)
                    if not inbox:
                        break
                    # The turn is bounded (see Dispatcher.deadline): the rest runs after the
                    # loop's other callbacks had theirs, first in line.
                    left -= 1
                    now = _monotonic()
                    if left <= 0 or now >= deadline:
                        dispatcher.end_turn()
                        dispatcher.requeue(self._task_messages, inbox)
                        return
                    if stop is not None and stop():
                        dispatcher.requeue(self._task_messages, inbox)
                        return
                if inbox is not self._inbox:
                    return  # an earlier connection's inbox, now empty for good
                # Cleared, then checked again: a message posted in between saw the flag
                # still set and posted no task.
                self._inbox_posted = False
                if not inbox or self._inbox_posted:
                    return
                self._inbox_posted = True
        except BaseException:
            if inbox:  # KeyboardInterrupt in a handler: the rest must not be stranded
                dispatcher.requeue(self._task_messages, inbox)
            raise
        finally:
            dispatcher.batch_ended()

    def _trim_recent(self) -> None:
        """Keep the recent messages under _RECENT_BYTES (the newest one stays)."""
        recent = self._recent
        while self._recent_bytes > _RECENT_BYTES and len(recent) > 1:
            self._recent_bytes -= len(recent.popleft()[1].data)

    def _task_closing(self, _: None) -> None:
        self._written_seen = self._written_bytes
        if self._ready_state == _OPEN:
            self._ready_state = ReadyState.CLOSING

    def _task_close(self, args: tuple[int, str, bool, BaseException | None, bool]) -> None:
        code, reason, was_clean, error, final = args
        if self._close_event is not None:
            return  # close() already made an earlier close the last one (see _io_stop)
        self._written_seen = self._written_bytes
        self._ready_state = ReadyState.CLOSED
        final = final or self._reconnect_stopped
        if final:
            with _registry_lock:
                _open_sockets.discard(self)
        else:
            self._opened = False  # a wait for open now waits for the next connection
        self._error = error
        if error is not None:
            error_event = Event("error")
            error_event.cause = error
            self._dispatch(error_event, True)
        event = CloseEvent("close", wasClean=was_clean, code=code, reason=reason)
        self._last_close = event
        if final:
            self._close_event = event
        self._dispatch(event, True)
        if final or self._reconnect_stopped:  # a listener may have called close()
            self._finish(event)

    def _finish(self, event: CloseEvent) -> None:
        """Make ``event`` the socket's last close: unregister it, end the waits on it."""
        self._close_event = event
        with _registry_lock:
            _open_sockets.discard(self)
        self._resolve("close", event)

    def _task_reconnect(self, args: tuple[int, float, int, str, bool]) -> None:
        attempt, delay, code, reason, was_clean = args
        if self._reconnect_stopped:
            return
        if self._close_event is not None:
            if not self._revive:
                return
            # reconnect() was called before the final close it follows was dispatched.
            self._close_event = None
            with _registry_lock:
                _open_sockets.add(self)
        self._revive = False
        self._ready_state = ReadyState.CONNECTING
        # What the previous connection left unwritten is gone with it.
        self._queued_bytes = self._written_bytes = self._written_seen = 0
        self._attempt = attempt
        event = ReconnectEvent(
            "reconnect", attempt=attempt, delay=delay, code=code, reason=reason, wasClean=was_clean
        )
        self._dispatch(event, True)

    # -- waiting ------------------------------------------------------------------------

    def _resolve(self, kind: str, value: Any) -> None:
        """Resolve the waiters for ``kind``; on close, fail the ones that can no longer succeed."""
        with self._waiters_lock:
            self._resolve_locked(kind, value)

    def _resolve_locked(self, kind: str, value: Any) -> None:
        remaining = []
        for waiter in self._waiters:
            if kind == "close" and waiter.kind != "close":
                if waiter.buffer is not None:
                    waiter.resolve()  # a message stream simply ends
                else:
                    waiter.resolve(error=self._closed_error(value, f"waiting for {waiter.kind}"))
            elif waiter.kind == kind:
                if waiter.buffer is not None:
                    waiter.feed((self._dispatched - 1, value))
                    remaining.append(waiter)
                else:
                    waiter.resolve(value)
                    if kind == "message":
                        self._cursor = self._dispatched
                        if waiter.asynchronous:
                            self._keep_cursor()
            else:
                remaining.append(waiter)
        self._waiters = remaining

    def _closed_error(self, event: CloseEvent, what: str) -> WebSocketClosedError:
        reason = f", reason {event.reason!r}" if event.reason else ""
        failure = self._error
        cause = ""
        if failure is not None:
            cause = f": {type(failure).__name__}: {escape_controls(self._redact(str(failure)))}"
        error = WebSocketClosedError(
            f"The socket closed (code {event.code}{reason}, wasClean={event.wasClean}) "
            f"while {what}{cause}",
            event,
            cause=failure,
        )
        return error

    def _keep_cursor(self) -> None:
        """Let the coroutine just woken by a message continue from the message after it.

        Its next ``await ws.next_message()`` runs a few loop iterations later (future
        callbacks, then the task's wake-up), after the rest of the burst was dispatched;
        without this it would skip those messages. A wait that starts later (a new cell)
        gets the next new message instead of a stale one.
        """
        loop = self._dispatcher.loop
        if loop is None:
            return
        self._cursor_generation += 1
        self._cursor_kept = True
        loop.call_soon(self._release_cursor, self._cursor_generation, 4)

    def _release_cursor(self, generation: int, hops: int) -> None:
        if generation != self._cursor_generation:
            return
        loop = self._dispatcher.loop
        if hops and loop is not None:
            loop.call_soon(self._release_cursor, generation, hops - 1)
        else:
            self._cursor_kept = False

    def _drop_waiter(self, waiter: Waiter) -> None:
        with self._waiters_lock:
            self._waiters = [w for w in self._waiters if w is not waiter]

    def _waiter(self, kind: str, *, stream: bool = False, asynchronous: bool = False) -> Waiter:
        waiter = Waiter(kind, stream=stream, asynchronous=asynchronous)
        with self._waiters_lock:
            self._register_locked(waiter, kind, stream)
        return waiter

    def _register_locked(self, waiter: Waiter, kind: str, stream: bool) -> None:
        # A listener of this very socket (own thread, readyState already OPEN) may wait too.
        opened = self._opened or (
            self._ready_state == ReadyState.OPEN and self._dispatcher.on_own_thread()
        )
        if kind == "open" and (opened or self._close_event is not None):
            if opened:
                waiter.resolve(self)
            else:
                assert self._close_event is not None
                waiter.resolve(error=self._closed_error(self._close_event, "waiting for open"))
        elif kind == "close" and self._close_event is not None:
            waiter.resolve(self._close_event)
        elif kind == "message" and stream:
            if self._cursor_kept or not self._dispatcher.on_own_thread():
                assert waiter.buffer is not None
                waiter.buffer.extend(item for item in list(self._recent) if item[0] >= self._cursor)
        elif kind == "message":
            if self._dispatcher.on_own_thread() and not self._cursor_kept:
                self._cursor = self._dispatched  # no race here: wait for the next one
            else:
                for index, event in list(self._recent):
                    if index >= self._cursor:
                        self._cursor = index + 1
                        waiter.resolve(event)
                        break
        if not waiter.done and kind == "message" and self._close_event is not None:
            if stream:
                waiter.resolve()
            else:
                waiter.resolve(error=self._closed_error(self._close_event, "waiting for a message"))
        if not waiter.done:
            self._waiters.append(waiter)

    def _wait_sync(self, kind: str, timeout: float | None) -> object:
        check_blocking(f"ws.wait_{'closed' if kind == 'close' else kind}()", _AWAIT_FORMS[kind])
        waiter = self._waiter(kind)
        if not self._dispatcher.wait_until(lambda: waiter.done, timeout):
            self._drop_waiter(waiter)
            raise TimeoutError(
                f"no {kind} event within {timeout} s (readyState is {self._ready_state.name})"
            )
        if waiter.error is not None:
            raise waiter.error
        return waiter.result

    async def _wait_async(self, kind: str, timeout: float | None) -> object:
        waiter = self._waiter(kind, asynchronous=True)
        try:
            await waiter.wait_async(timeout)
        except TimeoutError:
            raise TimeoutError(
                f"no {kind} event within {timeout} s (readyState is {self._ready_state.name})"
            ) from None
        finally:
            if not waiter.done:
                self._drop_waiter(waiter)
        if waiter.error is not None:
            raise waiter.error
        return waiter.result

    def wait_open(self, timeout: float | None = 30.0) -> WebSocket:
        """Block until the socket is OPEN and return it; handlers run meanwhile.

        Raises [`WebSocketClosedError`][ipyws.WebSocketClosedError] if it closes first,
        ``TimeoutError`` after ``timeout`` seconds.
        """
        return _expect(WebSocket, self._wait_sync("open", timeout))

    def wait_message(self, timeout: float | None = 30.0) -> MessageEvent:
        """Block until the next message event and return it; handlers run meanwhile."""
        return _expect(MessageEvent, self._wait_sync("message", timeout))

    def wait_closed(self, timeout: float | None = 30.0) -> CloseEvent:
        """Block until the socket is CLOSED and return its CloseEvent; handlers run meanwhile."""
        return _expect(CloseEvent, self._wait_sync("close", timeout))

    async def _wait_for(self, expected: type[_T], kind: str, timeout: float | None) -> _T:
        return _expect(expected, await self._wait_async(kind, timeout))

    @property
    def opened(self) -> Coroutine[Any, Any, WebSocket]:
        """An awaitable: ``await ws.opened`` returns the socket once it is OPEN."""
        return self._wait_for(WebSocket, "open", None)

    @property
    def closed(self) -> Coroutine[Any, Any, CloseEvent]:
        """An awaitable: ``await ws.closed`` returns the CloseEvent once the socket is CLOSED."""
        return self._wait_for(CloseEvent, "close", None)

    async def next_message(self, timeout: float | None = None) -> MessageEvent:
        """Wait for the next message event and return it."""
        return await self._wait_for(MessageEvent, "message", timeout)

    async def __aiter__(self) -> AsyncIterator[MessageEvent]:
        """Iterate over the message events, none skipped, until the socket closes.

        Iteration starts with the next new message, or right after the message an
        ``await ws.next_message()`` just returned (so the two combine without gaps).
        """
        waiter = self._waiter("message", stream=True, asynchronous=True)
        buffer = waiter.buffer
        assert buffer is not None
        try:
            while True:
                while buffer:
                    index, event = buffer.popleft()
                    self._cursor = index + 1
                    yield event
                if waiter.done:
                    return
                await waiter.wait_async(None)
        finally:
            self._drop_waiter(waiter)
            self._keep_cursor()

    # -- extras -------------------------------------------------------------------------

    @property
    def handshake(self) -> dict[str, Any]:
        """The opening handshake once open: ``{"request": {...}, "response": {...}}`` headers."""
        return self._handshake

    @property
    def stats(self) -> SocketStats:
        """Non-standard: a read-only snapshot of the traffic counters, rates and options.

        Read on any thread, at any time: the numbers move while a cell runs (the panel and
        ``%ws list`` show the same ones). See [`SocketStats`][ipyws.SocketStats].
        """
        transcript = self.transcript
        rate_in, byte_rate_in, rate_out, byte_rate_out = transcript.rates()
        options = {
            field.name: getattr(self._options, field.name)
            for field in dataclasses.fields(self._options)
            if field.name != "extra"
        }
        flow = self._flow
        options.update(
            log_size=transcript.maxlen,
            reconnect=self._policy,
            max_backlog=flow.max_messages,
            max_backlog_bytes=flow.max_bytes,
            drop_oldest=flow.drop_oldest,
        )
        backlog = flow.snapshot(self._inbox)
        return SocketStats(
            messages_in=transcript.messages_in,
            messages_out=transcript.messages_out,
            bytes_in=transcript.bytes_in,
            bytes_out=transcript.bytes_out,
            rate_in=rate_in,
            rate_out=rate_out,
            byte_rate_in=byte_rate_in,
            byte_rate_out=byte_rate_out,
            buffered_amount=max(0, self._queued_bytes - self._written_bytes),
            reconnects=transcript.reconnects,
            backlog=backlog.messages,
            backlog_bytes=backlog.bytes,
            paused=backlog.paused,
            dropped=backlog.dropped,
            next_attempt=self._io_retry_at,
            created=transcript.created,
            engine=self._connection.engine,
            options=types.MappingProxyType(options),
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """Return the live panel's widget view (in a kernel) plus text and HTML snapshots."""
        return mimebundle(self, include, exclude)

    def __repr__(self) -> str:
        state = self._ready_state.name
        extra = ""
        if self._close_event is not None:
            extra = f" code={self._close_event.code}"
        return f"<WebSocket {self._shown_url} {state}{extra}>"
