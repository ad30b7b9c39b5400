"""Every exception ipyws defines, in one tree: what the browser throws, and what waits raise.

The WebSocket standard throws ``DOMException`` objects whose ``name`` tells what went wrong.
ipyws raises instances of [`DOMException`][ipyws.DOMException] subclasses that also derive from
the builtin that fits the meaning, so both spellings catch them. The rest are connection errors::

    DOMException                                   raised by the constructor, send, close
    ├── DOMSyntaxError       (also ValueError)     name "SyntaxError"
    ├── InvalidAccessError   (also ValueError)     name "InvalidAccessError"
    └── InvalidStateError    (also RuntimeError)   name "InvalidStateError"
    ConnectionError (builtin)
    ├── WebSocketClosedError                       raised by wait_*() and the awaitables
    ├── HandshakeError                             an error event's cause
    ├── ConnectionFailedError                      an error event's cause
    └── ProxyError                                 an error event's cause

Only the constructor, ``send`` and ``close`` raise a ``DOMException``. Every failure that
happens later (DNS, refused connection, TLS, handshake, protocol errors) becomes an ``error``
event followed by a ``close`` event, as in the browser; the ``error`` event's non-standard
``cause`` holds the exception (one of the three below, or the engine's or the OS's own). The
waiting helpers (``wait_open()``, ``await ws.opened``, ...) raise
[`WebSocketClosedError`][ipyws.WebSocketClosedError] when the socket closes before what they
wait for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._events import CloseEvent

__all__ = [
    "ConnectionFailedError",
    "DOMException",
    "DOMSyntaxError",
    "HandshakeError",
    "InvalidAccessError",
    "InvalidStateError",
    "ProxyError",
    "WebSocketClosedError",
]

# Legacy numeric codes from the DOM standard's error-name table; scripts still test them.
_LEGACY_CODES = {
    "SyntaxError": 12,
    "InvalidStateError": 11,
    "InvalidAccessError": 15,
}


class DOMException(Exception):  # noqa: N818 - the DOM's own name
    """An error the WebSocket standard throws, identified by its DOM ``name``."""

    name: str = "Error"

    def __init__(self, message: str = "", name: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if name is not None:
            self.name = name

    @property
    def code(self) -> int:
        """The legacy DOM error code for ``name`` (0 when the name has none)."""
        return _LEGACY_CODES.get(self.name, 0)

    def __str__(self) -> str:
        return f"{self.name}: {self.message}" if self.message else self.name


class DOMSyntaxError(DOMException, ValueError):
    """A ``SyntaxError`` DOMException: a URL, protocol or close reason is malformed."""

    name = "SyntaxError"


class InvalidAccessError(DOMException, ValueError):
    """An ``InvalidAccessError`` DOMException: a close code the caller may not use."""

    name = "InvalidAccessError"


class InvalidStateError(DOMException, RuntimeError):
    """An ``InvalidStateError`` DOMException: the socket is not in a state for this call."""

    name = "InvalidStateError"


class WebSocketClosedError(ConnectionError):
    """The socket closed before what was awaited happened; ``event`` is its CloseEvent.

    Its message ends with the cause in one line; ``cause`` keeps the exception itself (the
    ``error`` event's cause). It is not chained as ``__cause__``, so a traceback shows the
    short form instead of the I/O thread's internals.
    """

    def __init__(self, message: str, event: CloseEvent, cause: BaseException | None = None) -> None:
        super().__init__(message)
        #: The socket's close event.
        self.event = event
        #: Why the connection failed, if it failed (the ``error`` event's ``cause``), or None.
        self.cause = cause

    def __reduce__(
        self,
    ) -> tuple[type[WebSocketClosedError], tuple[str, CloseEvent, BaseException | None]]:
        return type(self), (str(self), self.event, self.cause)


class HandshakeError(ConnectionError):
    """The server's handshake response broke a rule the browser enforces."""


class ConnectionFailedError(ConnectionError):
    """The connection was failed on purpose (``close()`` while connecting, shutdown)."""


class ProxyError(ConnectionError):
    """A connection through a proxy failed: the message names the proxy, ``__cause__`` is why."""
