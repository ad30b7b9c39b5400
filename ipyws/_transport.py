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
import ipaddress
import logging
import selectors
import ssl as ssl_module
import sys
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from websockets.frames import Close, CloseCode
from websockets.proxy import get_proxy
from websockets.uri import parse_uri

from ._options import DEFAULT_MAX_SIZE, DEFAULT_USER_AGENT, Options
from ._text import MASK, SECRET_HEADERS, Redactor
from ._url import WebSocketURL
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


class Sink(Protocol):
    """What a connection reports to its socket; every call happens on the I/O thread."""

    def opened(self, protocol: str, extensions: str, handshake: dict[str, Any]) -> None:
        """The opening handshake completed: the subprotocol, extensions and headers."""

    def message(self, data: str | bytes) -> None:
        """A whole message arrived (text as str, binary as bytes)."""

    def messages(self, batch: list[str | bytes]) -> None:
        """Whole messages arrived in one read, in order: as many ``message`` calls, in one."""

    def room(self) -> int:
        """About how many payload bytes may arrive before the socket's backlog is full."""

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


logger = logging.getLogger("ipyws")

_CLOSE = object()  # outbox marker: start the closing handshake after everything queued before


class Connection:
    """One WebSocket connection on the I/O thread; its methods may be called from any thread.

    The engine-independent part: the outbox, ``close_timeout``, the close report. Each
    protocol engine is a subclass (``_engine_websockets``, ``_engine_picows``) that does
    the handshake, framing, pings and closing; ``ipyws._engines`` picks one per socket.
    """

    #: The protocol engine carrying the connection (see ``ipyws._engines``).
    engine = ""

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
        self._io = io_thread()
        self._written = 0
        self._close_args: tuple[int | None, str] | None = None
        self._fail_reason: str | None = None
        self._task: asyncio.Task[None] | None = None
        #: Whether unfragmented messages reach the socket straight from the engine's parser.
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
        raise NotImplementedError

    def resume_reading(self) -> None:
        """Read from the network again after ``pause_reading()``; on the I/O thread."""
        raise NotImplementedError

    def _reading_paused(self) -> bool:
        return self._paused and not self._closing

    @property
    def is_open(self) -> bool:
        """Tell whether the connection is open (read on the I/O thread)."""
        return self._connected and self._sink is not None

    @property
    def _connected(self) -> bool:
        """Whether the opening handshake completed (the connection may have closed since)."""
        raise NotImplementedError

    # -- on the I/O thread ----------------------------------------------------------------

    def _start(self) -> None:
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

    def _fail(self, reason: str) -> None:
        if self._fail_reason is not None:
            return
        self._fail_reason = reason
        self._abort()

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

    def _reading_failed(self, exc: Exception) -> None:
        """Fail the connection over a failure inside ipyws itself, once.

        Rather than leave it open with nobody reading: the close outcome reports it as
        error + close 1006.
        """
        if self._fail_reason is not None:
            return
        logger.error("ipyws stopped reading %s", self._url.shown, exc_info=exc)
        self._fail_reason = self._redact(f"ipyws failed while reading: {exc!r}")
        self._abort()

    def _report_closed(
        self, code: int, reason: str, was_clean: bool, error: BaseException | None
    ) -> None:
        """Report the end of the connection to the socket, once."""
        # What was queued to send is released here: bufferedAmount keeps its number only.
        self._outbox.clear()
        sink, self._sink = self._sink, None
        if sink is not None:
            sink.closed(int(code), reason, was_clean, error)

    def _report_written(self, written: int) -> None:
        """Tell the socket how many bytes have been written in all, if that changed."""
        if written != self._written:
            self._written = written
            sink = self._sink
            if sink is not None:
                sink.written(written)

    def _shutdown(self) -> None:
        """Close with 1001 Going Away, as a browser does when the page goes away."""
        if not self._connected:
            self._fail("the interpreter is shutting down")
        else:
            self.close(CloseCode.GOING_AWAY, "")

    # -- what each engine does (on the I/O thread) ---------------------------------------------

    def _wake_writer(self) -> None:
        """Write what ``send()`` and ``close()`` queued, or have it written soon."""
        raise NotImplementedError

    def _ping(self, future: concurrent.futures.Future[float]) -> None:
        """Send a Ping; set ``future`` to its round trip, or fail it (see ``ping()``)."""
        raise NotImplementedError

    def _abort(self) -> None:
        """Drop the TCP connection (or stop connecting) at once, whatever is queued."""
        raise NotImplementedError

    def _close_requested(self) -> None:
        """close() was called: bound the handshake, and stop handing messages on."""
        raise NotImplementedError

    async def _run(self) -> None:
        """Connect, report the open, the messages and the close to the sink."""
        raise NotImplementedError


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
            # A deadline, not asyncio.timeout(): what is still open then is aborted, not failed.
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
