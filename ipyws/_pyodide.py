"""The transport under Pyodide (JupyterLite): the browser's own ``WebSocket`` on the page's loop.

Pyodide has no threads and no raw sockets, but the page (or the kernel's Web Worker) has a
WebSocket that does the handshake, framing, compression and close codes itself. This
module drives ``js.WebSocket`` behind the same ``ipyws._transport.Sink`` calls the
CPython transport makes, so the spec object, events, transcript, magics and panel are the
ones CPython runs. What stands in for the I/O thread is the event loop Pyodide runs
everything on (``EventLoopIO``); URLs are parsed by the platform's own ``URL``.

Options the browser cannot honour raise ``ValueError`` naming the option and why
(``check_options``); the blocking helpers raise and point to their ``await`` form.
Only Pyodide can import ``js`` and ``pyodide.ffi``: they are imported where they are used.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._text import Redactor
from .exceptions import ConnectionFailedError

if TYPE_CHECKING:
    import concurrent.futures

    from ._options import Options
    from ._transport import Sink
    from ._url import WebSocketURL

__all__ = [
    "URL",
    "Connection",
    "EventLoopIO",
    "check_blocking",
    "check_options",
    "io_thread",
]

logger = logging.getLogger("ipyws")

# How often bufferedAmount is read back from the JavaScript object while it is not zero.
_WRITTEN_POLL = 0.05

_CONNECTING, _OPEN = 0, 1  # the JavaScript WebSocket's readyState values


def _member(name: str) -> property:
    def get(self: URL) -> str:
        return str(getattr(self._url, name))

    def set(self: URL, value: str) -> None:
        setattr(self._url, name, value)

    return property(get, set, doc=f"The URL's ``{name}``, as the platform serializes it.")


class URL:
    """The platform's WHATWG ``URL``, with the members of ada-url's that ``_url`` reads."""

    def __init__(self, url: str) -> None:
        import js
        from pyodide.ffi import JsException

        try:
            self._url = js.URL.new(url)
        except JsException as exc:
            raise ValueError(str(exc)) from None

    href = _member("href")
    protocol = _member("protocol")
    username = _member("username")
    password = _member("password")
    hostname = _member("hostname")
    port = _member("port")
    hash = _member("hash")
    origin = _member("origin")


class EventLoopIO:
    """What stands in for the I/O thread: Pyodide's one event loop, where JavaScript calls in.

    It offers the members of ``ipyws._transport.IOThread`` the socket and the panel
    use; there is no other thread, so ``call`` simply schedules on the loop.
    """

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop = asyncio.get_event_loop()
        self.connections: set[Connection] = set()
        #: Never set: the page going away takes the browser's connections with it.
        self.closing = False

    def call(self, fn: Callable[..., object], *args: Any) -> None:
        """Run ``fn(*args)`` on the loop soon, after earlier calls, in an empty context."""
        self.loop.call_soon(fn, *args, context=contextvars.Context())

    def on_idle(self, hook: Callable[[], float | None]) -> bool:
        """Return False: the loop is JavaScript's, with no moment before it waits to hook."""
        return False


_io: EventLoopIO | None = None


def io_thread() -> EventLoopIO:
    """Return the one ``EventLoopIO`` (named like the CPython transport's function)."""
    global _io
    if _io is None:
        _io = EventLoopIO()
    return _io


# -- options --------------------------------------------------------------------------------


def _refusals(options: Options, defaults: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Return ``(option, why)`` for each option given that the browser cannot honour."""
    refused = []
    if options.headers:
        refused.append(
            (
                "headers",
                "the browser's WebSocket sends only the handshake headers it makes itself; "
                "pass a token in the URL's query string or as a subprotocol instead",
            )
        )
    if options.origin is not None:
        refused.append(("origin", "the browser always sends the page's own Origin"))
    if options.ssl is not None and options.ssl is not True:
        refused.append(
            (
                "ssl",
                "the browser checks certificates against its own trust store; make it trust "
                "the server's certificate instead",
            )
        )
    if options.proxy is not True:
        refused.append(("proxy", "the browser connects through its own proxy settings"))
    if options.proxy_ssl is not None:
        refused.append(("proxy_ssl", "the browser connects through its own proxy settings"))
    if not options.compression:
        refused.append(("compression", "the browser always offers permessage-deflate"))
    if options.max_size not in (defaults["max_size"], None):
        refused.append(("max_size", "the browser sets no limit on incoming messages"))
    for name in ("ping_interval", "ping_timeout"):
        if getattr(options, name) not in (defaults[name], None):
            refused.append((name, "the browser sends no keepalive pings (it answers the server's)"))
    if options.user_agent != defaults["user_agent"]:
        refused.append(("user_agent", "the browser sends its own User-Agent header"))
    if options.log_pings:
        refused.append(("log_pings", "the browser does not show Ping and Pong frames to pages"))
    if options.engine is not None:
        refused.append(("engine", "the browser's own WebSocket carries every connection"))
    return refused


def check_options(options: Options, defaults: Mapping[str, Any]) -> None:
    """Raise ValueError if an option cannot be honoured by the browser's WebSocket.

    Defaults never raise: ``max_size``, ``ping_interval``, ``ping_timeout``, ``user_agent``
    and ``close_timeout`` left as they are are ignored (the browser applies its own).
    """
    refused = _refusals(options, defaults)
    if refused:
        lines = "; ".join(f"{name}: {why}" for name, why in refused)
        names = ", ".join(name for name, _ in refused)
        raise ValueError(
            f"ipyws under Pyodide cannot honour the option(s) {names}: {lines}. "
            "Remove them; see 'ipyws in JupyterLite' in the docs."
        )


def check_blocking(helper: str, await_form: str) -> None:
    """Raise RuntimeError: nothing may block Pyodide's one thread, events would never come."""
    raise RuntimeError(
        f"{helper} cannot block under Pyodide (JupyterLite): the browser delivers events only "
        f"while your code waits with await. Use `{await_form}` instead."
    )


# -- the connection -------------------------------------------------------------------------


class Connection:
    """One connection over ``js.WebSocket``; its methods run on Pyodide's only thread."""

    #: What carries the connection (``ws.stats.engine``): the browser's own WebSocket.
    engine = "browser"

    def __init__(
        self,
        sink: Sink,
        url: WebSocketURL,
        protocols: list[str],
        options: Options,
        redact: Redactor | None = None,
    ) -> None:
        self._sink: Sink | None = sink
        self._redact = redact or Redactor()  # what the platform says may quote the URL
        self._url = url
        self._protocols = protocols
        self._options = options
        self._io = io_thread()
        self._js: Any = None  # the JavaScript WebSocket
        self._listeners: list[tuple[str, Any]] = []  # (event type, proxy) to remove at the end
        self._sent = 0  # bytes handed to the JavaScript send()
        self._written = 0  # bytes reported written
        self._polling = False
        self._errored = False
        self._failure: BaseException | None = None
        self._open_timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Create the JavaScript WebSocket: the browser starts connecting.

        Its events arrive only once the running cell (or task) yields to the loop, as in a
        page; a constructor that throws (a mixed-content ``SecurityError``) becomes error
        and close 1006, reported from the loop.
        """
        import js
        from pyodide.ffi import JsException, create_proxy, to_js

        try:
            if self._protocols:
                self._js = js.WebSocket.new(self._url.href, to_js(self._protocols))
            else:
                self._js = js.WebSocket.new(self._url.href)
        except JsException as exc:
            failure = ConnectionFailedError(
                f"the browser refused to connect: {self._redact(str(exc))}"
            )
            self._io.call(self._report_closed, 1006, "", False, failure)
            return
        self._js.binaryType = "arraybuffer"  # the socket makes Blob or bytes (binaryType)
        for kind, handler in (
            ("open", self._on_open),
            ("message", self._on_message),
            ("error", self._on_error),
            ("close", self._on_close),
        ):
            proxy = create_proxy(handler)
            self._js.addEventListener(kind, proxy)
            self._listeners.append((kind, proxy))
        self._io.connections.add(self)
        timeout = self._options.open_timeout
        if timeout is not None:
            self._open_timer = self._io.loop.call_later(
                timeout,
                self._abort,
                TimeoutError(f"the opening handshake took longer than open_timeout={timeout} s"),
            )

    # -- called by the socket -----------------------------------------------------------

    def send(self, payload: bytes, text: bool) -> None:
        """Hand one message to the browser, which queues it after the ones before."""
        ws = self._js
        if ws is None or ws.readyState != _OPEN:
            return
        if text:
            ws.send(payload.decode("utf-8"))
        else:
            from pyodide.ffi import to_js

            ws.send(to_js(payload))
        self._sent += len(payload)
        self._poll_written()

    def close(self, code: int | None, reason: str) -> None:
        """Start the closing handshake (the browser sends what it still buffers first)."""
        ws = self._js
        if ws is None:
            return
        if code is None:
            ws.close()
        else:
            ws.close(code, reason)

    def fail(self, reason: str) -> None:
        """Fail the connection: error, then close 1006."""
        self._abort(ConnectionFailedError(reason))

    def ping(self) -> concurrent.futures.Future[float]:
        """Raise NotImplementedError: a page cannot send a Ping frame."""
        raise NotImplementedError(
            "ping: the browser's WebSocket cannot send a Ping frame (it only answers the "
            "server's), so ipyws under Pyodide measures no round trip"
        )

    def pause_reading(self) -> None:
        """Do nothing: the browser's WebSocket reads every message as it arrives."""

    def resume_reading(self) -> None:
        """Do nothing (see ``pause_reading``)."""

    @property
    def is_open(self) -> bool:
        """Tell whether the connection is open."""
        return self._sink is not None and self._js is not None and self._js.readyState == _OPEN

    # -- the browser's events -----------------------------------------------------------

    def _on_open(self, event: Any) -> None:
        self._cancel_open_timer()
        sink = self._sink
        if sink is None:
            return
        import js

        ws = self._js
        target = js.URL.new(self._url.href)
        path = str(target.pathname) + str(target.search)
        handshake = {
            # The browser shows a page neither its request's nor the response's headers.
            "request": {"path": path, "headers": []},
            "response": {"status": 101, "reason": "Switching Protocols", "headers": []},
        }
        sink.opened(str(ws.protocol), str(ws.extensions), handshake)

    def _on_message(self, event: Any) -> None:
        sink = self._sink
        if sink is None:
            return
        data = event.data
        if not isinstance(data, str):
            data = data.to_bytes()  # an ArrayBuffer (binaryType is always "arraybuffer")
        sink.message(data)

    def _on_error(self, event: Any) -> None:
        self._errored = True
        if self._js.readyState == _CONNECTING:
            # A browser is CLOSED by now and fires close next; Node's WebSocket (undici)
            # fires no close event for a handshake that failed: report it here.
            detail = getattr(event, "message", None)
            self._report_closed(1006, "", False, self._failed(str(detail) if detail else ""))

    def _on_close(self, event: Any) -> None:
        error = self._failed("") if self._errored else None
        self._report_written()
        code = int(event.code)
        self._report_closed(code, str(event.reason), bool(event.wasClean), error)

    # -- internals ------------------------------------------------------------------------

    def _failed(self, detail: str) -> BaseException:
        """The cause of an error event: why ipyws failed it, or what the platform said."""
        if self._failure is not None:
            return self._failure
        return ConnectionFailedError(
            "the browser failed the connection"
            + (
                f": {self._redact(detail)}"
                if detail
                else " (browsers tell pages no reason; see the console)"
            )
        )

    def _abort(self, failure: BaseException) -> None:
        """Close at once and report error + close 1006, whatever the browser reports later."""
        self._cancel_open_timer()
        if self._sink is None:
            return
        self._failure = failure
        if self._js is not None:
            self._js.close()  # whatever the platform reports after this is not listened to
        self._report_closed(1006, "", False, failure)

    def _cancel_open_timer(self) -> None:
        if self._open_timer is not None:
            self._open_timer.cancel()
            self._open_timer = None

    def _poll_written(self) -> None:
        if not self._polling:
            self._polling = True
            self._io.loop.call_later(0, self._check_written)

    def _check_written(self) -> None:
        self._polling = False
        if self._sink is None:
            return
        if self._report_written():
            self._polling = True
            self._io.loop.call_later(_WRITTEN_POLL, self._check_written)

    def _report_written(self) -> int:
        """Report the bytes the browser no longer buffers; return what it still buffers."""
        ws, sink = self._js, self._sink
        if ws is None or sink is None:
            return 0
        buffered = int(ws.bufferedAmount)
        written = self._sent - buffered
        if written != self._written:
            self._written = written
            sink.written(written)
        return buffered

    def _report_closed(
        self, code: int, reason: str, was_clean: bool, error: BaseException | None
    ) -> None:
        self._cancel_open_timer()
        self._io.connections.discard(self)
        ws = self._js
        if ws is not None:
            for kind, proxy in self._listeners:
                ws.removeEventListener(kind, proxy)
                # Destroyed once the event that may be calling it has returned.
                self._io.call(proxy.destroy)
            self._listeners.clear()
        sink, self._sink = self._sink, None
        if sink is not None:
            sink.closed(code, reason, was_clean, error)
