"""Exceptions raised by :class:`ipyws.WebSocket`, named as the browser names them.

The WebSocket standard throws ``DOMException`` objects whose ``name`` tells what went wrong.
ipyws raises instances of :class:`DOMException` subclasses that also derive from the builtin
that fits the meaning, so both spellings catch them::

    DOMException
    ├── DOMSyntaxError       (also ValueError)    name "SyntaxError"
    ├── InvalidAccessError   (also ValueError)    name "InvalidAccessError"
    └── InvalidStateError    (also RuntimeError)  name "InvalidStateError"

Only the constructor, ``send`` and ``close`` raise. Every failure that happens later (DNS,
refused connection, TLS, handshake, protocol errors) becomes an ``error`` event followed by a
``close`` event, as in the browser.
"""

from __future__ import annotations

__all__ = ["DOMException", "DOMSyntaxError", "InvalidAccessError", "InvalidStateError"]

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
        """The legacy DOM error code for :attr:`name` (0 when the name has none)."""
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
