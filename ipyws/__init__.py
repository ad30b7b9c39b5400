"""ipyws: the browser's WebSocket object in a Python kernel, with magics and a live panel."""

from __future__ import annotations

from collections.abc import Collection as _Collection
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from . import _display
from ._blob import Blob
from ._events import CloseEvent, Event, EventTarget, MessageEvent, ReconnectEvent
from ._flow import Backlog
from ._reconnect import Reconnect
from ._stats import SocketStats
from ._transcript import Transcript, load_jsonl
from ._version import __version__
from ._websocket import ReadyState, WebSocket, sockets
from .exceptions import (
    ConnectionFailedError,
    DOMException,
    DOMSyntaxError,
    HandshakeError,
    InvalidAccessError,
    InvalidStateError,
    ProxyError,
    WebSocketClosedError,
)

if _TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell


def _panel_display(
    socket: WebSocket, include: _Collection[str] | None, exclude: _Collection[str] | None
) -> dict[str, _Any]:
    """Display a socket as its live panel (imported on first display: widgets are heavy)."""
    from .widgets import mimebundle

    return mimebundle(socket, include, exclude)


_display.register(_panel_display)


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """Register the ``%ws`` and ``%%ws`` magics: ``%load_ext ipyws``."""
    from ._magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: InteractiveShell) -> None:
    """Close the sockets the magics opened, stop their demo servers, remove the magics."""
    from ._magics import unload_ipython_extension as unload

    unload(ipython)


__all__ = [
    "Backlog",
    "Blob",
    "CloseEvent",
    "ConnectionFailedError",
    "DOMException",
    "DOMSyntaxError",
    "Event",
    "EventTarget",
    "HandshakeError",
    "InvalidAccessError",
    "InvalidStateError",
    "MessageEvent",
    "ProxyError",
    "ReadyState",
    "Reconnect",
    "ReconnectEvent",
    "SocketStats",
    "Transcript",
    "WebSocket",
    "WebSocketClosedError",
    "__version__",
    "load_ipython_extension",
    "load_jsonl",
    "sockets",
    "unload_ipython_extension",
]
